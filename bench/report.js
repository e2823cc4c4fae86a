// Combines the per-run results of bench/run into one JSON file and prints
// the table: absolute figures for roomcast and the peer, and their ratio
// (roomcast / peer; the "better" column says which way is better).
//
// usage: node report.js --mode M --started ISO --commit C --out FILE
//          [--dirty B] [--load-before L] [--load-after L] [--busy-before S]
//          result.json...
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";

const { values: opt, positionals: files } = parseArgs({
  allowPositionals: true,
  options: {
    mode: { type: "string" },
    started: { type: "string" },
    commit: { type: "string" },
    dirty: { type: "string", default: "false" },
    out: { type: "string" },
    "load-before": { type: "string", default: "" },
    "load-after": { type: "string", default: "" },
    "busy-before": { type: "string", default: "" },
    repeat: { type: "string", default: "1" },
  },
});
const runs = files.map((f) => JSON.parse(readFileSync(f, "utf8")));
const cpuModel = (readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.*)$/m) || [])[1] || "unknown";
const results = {
  started: opt.started,
  finished: new Date().toISOString(),
  mode: opt.mode,
  repeat: Number(opt.repeat),
  commit: opt.commit,
  dirty_tree: opt.dirty === "true",
  machine: {
    nproc: os.cpus().length,
    cpu_model: cpuModel,
    kernel: os.release(),
    mem_gib: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    load_average_before: opt["load-before"],
    load_average_after: opt["load-after"],
    busy_processes_before: opt["busy-before"].trim(),
  },
  runs,
};
writeFileSync(opt.out, JSON.stringify(results, null, 2) + "\n");

// ---- table ----
const rows = [];
const byScenario = new Map(); // scenario -> {roomcast: [runs], peer: [runs]}
for (const r of runs) {
  if (!byScenario.has(r.scenario)) byScenario.set(r.scenario, { roomcast: [], peer: [] });
  byScenario.get(r.scenario)[r.server].push(r);
}
const multi = runs.some((r) => r.repeat > 1);
const fmt = (v, d = 1) =>
  v === undefined || v === null || Number.isNaN(v) ? "-" : Number(v).toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
