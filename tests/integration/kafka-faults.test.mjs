// Kafka faults lose nothing and duplicate nothing: a stream of records is
// produced while the mock cluster (roomcast-broker, three brokers) injects
// fetch errors, offset commit errors, produce errors, a broker going down
// and coming back, a group coordinator moving, and while a second node
// joins the group and leaves it again (eager assignor, short sessions).
// Afterwards every produced eventId is in the Redis history exactly once, a
// client connected throughout got each event once, and consumption goes on.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connect, produce, startRoomcast, token, waitFor, sleep } from "./lib/fixtures.mjs";
import { startBroker, startRedis } from "./lib/cluster.mjs";
import { roomEventIds, stopTimed } from "./lib/lifecycle.mjs";

const T0 = Date.parse("2026-11-21T12:00:00.000Z");
const actor = { user_id: "u0", name: null };
let n = 0;
const record = () => ({ event_id: `kf-${++n}-${process.pid}`, occurred_at: T0 + n, performed_by: actor, action: "ADDED",
  program_id: "kf", request_id: "r", comment_id: `c${n}`, body_preview: null });

let broker, redis;
const nodes = [];
// Eager assignor, sessions short enough for a member that leaves to be
// noticed quickly, commits every second so that commit errors matter. Each
// test has a group of its own, so that a node a failed test leaves behind
// cannot hold partitions in the next; the history keeps far more events per
// room than a run produces (the stream's length depends on the machine's
// speed), so that every one can be counted.
const args = (group = "roomcast") => ["--kafka-brokers", broker.bootstrap, "--redis", redis.url,
  "--group-id", group, "--history-max", "100000",
  "-X", "partition.assignment.strategy=range", "-X", "session.timeout.ms=6000",
  "-X", "heartbeat.interval.ms=500", "-X", "auto.commit.interval.ms=1000"];
const health = async (x) => (await fetch(`${x.url}/healthz`)).json();
const tail = (x) => x.logs.slice(-30).join("\n");

before(async () => {
  broker = await startBroker({ partitions: 3, brokers: 3 });
  redis = await startRedis();
});

after(async () => {
  for (const x of nodes) if (!x.exited) x.proc.kill("SIGKILL");
  await redis?.destroy();
  await broker?.stop();
});

