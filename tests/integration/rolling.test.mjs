// A rolling restart under load: two nodes behind nginx share Redis and the
// consumer group; records stream in all along; each node in turn gets
// SIGTERM (with a drain delay), exits 0 and comes back on the same port.
// Afterwards every record is in history exactly once, and every client,
// connected from before the first record and moved between nodes by the
// restarts, got every event exactly once (live, or replayed by connection
// state recovery after its reconnect).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { io } from "socket.io-client";
import { produce, startRoomcast, token, waitFor, sleep } from "./lib/fixtures.mjs";
import { agentFrom, freePort, startBroker, startNginx, startRedis } from "./lib/cluster.mjs";
import { roomEventIds, stopTimed } from "./lib/lifecycle.mjs";

const actor = { user_id: "u0", name: null };
let n = 0;
const record = () => ({ event_id: `roll-${++n}-${process.pid}`, occurred_at: Date.now(), performed_by: actor,
  action: "CREATED", program_id: "roll", request_id: `r${n}`, title: `t${n}` });

let broker, redis, lb;
const nodes = {};
const every = []; // every node process, restarted ones included
const clients = [];

const startNode = (port) => startRoomcast(["--listen", `127.0.0.1:${port}`, "--kafka-brokers", broker.bootstrap,
  "--redis", redis.url, "--history-max", "100000", "--drain-delay", "500",
  "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"]).then((x) => { every.push(x); return x; });
const readyz = async (port) => {
  try { return (await fetch(`http://127.0.0.1:${port}/readyz`)).status; } catch { return 0; }
};
const tail = (x) => x.logs.slice(-20).join("\n");

before(async () => {
  broker = await startBroker({ partitions: 3 });
  redis = await startRedis();
  const ports = [await freePort(), await freePort()];
  nodes[ports[0]] = await startNode(ports[0]);
  nodes[ports[1]] = await startNode(ports[1]);
  lb = await startNginx(ports);
});

after(async () => {
  for (const c of clients) c.close();
  await lb?.stop();
  for (const x of Object.values(nodes)) if (!x.exited) x.proc.kill("SIGKILL");
  await redis?.destroy();
  await broker?.stop();
});

test("rolling restart of two nodes under a steady producer: every record once in history, every event once on every client", async () => {
  const ports = Object.keys(nodes).map(Number);
  await waitFor(async () => (await Promise.all(ports.map(readyz))).every((s) => s === 200), { what: "both nodes ready", timeoutMs: 30000 });

  // Clients from distinct addresses (nginx hashes them over both nodes),
  // both transports, reconnecting quickly by themselves.
  for (let i = 0; i < 8; i++) {
    const c = io(lb.url, {
      transports: i % 2 ? ["polling"] : ["websocket"], agent: agentFrom(20 + i), forceNew: true,
      reconnectionDelay: 100, reconnectionDelayMax: 500, randomizationFactor: 0,
      auth: { token: token(`roller${i}`, { programs: ["roll"] }) },
    });
    c.got = [];
    c.reconnects = 0;
    c.recoveries = 0;
    c.trace = []; // what arrived on which connection, with its offset, for a failure's message
    c.on("request:created", (p, offset) => {
      c.got.push(p.eventId);
      c.trace.push(`${p.eventId}@conn${c.reconnects}/${offset ?? "-"}`);
    });
    c.io.on("reconnect", () => c.reconnects++);
    c.on("connect", () => {
      if (c.recovered) c.recoveries++;
      c.trace.push(`connect ${c.id} recovered=${c.recovered} engine=${c.io.engine.id}`);
    });
    clients.push(c);
  }
  await waitFor(() => clients.every((c) => c.connected), { what: "every client connected" });

  const produced = [];
  let streaming = true;
  const stream = (async () => {
    while (streaming) {
      const batch = Array.from({ length: 5 }, record);
      await produce(broker.bootstrap, "requests.mutations", "RequestMutation", batch);
      produced.push(...batch.map((r) => r.event_id));
      await sleep(200);
    }
  })();
  await sleep(1500);

  // Each node in turn: stop (drain, then clients told to reconnect), exit 0,
  // start again on the same port, ready again.
  for (const port of ports) {
    const old = nodes[port];
    const exit = await stopTimed(old);
    assert.equal(exit.code, 0, `the node on ${port} exits 0:\n${tail(old)}`);
    assert.ok(old.logs.some((l) => l.includes("draining for 500 ms")), tail(old));
    nodes[port] = await startNode(port);
    await waitFor(async () => (await readyz(port)) === 200, { what: `the node on ${port} ready again`, timeoutMs: 30000 });
    await waitFor(() => clients.every((c) => c.connected), { what: "every client connected again", timeoutMs: 15000 });
    await sleep(1500);
  }
  streaming = false;
  await stream;
  const last = Array.from({ length: 5 }, record);
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation", last);
  produced.push(...last.map((r) => r.event_id));

  const want = [...produced].sort();
  await waitFor(() => roomEventIds(redis.port, "program:roll").length >= want.length,
    { what: `${want.length} events in history`, timeoutMs: 30000,
      detail: () => `${roomEventIds(redis.port, "program:roll").length} stored` });
  const stored = roomEventIds(redis.port, "program:roll");
  assert.equal(stored.length, want.length, "no record appended twice");
  assert.deepEqual([...stored].sort(), want, "every record in history");

  await waitFor(() => clients.every((c) => c.got.length >= want.length), { what: "every event on every client", timeoutMs: 20000,
    detail: () => clients.map((c, i) => `client ${i}: ${c.got.length}/${want.length}, connected ${c.connected}`).join("\n") });
  await sleep(500);
  for (const [i, c] of clients.entries()) {
    const dups = c.got.filter((id, k) => c.got.indexOf(id) !== k);
    assert.equal(dups.length, 0, `client ${i} (${i % 2 ? "polling" : "websocket"}) got events twice: ` +
      dups.map((id) => `${id} at ${c.got.map((x, k) => (x === id ? k : -1)).filter((k) => k >= 0)} (history ${stored.indexOf(id)})`).join(", ") +
      `; reconnects ${c.reconnects}, recovered ${c.recoveries}\n` +
      c.trace.slice(Math.max(0, c.got.indexOf(dups[0]) - 3), c.got.indexOf(dups[0]) + dups.length + 6).join("\n") + "\n" +
      every.flatMap((x) => x.logs.filter((l) => /recover|supersed|sid /.test(l))).join("\n"));
    assert.deepEqual(c.got, stored, `client ${i} got every event, in history order`);
  }
  // The restarts did move the clients, and each reconnect recovered the
  // connection state (the missed events came from the history).
  assert.ok(clients.every((c) => c.reconnects >= 1), `every client reconnected at least once (${clients.map((c) => c.reconnects)})`);
  assert.deepEqual(clients.map((c) => c.recoveries), clients.map((c) => c.reconnects), "every reconnect recovered");
});
