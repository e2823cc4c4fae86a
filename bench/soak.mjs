// bench/soak.mjs - roomcast under a long run with faults; run it with
// bench/soak (see --help there). Not a timed test, not part of ctest.
//
// One roomcast node with a Redis history (redis-server with its append-only
// file, so a restart keeps the store as a production Redis would) and a
// standalone roomcast-broker of three brokers. For the whole run:
//
//  * records flow: a kafkajs producer writes request records for several
//    programs at --rate per second; a record counts as produced once the
//    broker acknowledged it;
//  * connections churn: --churn socket.io-clients connect (WebSocket or
//    long-polling, from 127.0.0.2..), stay a few seconds, leave, come back;
//  * witnesses stay: --witnesses socket.io-clients in every program,
//    reconnecting (and recovering) by themselves;
//  * faults come every --fault-every seconds, in turn: broker 2 down then
//    up, OffsetCommit errors, Fetch errors, a Redis restart, the group
//    coordinator moving;
//  * the node's RSS (VmRSS) is sampled every --sample seconds.
//
// At the end (producing stops, everything settles): every produced eventId
// must be in the Redis history exactly once and on every witness exactly
// once; the slope of a linear fit of the RSS over the run's second half
// must be under --slope-max KiB/min. It prints its figures, writes them as
// JSON (--out), and exits 1 on a lost or duplicated event or a growth
// trend, 2 on bad usage.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

const here = import.meta.dirname;
const root = path.resolve(here, "..");

function usage(code) {
  const text = fs.readFileSync(path.join(here, "soak"), "utf8").split("\n").filter((l) => l.startsWith("#") && !l.startsWith("#!"))
    .map((l) => l.replace(/^# ?/, "")).join("\n");
  (code ? process.stderr : process.stdout).write(text + "\n");
  process.exit(code);
}

const opt = { minutes: 3, rate: 50, churn: 30, witnesses: 4, programs: 6, faultEvery: 20, sample: 2, slopeMax: 1024,
  build: path.join(root, "build"), out: null, settle: 90, faults: "broker,commit,fetch,redis,coordinator" };
const names = { "--minutes": "minutes", "--rate": "rate", "--churn": "churn", "--witnesses": "witnesses",
  "--programs": "programs", "--fault-every": "faultEvery", "--sample": "sample", "--slope-max": "slopeMax",
  "--build": "build", "--out": "out", "--settle": "settle", "--faults": "faults" };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "-h" || a === "--help") usage(0);
  const [k, inline] = a.split(/=(.*)/s);
  const key = names[k];
  if (!key) {
    process.stderr.write(`bench/soak: unknown option ${a}\n`);
    usage(2);
  }
  const v = inline ?? argv[++i];
  if (v === undefined) {
    process.stderr.write(`bench/soak: ${k} needs a value\n`);
    process.exit(2);
  }
  opt[key] = key === "build" || key === "out" ? path.resolve(v) : key === "faults" ? v : Number(v);
  if (typeof opt[key] === "number" && !(opt[key] > 0)) {
    process.stderr.write(`bench/soak: ${k} must be a positive number, got ${v}\n`);
    process.exit(2);
  }
}
for (const f of opt.faults.split(",").filter(Boolean))
  if (!["broker", "commit", "fetch", "redis", "coordinator"].includes(f)) {
    process.stderr.write(`bench/soak: --faults: unknown fault ${f} (broker, commit, fetch, redis, coordinator)\n`);
    process.exit(2);
  }
for (const bin of ["roomcast", "roomcast-broker"])
  if (!fs.existsSync(path.join(opt.build, bin))) {
    process.stderr.write(`bench/soak: ${path.join(opt.build, bin)} is missing: build first (cmake -S . -B build && cmake --build build)\n`);
    process.exit(2);
  }
process.env.RC_BUILD_DIR = opt.build;
process.env.RC_SOURCE_DIR = root;
process.env.KAFKAJS_NO_PARTITIONER_WARNING = "1";

