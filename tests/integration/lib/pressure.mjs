// Helpers for tests (and bench/soak) that put a node under pressure: its
// resident memory from /proc, a kafkajs producer of request records (no
// process per batch, so that records can flow fast), and a witness: a
// well-behaved socket.io-client that keeps receiving probe events and
// measures how long each took from the produce call to its arrival.
import fs from "node:fs";
import { Kafka, Partitioners, logLevel } from "kafkajs";
import { connect, token, waitFor, sleep } from "./fixtures.mjs";
import { agentFrom } from "./cluster.mjs";
import { encode, loadType } from "./avro.mjs";

// VmRSS of a process, in KiB (NaN once it is gone).
export function rssKb(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
  } catch {
    return NaN;
  }
}

// Samples a process's RSS every everyMs until stop(), which resolves with
// {base, peak, last, samples} (KiB; base is the first sample).
export function sampleRss(pid, everyMs = 200) {
  const samples = [{ t: Date.now(), kb: rssKb(pid) }];
  const timer = setInterval(() => samples.push({ t: Date.now(), kb: rssKb(pid) }), everyMs);
  return {
    samples,
    stop() {
      clearInterval(timer);
      samples.push({ t: Date.now(), kb: rssKb(pid) });
      const kbs = samples.map((s) => s.kb).filter((k) => !Number.isNaN(k));
      return { base: kbs[0], peak: Math.max(...kbs), last: kbs.at(-1), samples };
    },
  };
}

const REQUEST = loadType("request_mutation.avsc");
let seq = 0;

// A RequestMutation record of program; its title pads it to about
// titleBytes. The eventId is unique in this process (tag names the test).
export function requestRecord(program, { tag = "p", titleBytes = 8 } = {}) {
  return {
    event_id: `${tag}-${++seq}-${process.pid}`, occurred_at: Date.now(),
    performed_by: { user_id: "u0", name: null }, action: "CREATED", program_id: program,
    request_id: `r${seq}`, title: "t".repeat(titleBytes), changed_fields: null, from_status: null,
    to_status: null, assignee_id: null, previous_assignee_id: null,
  };
}

// A connected kafkajs producer: send(records) writes RequestMutations (bare
// Avro) to requests.mutations and resolves once the broker acknowledged
// them. Records are keyed by program, so a program's events keep their
// order (one partition), as an application's would.
export async function startProducer(bootstrap) {
  const kafka = new Kafka({ clientId: "roomcast-pressure", brokers: bootstrap.split(","), logLevel: logLevel.NOTHING,
    retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 2000 } });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  return {
    send: (records) => producer.send({ topic: "requests.mutations",
      messages: records.map((r) => ({ key: r.program_id, value: encode(REQUEST, r, "bare") })) }),
    stop: () => producer.disconnect(),
  };
}

// The eventIds of program's request:created events a socket received.
export const receivedIds = (socket, program) => socket.received
  .filter((e) => e.event === "request:created" && e.args[0]?.programId === program)
  .map((e) => e.args[0].eventId);

// A witness on node url from 127.0.0.<addr>, member of program (and of
// programs). probe() produces one event of program and resolves with the
// ms it took to arrive; run(everyMs) probes in the background until
// stop(), which resolves with every delay measured (and rejects if a probe
// never came).
export async function startWitness(url, producer, { program = "witness", programs = [], addr = 2, timeoutMs = 10000 } = {}) {
  const socket = await connect(url, { auth: { token: token(`witness-${addr}`, { programs: [program, ...programs] }) }, agent: agentFrom(addr) });
  const arrivals = new Map();
  socket.on("request:created", (p) => { if (p?.programId === program) arrivals.set(p.eventId, Date.now()); });
  const probe = async () => {
    const r = requestRecord(program, { tag: "probe" });
    const t0 = Date.now();
    await producer.send([r]);
    await waitFor(() => arrivals.has(r.event_id), { what: `probe ${r.event_id} at the witness`, timeoutMs });
    return arrivals.get(r.event_id) - t0;
  };
  let running = null;
  return {
    socket, probe,
    run(everyMs = 500) {
      const delays = [];
      let on = true;
      running = (async () => {
        while (on) {
          delays.push(await probe());
          await sleep(everyMs);
        }
        return delays;
      })();
      running.catch(() => {}); // reported by stop()
      return { stop: async () => { on = false; return running; } };
    },
    close: () => socket.close(),
  };
}

// /healthz of a node.
export async function health(url) {
  return (await fetch(`${url}/healthz`)).json();
}