function median(xs) {
  const a = [...xs].sort((x, y) => x - y);
  return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
}
function values(list, get) {
  return list.filter((r) => !r.failed).map(get).filter((v) => typeof v === "number" && !Number.isNaN(v));
}
function row(scenario, metric, better, get, d = 1, ratioToo = true) {
  const s = byScenario.get(scenario);
  const va = values(s.roomcast, get), vb = values(s.peer, get);
  const a = va.length ? median(va) : undefined;
  const b = vb.length ? median(vb) : undefined;
  const ratio = ratioToo && a !== undefined && b !== undefined && a >= 0 && b > 0 ? a / b : undefined;
  const range = (v) => (v.length > 1 ? `${fmt(Math.min(...v), d)}..${fmt(Math.max(...v), d)}` : "");
  const cells = [scenario, metric, fmt(a, d), fmt(b, d), ratio === undefined ? "-" : `${fmt(ratio, 2)}x`, better];
  if (multi) cells.push(range(va), range(vb));
  rows.push(cells);
}
for (const [name, s] of byScenario) {
  const kind = (s.roomcast[0] || s.peer[0]).kind;
  for (const side of ["roomcast", "peer"])
    for (const r of s[side])
      if (r.failed) rows.push([name, `${side}: FAILED in round ${r.repeat} (see the log)`, "", "", "", "", ...(multi ? ["", ""] : [])]);
  if (kind === "fanout") {
    const L = (r) => r.loadgen;
    row(name, "deliveries per server CPU-second", "higher", (r) => L(r).deliveries_per_server_cpu_s, 0);
    row(name, "deliveries per second (offered load)", "", (r) => L(r).deliveries_per_s, 0);
    row(name, "server CPU % while delivering", "lower", (r) => L(r).server_cpu_pct);
    row(name, "latency p50 ms", "lower", (r) => L(r).latency_ms.p50, 2);
    row(name, "latency p99 ms", "lower", (r) => L(r).latency_ms.p99, 2);
    row(name, "latency p99.9 ms", "lower", (r) => L(r).latency_ms.p999, 2);
    row(name, "delivered %", "higher", (r) => L(r).delivered_pct, 3);
    row(name, "missing / duplicate deliveries", "lower", (r) => L(r).missing + L(r).duplicates, 0);
    row(name, "connections per second (upgrade+CONNECT)", "higher", (r) => L(r).connects_per_s, 0);
    row(name, "connections per server CPU-second", "higher", (r) => L(r).connected / L(r).server_connect_cpu_s, 0);
    row(name, "server peak RSS MiB", "lower", (r) => r.server_rss_peak_kb / 1024);
    row(name, "loadgen CPU % (CPU 1)", "", (r) => L(r).loadgen_cpu_pct);
    row(name, "producer rate achieved, records/s", "", (r) => r.producer.rate);
    row(name, "other processes' CPU % on CPU 0", "", (r) => L(r).server_cpu_other_pct, 1, false);
  } else if (kind === "idle") {
    const L = (r) => r.loadgen;
    row(name, "connected clients", "", (r) => L(r).connected, 0);
    row(name, "server CPU % with the clients idle", "lower", (r) => L(r).server_cpu_pct, 2);
    row(name, "server CPU % before any client", "lower", (r) => r.server_cpu_pct_no_clients, 2);
    row(name, "server RSS KiB per idle client", "lower", (r) => L(r).server_rss_kb_per_client, 2);
    row(name, "server RSS MiB with the clients", "lower", (r) => L(r).server_rss_kb / 1024);
    row(name, "pings answered in the window", "", (r) => L(r).pings_answered, 0);
    row(name, "other processes' CPU % on CPU 0", "", (r) => L(r).server_cpu_other_pct, 1, false);
  } else if (kind === "ingest") {
    row(name, "records per server CPU-second", "higher", (r) => r.records_per_server_cpu_s, 0);
    row(name, "records per second", "higher", (r) => r.records_per_s, 0);
    row(name, "records in the window", "", (r) => r.measured_records, 0);
    if ([...s.roomcast, ...s.peer].some((r) => r.redis_cpu_s !== undefined)) {
      row(name, "Redis CPU % in the window (CPU 1)", "", (r) => r.redis_cpu_pct);
      row(name, "Redis CPU microseconds per record", "lower", (r) => r.redis_cpu_us_per_record, 2);
    }
    row(name, "other processes' CPU % on CPU 0", "", (r) => r.server_cpu_other_pct, 1, false);
  } else if (kind === "storm") {
    const L = (r) => r.loadgen;
    row(name, "clients reconnecting", "", (r) => L(r).reconnecting, 0);
    row(name, "recovered %", "higher", (r) => L(r).recovered_pct, 2);
    row(name, "missed events missing / duplicate / out of order", "lower",
      (r) => L(r).missing + L(r).duplicates + L(r).out_of_order, 0);
    row(name, "replay p50 ms (CONNECT to last missed event)", "lower", (r) => L(r).replay_ms.p50, 1);
    row(name, "replay p99 ms", "lower", (r) => L(r).replay_ms.p99, 1);
    row(name, "catch-up p50 ms (TCP connect to last missed)", "lower", (r) => L(r).catchup_ms.p50, 1);
    row(name, "catch-up p99 ms", "lower", (r) => L(r).catchup_ms.p99, 1);
    row(name, "storm seconds (first reconnect to last settled)", "lower", (r) => L(r).storm_s, 2);
    row(name, "recoveries per second", "higher", (r) => L(r).recoveries_per_s, 0);
    row(name, "server CPU-seconds in the storm", "lower", (r) => L(r).server_cpu_s, 2);
    row(name, "recoveries per server CPU-second", "higher", (r) => L(r).recoveries_per_server_cpu_s, 0);
    row(name, "Redis CPU-seconds in the storm (CPU 1)", "lower", (r) => L(r).redis_cpu_s, 2);
    row(name, "loadgen CPU % (CPU 1)", "", (r) => L(r).loadgen_cpu_pct);
    row(name, "other processes' CPU % on CPU 0", "", (r) => L(r).server_cpu_other_pct, 1, false);
  } else if (kind === "churn") {
    const L = (r) => r.loadgen;
    row(name, "handshakes per second", "higher", (r) => L(r).handshakes_per_s, 0);
    row(name, "handshakes per server CPU-second", "higher", (r) => L(r).handshakes_per_server_cpu_s, 0);
    row(name, "server CPU %", "", (r) => L(r).server_cpu_pct);
    row(name, "handshake p99 ms", "lower", (r) => L(r).handshake_ms.p99, 2);
    row(name, "loadgen CPU % (CPU 1)", "", (r) => L(r).loadgen_cpu_pct);
    row(name, "other processes' CPU % on CPU 0", "", (r) => L(r).server_cpu_other_pct, 1, false);
  }
}
const head = ["scenario", "metric", "roomcast", "peer", "roomcast/peer", "better"];
if (multi) head.push("roomcast range", "peer range");
const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r) => r.map((c, i) => (i >= 2 && i !== 5 ? c.padStart(w[i]) : c.padEnd(w[i]))).join("  ");
console.log(
  `roomcast ${results.commit}${results.dirty_tree ? " (modified tree)" : ""}, ${results.mode} run, ${results.started}; ` +
    `${results.machine.nproc} x ${results.machine.cpu_model}; load average before ${results.machine.load_average_before}` +
    (multi ? `; medians of ${results.repeat} rounds` : "")
);
console.log(line(head));
console.log(w.map((n) => "-".repeat(n)).join("  "));
let last = "";
for (const r of rows) {
  if (last && r[0] !== last) console.log("");
  last = r[0];
  console.log(line(r));
}