// The integration tests' fixtures (and tests/node_modules: tests/run or
// `npm ci` in tests/ installs it).
if (!fs.existsSync(path.join(root, "tests/node_modules/socket.io-client"))) {
  process.stderr.write("bench/soak: tests/node_modules is missing: (cd tests && npm ci)\n");
  process.exit(2);
}
const lib = (name) => import(pathToFileURL(path.join(root, "tests/integration/lib", name)).href);
const { startRoomcast, token, sleep, waitFor } = await lib("fixtures.mjs");
const { startBroker, freePort, agentFrom } = await lib("cluster.mjs");
const { rssKb, requestRecord, startProducer } = await lib("pressure.mjs");
const { roomEventIds } = await lib("lifecycle.mjs");
const { io } = createRequire(path.join(root, "tests/package.json"))("socket.io-client");

const t0 = Date.now();
const log = (msg) => process.stderr.write(`[soak ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
const PROGRAMS = Array.from({ length: opt.programs }, (_, i) => `soak${i}`);

// ---- what we start, stopped on the way out ----
const cleanups = [];
let stopping = false;
async function cleanup() {
  stopping = true;
  while (cleanups.length) {
    try {
      await cleanups.pop()();
    } catch (e) {
      log(`cleanup: ${e.message}`);
    }
  }
}
for (const sig of ["SIGINT", "SIGTERM"])
  process.on(sig, async () => {
    log(`${sig}: stopping`);
    await cleanup();
    process.exit(130);
  });

// redis-server with its append-only file: a restart keeps the store.
async function startRedisAof() {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "roomcast-soak-redis-"));
  const r = { port, url: `redis://127.0.0.1:${port}/0`, proc: null, restarts: 0 };
  r.start = async () => {
    let out = "";
    r.proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
      "--appendfsync", "everysec", "--dir", dir, "--protected-mode", "no"], { stdio: ["ignore", "pipe", "pipe"] });
    r.proc.stdout.on("data", (d) => (out += d));
    r.exit = new Promise((res) => r.proc.on("exit", res));
    await waitFor(() => /Ready to accept connections/.test(out), { what: "redis-server", timeoutMs: 20000 });
  };
  r.stop = async () => {
    if (!r.proc || r.proc.exitCode !== null) return;
    r.proc.kill("SIGTERM");
    await r.exit;
  };
  await r.start();
  cleanups.push(async () => {
    await r.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return r;
}
const redisCli = (port, ...args) => execFileSync("redis-cli", ["-p", String(port), ...args], { encoding: "utf8" }).trim();

// ---- the run ----
const figures = { options: { ...opt }, started: new Date().toISOString() };
let failed = [];
let nodeLogs = null;
try {
  const broker = await startBroker({ partitions: 3, brokers: 3 });
  cleanups.push(() => broker.stop());
  const redis = await startRedisAof();
  const node = await startRoomcast(["--kafka-brokers", broker.bootstrap, "--redis", redis.url,
    "--history-max", "1000000", "--history-ttl", String(Math.ceil(opt.minutes * 60 + opt.settle + 600)),
    "-X", "partition.assignment.strategy=range", "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
    "-X", "auto.commit.interval.ms=1000"], { timeoutMs: 30000 });
  cleanups.push(async () => {
    const exit = await node.stop();
    if (exit.code !== 0) failed.push(`roomcast exited ${exit.code ?? exit.signal} on SIGTERM`);
  });
  log(`roomcast pid ${node.proc.pid} on ${node.url}, broker ${broker.bootstrap}, redis ${redis.port}`);
  await waitFor(async () => (await (await fetch(`${node.url}/healthz`)).json()).kafka.assigned === 15,
    { what: "partitions assigned", timeoutMs: 30000 });

  // Witnesses: every program, reconnecting by themselves.
  const witnesses = [];
  for (let i = 0; i < opt.witnesses; i++) {
    const s = io(node.url, { auth: { token: token(`witness${i}`, { programs: PROGRAMS }) }, agent: agentFrom(250 + (i % 4)),
      transports: i % 2 ? ["polling"] : ["websocket"], forceNew: true, reconnectionDelay: 200, reconnectionDelayMax: 1000 });
    s.got = new Map(); // eventId -> [arrival ms]
    s.connects = [];
    s.on("connect", () => s.connects.push({ recovered: s.recovered, at: Date.now() }));
    s.on("request:created", (p) => {
      const a = s.got.get(p.eventId);
      if (a) a.push(Date.now());
      else s.got.set(p.eventId, [Date.now()]);
    });
    await new Promise((res, rej) => { s.once("connect", res); s.once("connect_error", rej); });
    witnesses.push(s);
    cleanups.push(() => s.close());
  }

  // Churning clients.
  const churn = { connects: 0, errors: 0, events: 0, lastError: null };
  const churners = Array.from({ length: opt.churn }, async (_, i) => {
    const agent = agentFrom(2 + (i % 200));
    while (!stopping && !churn.stop) {
      try {
        const s = io(node.url, { auth: { token: token(`churn${i}`, { programs: [PROGRAMS[i % PROGRAMS.length]] }) },
          agent, transports: Math.random() < 0.5 ? ["websocket"] : ["polling", "websocket"],
          forceNew: true, reconnection: false });
        s.on("request:created", () => churn.events++);
        await new Promise((res, rej) => { s.once("connect", res); s.once("connect_error", rej); });
        churn.connects++;
        await sleep(1000 + Math.random() * 7000);
        s.close();
      } catch (e) {
        churn.errors++;
        churn.lastError = e.message;
        await sleep(500);
      }
      await sleep(Math.random() * 1000);
    }
  });

  // The producer.
  const producer = await startProducer(broker.bootstrap);
  cleanups.push(() => producer.stop());
  const produced = new Map(); // eventId -> acked at (ms)
  const sendFailures = { count: 0, last: null };
  let producing = true;
  const producerLoop = (async () => {
    const per = Math.max(1, Math.round(opt.rate / 10)); // a batch every 100 ms
    let k = 0;
    while (producing) {
      const batch = Array.from({ length: per }, () => requestRecord(PROGRAMS[k++ % PROGRAMS.length], { tag: "soak" }));
      try {
        await producer.send(batch);
        const at = Date.now();
        for (const r of batch) produced.set(r.event_id, at);
      } catch (e) {
        sendFailures.count += batch.length;
        sendFailures.last = e.message;
      }
      await sleep(100);
    }
  })();

  // Faults, in turn.
  const faults = [];
  const fault = async (name, fn) => {
    const at = (Date.now() - runStart) / 1000; // seconds into the run, like the RSS samples
    log(`fault: ${name}`);
    try {
      await fn();
      faults.push({ at, name });
    } catch (e) {
      faults.push({ at, name, error: e.message });
      log(`fault ${name} failed: ${e.message}`);
    }
  };
  const allKinds = [
    ["broker", "broker 2 down for 5 s, then up", async () => { await broker.control("down 2"); await sleep(5000); await broker.control("up 2"); }],
    ["commit", "OffsetCommit errors", () => broker.control("errors OffsetCommit REQUEST_TIMED_OUT NOT_COORDINATOR COORDINATOR_NOT_AVAILABLE REQUEST_TIMED_OUT")],
    ["fetch", "Fetch errors", () => broker.control("errors Fetch NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT NOT_LEADER_FOR_PARTITION")],
    ["redis", "Redis restart", async () => { await redis.stop(); await sleep(500); await redis.start(); redis.restarts++; }],
    ["coordinator", "group coordinator moves", async () => { await broker.control("coordinator roomcast 3"); await sleep(3000); await broker.control("coordinator roomcast 1"); }],
  ];
  const kinds = allKinds.filter(([key]) => opt.faults.split(",").includes(key)).map(([, name, fn]) => [name, fn]);

  // RSS samples, from the start of the run (set-up done).
  const runStart = Date.now();
  const samples = [{ s: 0, kb: rssKb(node.proc.pid) }];
  const sampler = setInterval(() => samples.push({ s: (Date.now() - runStart) / 1000, kb: rssKb(node.proc.pid) }), opt.sample * 1000);
  cleanups.push(() => clearInterval(sampler));

  const endAt = runStart + opt.minutes * 60000;
  let next = Date.now() + opt.faultEvery * 1000, f = 0, said = Date.now();
  while (Date.now() < endAt) {
    if (kinds.length && Date.now() >= next) {
      await fault(kinds[f % kinds.length][0], kinds[f % kinds.length][1]);
      f++;
      next = Date.now() + opt.faultEvery * 1000;
    }
    await sleep(200);
    if (Date.now() - said >= 30000) {
      said = Date.now();
      log(`produced ${produced.size}, churn connects ${churn.connects}, RSS ${samples.at(-1)?.kb ?? "?"} KiB`);
    }
  }
  clearInterval(sampler);
  producing = false;
  await producerLoop;
  churn.stop = true;
  await Promise.all(churners);
  log(`producing stopped: ${produced.size} records acknowledged; settling (up to ${opt.settle} s)`);

  // Settle: every produced event in history and on every witness.
  const ids = [...produced.keys()];
  const stored = () => {
    const all = [];
    for (const p of PROGRAMS) all.push(...roomEventIds(redis.port, `program:${p}`));
    return all;
  };
  try {
    // (a witness's reload on a reconnection that did not recover covers
    // what it missed, see below)
    const reloads = (w) => w.connects.slice(1).filter((c) => !c.recovered).map((c) => c.at);
    await waitFor(() => {
      const have = new Set(stored());
      return ids.every((id) => have.has(id)) &&
        witnesses.every((w) => ids.every((id) => w.got.has(id) || reloads(w).some((at) => produced.get(id) <= at)));
    }, { what: "every event in history and on every witness", timeoutMs: opt.settle * 1000 });
  } catch {
    log("settling timed out: counting what is there");
  }
  await sleep(2000);

  // ---- accounting ----
  const count = (list) => {
    const m = new Map();
    for (const id of list) m.set(id, (m.get(id) ?? 0) + 1);
    return m;
  };
  const inHistory = count(stored().filter((id) => id.startsWith("soak-")));
  const history = {
    stored: inHistory.size,
    missing: ids.filter((id) => !inHistory.has(id)).length,
    duplicated: [...inHistory.values()].filter((n) => n > 1).length,
    // stored but never acknowledged: a send that failed on our side while
    // the broker had it (at least once), not an error
    unacknowledged: [...inHistory.keys()].filter((id) => !produced.has(id)).length,
  };
  const delays = [];
  // A witness is an application: on a reconnection that did not recover
  // (recovered=false, the explicit "could not recover") it reloads its
  // state from its source of truth, here every record acknowledged by
  // then, and it drops an event it already has by eventId. An event
  // missing from what it received and from every reload is lost; one
  // received twice without a reload in between is a duplicate.
  const witnessFigures = witnesses.map((w, i) => {
    const resyncs = w.connects.slice(1).filter((c) => !c.recovered).map((c) => c.at);
    const reloaded = (id) => resyncs.some((at) => produced.get(id) <= at);
    const segment = (t) => resyncs.filter((at) => at <= t).length;
    const missingIds = ids.filter((id) => !w.got.has(id) && !reloaded(id));
    const duplicated = ids.filter((id) => {
      const seen = (w.got.get(id) ?? []).map(segment);
      return new Set(seen).size < seen.length;
    }).length;
    for (const id of ids) if (w.got.has(id)) delays.push(w.got.get(id)[0] - produced.get(id));
    return {
      witness: i, transport: i % 2 ? "polling" : "websocket", received: w.got.size,
      missed: ids.filter((id) => !w.got.has(id)).length, missing: missingIds.length, duplicated,
      missingIds: missingIds.slice(0, 20),
      againAfterResync: ids.filter((id) => new Set((w.got.get(id) ?? []).map(segment)).size > 1).length,
      reconnections: w.connects.length - 1, recovered: w.connects.slice(1).filter((c) => c.recovered).length,
      notRecovered: resyncs.length,
    };
  });
  delays.sort((a, b) => a - b);
  const pct = (p) => delays.length ? delays[Math.min(delays.length - 1, Math.floor(p * delays.length))] : null;

  // RSS trend: least squares over the second half.
  const half = samples.filter((x) => x.s >= samples.at(-1).s / 2);
  const fit = (() => {
    const n = half.length, mx = half.reduce((a, x) => a + x.s, 0) / n, my = half.reduce((a, x) => a + x.kb, 0) / n;
    const sxy = half.reduce((a, x) => a + (x.s - mx) * (x.kb - my), 0), sxx = half.reduce((a, x) => a + (x.s - mx) ** 2, 0);
    return { slopeKbPerMin: sxx ? (sxy / sxx) * 60 : 0, samples: n };
  })();
  const kbs = samples.map((x) => x.kb);
  const health = await (await fetch(`${node.url}/healthz`)).json();

  Object.assign(figures, {
    seconds: Math.round((Date.now() - t0) / 1000), runSeconds: Math.round((endAt - runStart) / 1000),
    produced: produced.size, sendFailures,
    history, witnesses: witnessFigures,
    deliveryMs: { p50: pct(0.5), p99: pct(0.99), max: delays.at(-1) ?? null },
    churn: { connects: churn.connects, errors: churn.errors, lastError: churn.lastError, events: churn.events },
    faults, redisRestarts: redis.restarts,
    rss: { firstKb: kbs[0], peakKb: Math.max(...kbs), lastKb: kbs.at(-1), slopeKbPerMin: Math.round(fit.slopeKbPerMin),
      slopeMaxKbPerMin: opt.slopeMax, fitSamples: fit.samples, samples },
    node: { kafkaAssigned: health.kafka?.assigned, paused: health.kafka?.paused, connections: health.connections },
    notRecovered: node.logs.filter((l) => /connection state not recovered/.test(l)).map((l) => {
      try { const j = JSON.parse(l); return `${j.ts} ${j.msg}`; } catch { return l; }
    }),
  });
  nodeLogs = node.logs;
  if (history.missing) failed.push(`${history.missing} acknowledged events missing from the history`);
  if (history.duplicated) failed.push(`${history.duplicated} events stored more than once`);
  for (const w of witnessFigures) {
    if (w.missing) failed.push(`witness ${w.witness}: ${w.missing} events lost (neither received nor reloaded)`);
    if (w.duplicated) failed.push(`witness ${w.witness}: ${w.duplicated} events received more than once`);
  }
  if (fit.slopeKbPerMin > opt.slopeMax)
    failed.push(`RSS grows by ${Math.round(fit.slopeKbPerMin)} KiB/min over the second half (limit ${opt.slopeMax})`);
  if (faults.some((x) => x.error)) failed.push("a fault could not be injected");
} catch (e) {
  failed.push(`the run failed: ${e.stack || e.message}`);
} finally {
  await cleanup();
}
figures.failures = failed;

// ---- report ----
const w = figures.witnesses ?? [];
const lines = [
  `roomcast soak: ${figures.runSeconds ?? "?"} s of load (${figures.seconds ?? "?"} s in all), ${figures.produced ?? 0} events acknowledged at ~${opt.rate}/s over ${opt.programs} programs`,
  `faults: ${(figures.faults ?? []).length} (${[...new Set((figures.faults ?? []).map((x) => x.name))].join("; ")})`,
  `history: ${figures.history?.stored ?? "?"} stored, ${figures.history?.missing ?? "?"} missing, ${figures.history?.duplicated ?? "?"} duplicated`,
  ...w.map((x) => `witness ${x.witness} (${x.transport}): ${x.received} received, ${x.missing} lost, ${x.duplicated} duplicated; ` +
    `${x.reconnections} reconnections (${x.recovered} recovered, ${x.notRecovered} not: ${x.missed} events missed and reloaded)`),
  ...(w.some((x) => x.notRecovered) ? ["note: a reconnection that did not recover is the contract's explicit signal (the application " +
    "reloads), not a loss; with this Redis (append-only file) the store kept everything, see roomcast's log for why"] : []),
  `delivery (acknowledged -> witness): p50 ${figures.deliveryMs?.p50} ms, p99 ${figures.deliveryMs?.p99} ms, max ${figures.deliveryMs?.max} ms`,
  `churn: ${figures.churn?.connects ?? 0} connections, ${figures.churn?.errors ?? 0} failed${figures.churn?.lastError ? ` (last: ${figures.churn.lastError})` : ""}`,
  `RSS: first ${figures.rss?.firstKb} KiB, peak ${figures.rss?.peakKb} KiB, last ${figures.rss?.lastKb} KiB; ` +
    `second-half slope ${figures.rss?.slopeKbPerMin} KiB/min (limit ${opt.slopeMax})`,
  failed.length ? `FAILED:\n  ${failed.join("\n  ")}` : "OK: nothing lost, nothing duplicated, no growth trend",
];
process.stdout.write(lines.join("\n") + "\n");
const out = opt.out ?? path.join(here, "results", `soak-${new Date().toISOString().replace(/[:.]/g, "").slice(0, 15)}Z.json`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(figures, null, 2) + "\n");
log(`figures: ${out}`);
if (nodeLogs) {
  fs.writeFileSync(out.replace(/\.json$/, "") + ".roomcast.log", nodeLogs.join("\n") + "\n");
  log(`roomcast's log: ${out.replace(/\.json$/, "")}.roomcast.log`);
}
process.exit(failed.length ? 1 : 0);
