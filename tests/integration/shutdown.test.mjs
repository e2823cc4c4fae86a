// SIGTERM is honoured at every stage, within a bound, whatever Kafka and
// Redis do: during the membership rebuild with Kafka unreachable, while the
// history store does not answer, at any moment of start-up or serving, and
// while the group rebalances with the broker unreachable and Redis stalled
// (a node holding stored, uncommitted offsets then abandons its group close
// after a few seconds: what it could not commit comes again to the next
// owner, which kafka-faults.test.mjs checks is deduplicated).
import assert from "node:assert/strict";
import { test } from "node:test";
import { connect, metric, produce, startRoomcast, token, waitFor, sleep } from "./lib/fixtures.mjs";
import { freePort, startBroker, startRedis } from "./lib/cluster.mjs";
import { SHUTDOWN_BOUND_MS, roomEventIds, spawnRoomcast, startSilentServer, stopTimed } from "./lib/lifecycle.mjs";

const T0 = Date.parse("2026-11-21T12:00:00.000Z");
const actor = { user_id: "u0", name: null };
let n = 0;
const comment = (program) => ({ event_id: `sd-${++n}-${process.pid}`, occurred_at: T0 + n, performed_by: actor, action: "ADDED",
  program_id: program, request_id: "r", comment_id: `c${n}`, body_preview: null });
const tail = (node) => node.logs.slice(-25).join("\n");
// The bound, plus what a loaded machine needs to notice the exit.
const BOUND = SHUTDOWN_BOUND_MS + 1500;

test("SIGTERM during the membership rebuild, Kafka unreachable: exit 0 at once", async () => {
  const port = await freePort(); // nothing listens there
  const node = spawnRoomcast(["--kafka-brokers", `127.0.0.1:${port}`]);
  await waitFor(() => node.logs.some((l) => l.includes("listening on")) || node.exited, { what: "the listener" });
  await sleep(500); // in the rebuild, which would wait 60 s for the broker
  const exit = await stopTimed(node);
  assert.equal(exit.code, 0, `exit 0 (${JSON.stringify(exit)}):\n${tail(node)}`);
  assert.ok(exit.ms < 5000, `exited ${exit.ms} ms after SIGTERM`);
  assert.ok(node.logs.some((l) => l.includes("stopped during start-up, in the membership rebuild")), tail(node));
});

test("SIGTERM while the history store does not answer: exit 0 within the bound", async () => {
  const silent = await startSilentServer();
  try {
    const node = spawnRoomcast(["--redis", `redis://127.0.0.1:${silent.port}/0`]);
    await waitFor(() => node.logs.length > 0 || node.exited, { what: "the first log line" });
    await sleep(300); // connecting: each command waits 2 s for an answer
    const exit = await stopTimed(node);
    assert.equal(exit.code, 0, `exit 0 (${JSON.stringify(exit)}):\n${tail(node)}`);
    assert.ok(exit.ms < 5000, `exited ${exit.ms} ms after SIGTERM`);
    assert.ok(node.logs.some((l) => l.includes("stopped during start-up")), tail(node));
  } finally {
    await silent.close();
  }
});

test("SIGTERM at any moment of start-up or serving: exit 0 within the bound", async () => {
  // From its first log line on: before main() runs, a signal can only take
  // the default action.
  for (const delay of [0, 50, 300, 1000, "ready"]) {
    const node = spawnRoomcast([]);
    await waitFor(() => node.logs.length > 0 || node.exited, { what: "the first log line" });
    if (delay === "ready")
      await waitFor(() => node.logs.some((l) => l.includes("roomcast started")) || node.exited, { what: "serving" });
    else
      await sleep(delay);
    const exit = await stopTimed(node);
    assert.equal(exit.code, 0, `SIGTERM after ${delay} ms: exit 0 (${JSON.stringify(exit)}):\n${tail(node)}`);
    assert.ok(exit.ms < BOUND, `SIGTERM after ${delay} ms: exited after ${exit.ms} ms`);
    assert.ok(node.logs.at(-1)?.includes("bye"), `SIGTERM after ${delay} ms: an orderly stop:\n${tail(node)}`);
  }
});

