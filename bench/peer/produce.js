// The benchmarks' load: RequestMutation CREATED records (request:created
// events) produced at a steady rate with kafkajs and avsc.
//
// Record seq (first..first+count-1, first from --first-seq, default 0) has
// event_id "<run-id>-<seq>", program_id p<seq % programs> and request_id
// r<seq>; its title is the send time in
// MICROSECONDS since the epoch (wall clock), taken when the record is
// built, just before it is handed to kafkajs; occurred_at is the same time
// in milliseconds. The load generator computes latency from the title.
// Records are keyed by program_id, so one room's events stay in order.
//
// At most 1000 records go in one produce request; a rate of 0 means as fast
// as kafkajs takes them.
//
// usage: node produce.js --brokers HOST:PORT --count N --rate PER_S
//          --programs R --run-id ID [--framing confluent|single-object|bare]
//          [--first-seq N] [--topic requests.mutations] [--schemas-dir DIR]
// Prints one JSON object on stdout: sent, seconds, achieved rate, CPU.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { Kafka, logLevel, CompressionTypes } from "kafkajs";
import { fingerprint, loadSchemas } from "./avro.js";

const here = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    brokers: { type: "string" },
    topic: { type: "string", default: "requests.mutations" },
    count: { type: "string", default: "1000" },
    "first-seq": { type: "string", default: "0" },
    rate: { type: "string", default: "100" },
    programs: { type: "string", default: "1" },
    "program-prefix": { type: "string", default: "p" },
    "run-id": { type: "string", default: "run" },
    framing: { type: "string", default: "confluent" },
    "schemas-dir": { type: "string", default: join(here, "..", "..", "schemas") },
  },
});
if (!opt.brokers) {
  console.error("usage: node produce.js --brokers LIST --count N --rate PER_S --programs R --run-id ID");
  process.exit(2);
}
const count = Number(opt.count), rate = Number(opt.rate), programs = Number(opt.programs);
const firstSeq = Number(opt["first-seq"]);
const schemas = loadSchemas(opt["schemas-dir"]);
const type = schemas.byName.get("io.roomcast.mutations.RequestMutation");
let header;
if (opt.framing === "confluent") {
  const id = [...schemas.writers].find(([, t]) => schemas.canonical.get(t) === schemas.canonical.get(type))?.[0];
  header = Buffer.alloc(5);
  header.writeUInt32BE(id, 1);
} else if (opt.framing === "single-object") {
  header = Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprint(schemas.canonical.get(type))]);
} else if (opt.framing === "bare") {
  header = Buffer.alloc(0);
} else {
  console.error(`unknown framing ${opt.framing}`);
  process.exit(2);
}

const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const kafka = new Kafka({ clientId: "roomcast-bench-producer", brokers: opt.brokers.split(","), logLevel: logLevel.WARN });
const producer = kafka.producer({ allowAutoTopicCreation: false });

function record(seq) {
  const us = nowUs();
  const program = `${opt["program-prefix"]}${seq % programs}`;
  const value = Buffer.concat([
    header,
    type.toBuffer({
      event_id: `${opt["run-id"]}-${seq}`,
      occurred_at: Math.floor(us / 1000),
      performed_by: { user_id: "bench", name: "Bench" },
      action: "CREATED",
      program_id: program,
      request_id: `r${seq}`,
      title: String(us),
      changed_fields: null,
      from_status: null,
      to_status: null,
      assignee_id: null,
      previous_assignee_id: null,
    }),
  ]);
  return { key: program, value };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
await producer.connect();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let sent = 0;
let maxLagMs = 0;
while (sent < count) {
  const elapsed = performance.now() - t0;
  const due = rate > 0 ? Math.min(count, Math.floor((elapsed / 1000) * rate) + 1) : count;
  if (due > sent) {
    const messages = [];
    while (sent < due && messages.length < 1000) messages.push(record(firstSeq + sent++));
    await producer.send({ topic: opt.topic, acks: 1, compression: CompressionTypes.None, messages });
    const lag = rate > 0 ? performance.now() - t0 - ((sent - 1) / rate) * 1000 : 0;
    if (lag > maxLagMs) maxLagMs = lag;
  } else {
    await sleep(Math.max(1, Math.min(5, ((sent / rate) * 1000) - elapsed)));
  }
}
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
await producer.disconnect();
console.log(
  JSON.stringify({
    sent,
    seconds: +seconds.toFixed(3),
    rate: +(sent / Math.max(seconds, 1e-9)).toFixed(1),
    target_rate: rate,
    max_behind_ms: +maxLagMs.toFixed(1),
    cpu_s: +((cpu.user + cpu.system) / 1e6).toFixed(3),
  })
);