test("records produced through broker faults and rebalances are in history exactly once", async () => {
  const a = await startRoomcast(args());
  nodes.push(a);
  await waitFor(async () => (await health(a)).kafka.assigned === 15, { what: "the first node owning every partition", timeoutMs: 20000 });
  const client = await connect(a.url, { auth: { token: token("watcher", { programs: ["kf"] }) } });

  // The stream: batches keyed over every partition, until told to stop.
  const produced = [];
  let streaming = true;
  const stream = (async () => {
    while (streaming) {
      const batch = Array.from({ length: 15 }, record);
      await produce(broker.bootstrap, "comments.mutations", "CommentMutation", batch, "bare", ["--key-field", "comment_id"]);
      produced.push(...batch);
      await sleep(250);
    }
  })();

  // The faults, one after the other, while the stream runs.
  const t0 = Date.now(), timeline = [];
  const step = async (what, fn, pauseMs = 1500) => {
    timeline.push(`${Date.now() - t0} ms: ${what}`);
    await fn();
    await sleep(pauseMs);
  };
  let b;
  await step("fetch errors", () => broker.control("errors Fetch NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT NOT_LEADER_FOR_PARTITION UNKNOWN_TOPIC_OR_PART"));
  await step("commit errors", () => broker.control("errors OffsetCommit REQUEST_TIMED_OUT COORDINATOR_NOT_AVAILABLE NOT_COORDINATOR REQUEST_TIMED_OUT"));
  await step("a second node joins", async () => {
    b = await startRoomcast(args());
    nodes.push(b);
    await waitFor(async () => (await health(b)).kafka.assigned > 0, { what: "the second node's partitions", timeoutMs: 20000 });
  });
  await step("a broker goes down", () => broker.control("down 2"), 3000);
  await step("and comes back", () => broker.control("up 2"));
  await step("the group coordinator moves", () => broker.control("coordinator roomcast 3"));
  await step("produce errors", () => broker.control("errors Produce NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT"));
  await step("more commit errors, then the second node leaves", async () => {
    await broker.control("errors OffsetCommit NOT_COORDINATOR REQUEST_TIMED_OUT");
    const exit = await stopTimed(b);
    assert.equal(exit.code, 0, `the second node exits 0:\n${tail(b)}`);
  });
  await step("the coordinator moves back", () => broker.control("coordinator roomcast 1"));
  streaming = false;
  await stream;

  // Consumption goes on: one last batch after the faults.
  const last = Array.from({ length: 15 }, record);
  await produce(broker.bootstrap, "comments.mutations", "CommentMutation", last, "bare", ["--key-field", "comment_id"]);
  produced.push(...last);
  const want = produced.map((r) => r.event_id).sort();
  await waitFor(() => roomEventIds(redis.port, "program:kf").length >= want.length,
    { what: `${want.length} events in history`, timeoutMs: 30000, detail: () => `${timeline.join("\n")}\n${tail(a)}` });
  await sleep(500);
  const stored = roomEventIds(redis.port, "program:kf");
  assert.equal(stored.length, want.length, "no event stored twice");
  assert.deepEqual([...stored].sort(), want, "every produced event stored");

  await waitFor(() => client.received.filter((e) => e.event === "comment:added").length >= want.length,
    { what: "every event on the client", timeoutMs: 10000 });
  const live = client.received.filter((e) => e.event === "comment:added").map((e) => e.args[0].eventId);
  assert.deepEqual(live, stored, "the client got each event once, in history order");
  const h = await health(a);
  assert.equal(h.kafka.assigned, 15, "the remaining node owns every partition again");
  assert.equal(h.kafka.paused, false);
  client.close();
  const exit = await stopTimed(a);
  assert.equal(exit.code, 0, `the first node exits 0:\n${tail(a)}`);
});

test("a rebalance while the history is down leaves no partition paused", async () => {
  // Both nodes pause on a pending record while Redis is down; the second
  // leaves, the first is given every partition, Redis comes back (empty):
  // every record from the outage on must reach the new history.
  const kp = () => ({ ...record(), program_id: "kp" });
  const a = await startRoomcast(args("roomcast-paused"));
  const b = await startRoomcast(args("roomcast-paused"));
  nodes.push(a, b);
  await waitFor(async () => (await health(a)).kafka.assigned > 0 && (await health(b)).kafka.assigned > 0,
    { what: "partitions on both nodes", timeoutMs: 20000 });
  await redis.stop();
  const outage = Array.from({ length: 20 }, kp);
  await produce(broker.bootstrap, "comments.mutations", "CommentMutation", outage, "bare", ["--key-field", "comment_id"]);
  await waitFor(async () => (await health(a)).kafka.paused && (await health(b)).kafka.paused,
    { what: "both nodes paused", timeoutMs: 20000 });
  assert.equal((await stopTimed(b)).code, 0, `the second node exits 0:\n${tail(b)}`);
  await waitFor(async () => (await health(a)).kafka.assigned === 15, { what: "every partition on the first node", timeoutMs: 20000 });
  await redis.start();
  const later = Array.from({ length: 10 }, kp);
  await produce(broker.bootstrap, "comments.mutations", "CommentMutation", later, "bare", ["--key-field", "comment_id"]);
  const want = [...outage, ...later].map((r) => r.event_id).sort();
  await waitFor(() => roomEventIds(redis.port, "program:kp").length >= want.length,
    { what: `${want.length} events in the new history`, timeoutMs: 30000,
      detail: () => `${roomEventIds(redis.port, "program:kp").length} stored\n${tail(a)}` });
  assert.deepEqual(roomEventIds(redis.port, "program:kp").sort(), want);
  const h = await health(a);
  assert.equal(h.kafka.paused, false);
  assert.equal((await stopTimed(a)).code, 0);
});
