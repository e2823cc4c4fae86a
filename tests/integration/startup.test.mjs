// Start-up as a load balancer and an orchestrator see it: /healthz answers
// from the first moment, /readyz says what start-up waits for, clients are
// refused (503, "Server starting") until the history and the memberships
// are in place, an unreachable neighbour is retried with a log line every
// few seconds, and --startup-timeout gives up naming what is unreachable.
// And the stop: --drain-delay makes /readyz 503 at once while clients are
// still served, then the node stops and exits 0.
import assert from "node:assert/strict";
import { test } from "node:test";
import { connect, produce, startRoomcast, token, waitFor, sleep } from "./lib/fixtures.mjs";
import { freePort, startRedis } from "./lib/cluster.mjs";
import { spawnRoomcast, stopTimed } from "./lib/lifecycle.mjs";

const tail = (node) => node.logs.slice(-25).join("\n");
const urlOf = (node) => {
  for (const l of node.logs) {
    const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(l);
    if (m) return m[1];
  }
  return null;
};
const json = async (url) => {
  const r = await fetch(url);
  return { status: r.status, body: await r.json() };
};

test("Kafka unreachable at start: /healthz answers, /readyz says why, clients wait, SIGTERM exits 0", async () => {
  const port = await freePort(); // nothing listens there
  const node = spawnRoomcast(["--kafka-brokers", `127.0.0.1:${port}`]);
  try {
    await waitFor(() => urlOf(node) || node.exited, { what: "the listener" });
    const url = urlOf(node);
    const h = await json(`${url}/healthz`);
    assert.equal(h.status, 200, "/healthz answers during start-up");
    assert.equal(h.body.started, false);
    assert.match(h.body.startup, /membership/);
    const r = await json(`${url}/readyz`);
    assert.equal(r.status, 503);
    assert.equal(r.body.status, "not ready");
    assert.ok(r.body.reasons.some((x) => x.includes(`rebuilding the memberships from Kafka (127.0.0.1:${port})`)),
      JSON.stringify(r.body));
    // A new Engine.IO session is refused while start-up runs, on both transports.
    const poll = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(poll.status, 503);
    assert.deepEqual(await poll.json(), { code: 3, message: "Server starting" });
    await assert.rejects(connect(url, { auth: { token: token("u1") } }));
    // The rebuild says what it waits for, every few seconds.
    await waitFor(() => node.logs.some((l) => l.includes("waiting for Kafka to describe")),
      { what: "a log line about the unreachable brokers", timeoutMs: 12000 });
    const exit = await stopTimed(node);
    assert.equal(exit.code, 0, `exit 0 (${JSON.stringify(exit)}):\n${tail(node)}`);
    assert.ok(exit.ms < 5000, `exited ${exit.ms} ms after SIGTERM`);
  } finally {
    if (!node.exited) node.proc.kill("SIGKILL");
  }
});

test("Redis unreachable at start: retried with readiness false, then serving once it comes", async () => {
  const redis = await startRedis();
  await redis.stop();
  const node = await startRoomcast(["--redis", redis.url], { admitted: false });
  try {
    await waitFor(async () => (await json(`${node.url}/readyz`)).body.reasons?.some((x) =>
      x.includes("the history store (redis) is unreachable")), { what: "/readyz naming the history store" });
    await waitFor(() => node.logs.some((l) => l.includes("cannot load the memberships, the history store (redis) is unreachable; retrying")),
      { what: "the retry log line" });
    assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
    assert.equal(node.exited, null, "still running");
    await redis.start();
    await waitFor(async () => (await fetch(`${node.url}/readyz`)).status === 200,
      { what: "ready once Redis is back", timeoutMs: 20000, detail: () => tail(node) });
    const c = await connect(node.url, { auth: { token: token("u1", { programs: ["p1"] }) } });
    c.close();
    const h = await json(`${node.url}/healthz`);
    assert.equal(h.body.started, true);
    assert.equal(h.body.kafka.joined, true);
    assert.equal(h.body.history.ready, true);
    assert.equal((await stopTimed(node)).code, 0);
  } finally {
    if (!node.exited) node.proc.kill("SIGKILL");
    await redis.destroy();
  }
});

test("--startup-timeout: start-up gives up, naming what is unreachable, exit 1", async () => {
  const port = await freePort(); // no Redis there
  const node = spawnRoomcast(["--redis", `redis://127.0.0.1:${port}/0`, "--startup-timeout", "1500"]);
  const t0 = Date.now();
  await node.exit;
  const ms = Date.now() - t0;
  assert.equal(node.exited.code, 1, tail(node));
  assert.ok(ms >= 1400 && ms < 8000, `gave up after ${ms} ms`);
  assert.ok(node.logs.some((l) => l.includes("start-up gave up after --startup-timeout 1500 ms") &&
    l.includes(`the history store (redis at redis://127.0.0.1:${port}/0) is unreachable`)), tail(node));
});

test("--drain-delay: /readyz 503 at once, clients served during the drain, then exit 0", async () => {
  const node = await startRoomcast(["--drain-delay", "2000"]);
  try {
    await waitFor(async () => (await fetch(`${node.url}/readyz`)).status === 200, { what: "ready" });
    const c = await connect(node.url, { auth: { token: token("watcher", { programs: ["dr"] }) } });
    const t0 = Date.now();
    node.proc.kill("SIGTERM");
    await waitFor(async () => (await fetch(`${node.url}/readyz`)).status === 503, { what: "/readyz 503", timeoutMs: 1000 });
    const r = await json(`${node.url}/readyz`);
    assert.ok(r.body.reasons.some((x) => x.includes("draining for 2000 ms")), JSON.stringify(r.body));
    // Still served: an event produced during the drain reaches the client.
    const id = `dr-${process.pid}`;
    await produce(node.bootstrap, "requests.mutations", "RequestMutation", [{
      event_id: id, occurred_at: Date.now(), performed_by: { user_id: "u0", name: null }, action: "CREATED",
      program_id: "dr", request_id: "r1", title: "during the drain" }]);
    await waitFor(() => c.received.some((e) => e.args[0]?.eventId === id), { what: "the event during the drain", timeoutMs: 1500 });
    assert.ok(Date.now() - t0 < 2000, "delivered within the drain");
    assert.ok(c.connected, "the client is still connected during the drain");
    const disconnected = new Promise((resolve) => c.once("disconnect", resolve));
    const [, reason] = await Promise.all([node.exit ?? waitFor(() => node.exited, { timeoutMs: 15000 }), disconnected]);
    const ms = Date.now() - t0;
    assert.equal(node.exited?.code ?? (await waitFor(() => node.exited)).code, 0, tail(node));
    assert.ok(ms >= 2000, `stopped ${ms} ms after SIGTERM, after the drain`);
    assert.equal(reason, "transport close", "told to reconnect (a transport close, not a server disconnect)");
  } finally {
    if (!node.exited) node.proc.kill("SIGKILL");
  }
});

test("a stop signal during start-up skips the drain", async () => {
  const port = await freePort();
  const node = spawnRoomcast(["--kafka-brokers", `127.0.0.1:${port}`, "--drain-delay", "5000"]);
  await waitFor(() => urlOf(node) || node.exited, { what: "the listener" });
  await sleep(200);
  const exit = await stopTimed(node);
  assert.equal(exit.code, 0, tail(node));
  assert.ok(exit.ms < 3000, `exited ${exit.ms} ms after SIGTERM`);
  assert.ok(!node.logs.some((l) => l.includes("draining for")), tail(node));
});