test("SIGTERM while the group rebalances, broker unreachable and Redis stalled: exit 0 within the bound", async () => {
  const broker = await startBroker();
  const redis = await startRedis();
  // A session longer than the bound: librdkafka's own close waits that long
  // for a coordinator that is gone. Auto commit far away: the offsets of
  // what is consumed below are stored and not committed when the broker
  // goes away.
  const args = ["--kafka-brokers", broker.bootstrap, "--redis", redis.url,
    "-X", "session.timeout.ms=14000", "-X", "auto.commit.interval.ms=120000"];
  const nodes = [];
  try {
    nodes.push(await startRoomcast(args), await startRoomcast(args));
    const assigned = async (x) => (await (await fetch(`${x.url}/healthz`)).json()).kafka.assigned;
    await waitFor(async () => (await assigned(nodes[0])) > 0 && (await assigned(nodes[1])) > 0,
      { what: "partitions on both nodes", timeoutMs: 30000 });
    const records = Array.from({ length: 30 }, () => comment("sd"));
    await produce(broker.bootstrap, "comments.mutations", "CommentMutation", records, "bare", ["--key-field", "comment_id"]);
    const appended = async () => (await Promise.all(nodes.map((x) => metric(x.url, "roomcast_events_appended_total")))).reduce((a, b) => a + b, 0);
    await waitFor(async () => (await appended()) === 30, { what: "30 events appended" });

    // A third member joins: the group starts rebalancing. Then the broker
    // becomes unreachable, Redis stops answering, and every node is told to
    // stop.
    const third = await startRoomcast(args);
    nodes.push(third);
    await waitFor(() => third.logs.some((l) => l.includes("as group")), { what: "the third node subscribing" });
    await sleep(200);
    await broker.control("down 1");
    redis.proc.kill("SIGSTOP");
    const exits = await Promise.all(nodes.map((x) => stopTimed(x)));
    for (const [i, exit] of exits.entries()) {
      assert.equal(exit.code, 0, `node ${i} exits 0 (${JSON.stringify(exit)}):\n${tail(nodes[i])}`);
      assert.ok(exit.ms < BOUND, `node ${i} exited ${exit.ms} ms after SIGTERM:\n${tail(nodes[i])}`);
      assert.ok(nodes[i].logs.at(-1)?.includes("bye"), `node ${i}: an orderly stop:\n${tail(nodes[i])}`);
    }
    // The history kept what was appended, once.
    redis.proc.kill("SIGCONT");
    const ids = roomEventIds(redis.port, "program:sd");
    assert.deepEqual([...ids].sort(), records.map((r) => r.event_id).sort());
  } finally {
    redis.proc.kill("SIGCONT");
    for (const x of nodes) if (!x.exited) x.proc.kill("SIGKILL");
    await redis.destroy();
    await broker.stop();
  }
});

test("the stop's reconnect hint reaches a polling client in a poll of its own, after its events", async () => {
  // socket.io-client hands decoded packets to its socket a tick later: an
  // Engine.IO CLOSE batched after events would disconnect the socket first,
  // and the events, buffered for after the reconnect, would come again by
  // recovery. So the last events go in one poll and the CLOSE in the next.
  const node = await startRoomcast([]);
  try {
    const base = `${node.url}/socket.io/?EIO=4&transport=polling`;
    const sid = JSON.parse((await (await fetch(base)).text()).slice(1)).sid;
    const url = `${base}&sid=${sid}`;
    const post = (body) => fetch(url, { method: "POST", body });
    assert.equal((await post(`40${JSON.stringify({ token: token("poller", { programs: ["hp"] }) })}`)).status, 200);
    assert.match(await (await fetch(url)).text(), /^40\{"sid"/);
    // A witness in the same room: once it has the events, so has the
    // poller's queue (one broadcast).
    const witness = await connect(node.url, { auth: { token: token("witness", { programs: ["hp"] }) } });
    const ids = [`hp-1-${process.pid}`, `hp-2-${process.pid}`];
    await produce(node.bootstrap, "requests.mutations", "RequestMutation", ids.map((id, i) => ({
      event_id: id, occurred_at: Date.now() + i, performed_by: { user_id: "u0", name: null }, action: "CREATED",
      program_id: "hp", request_id: `r${i}`, title: "t" })));
    await waitFor(() => ids.every((id) => witness.received.some((e) => e.args[0]?.eventId === id)), { what: "the events broadcast" });
    node.proc.kill("SIGTERM");
    await waitFor(() => node.logs.some((l) => l.includes("stopping: closing")), { what: "the gateway stopping" });
    const first = (await (await fetch(url)).text()).split("\x1e");
    assert.deepEqual(first.map((p) => p.slice(0, 2)), ["42", "42"], `the events, and nothing after them: ${first}`);
    assert.ok(ids.every((id) => first.some((p) => p.includes(id))));
    const second = await fetch(url);
    assert.deepEqual([second.status, await second.text()], [200, "1"], "the CLOSE, alone in the next poll");
    const exit = await stopTimed(node);
    assert.equal(exit.code, 0);
  } finally {
    if (!node.exited) node.proc.kill("SIGKILL");
  }
});
