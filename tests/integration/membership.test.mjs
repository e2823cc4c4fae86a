// Memberships on live connections, on two nodes sharing Redis and a broker
// (each user has a socket on each node, connected to the node directly): a
// user removed from a program stops receiving its events from the next event
// on, one added starts receiving without reconnecting, and join:program is
// only for members (leave:program always works).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connect, metric, produce, sleep, startRoomcast, token, waitFor } from "./lib/fixtures.mjs";
import { startBroker, startRedis } from "./lib/cluster.mjs";

let broker, redis, nodes = [];
let seq = 0;
const eid = (t) => `mb-${t}-${++seq}-${process.pid}`;
const actor = { user_id: "admin", name: "Admin" };

const member = (action, user, program) => ({ event_id: eid("m"), occurred_at: Date.now(), performed_by: actor, action, program_id: program, user_id: user, role: null });
const request = (program) => ({ event_id: eid("r"), occurred_at: Date.now(), performed_by: actor, action: "CREATED", program_id: program, request_id: `r${seq}`, title: "t" });
const got = (sock, id) => sock.received.some((e) => e.args[0]?.eventId === id);
const emitAck = (sock, event, arg) => new Promise((resolve) => sock.emit(event, arg, (ack) => resolve(ack)));

async function startNode() {
  return startRoomcast(["--kafka-brokers", broker.bootstrap, "--redis", redis.url,
    "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"]);
}

before(async () => {
  broker = await startBroker();
  redis = await startRedis();
  nodes = [await startNode(), await startNode()];
  await waitFor(async () => (await Promise.all(nodes.map(async (x) => (await (await fetch(`${x.url}/readyz`))).status))).every((s) => s === 200),
    { what: "both nodes ready", timeoutMs: 30000 });
});

after(async () => {
  for (const x of nodes) {
    const exit = await x.stop();
    assert.equal(exit.code, 0, "a node exits 0 on SIGTERM");
  }
  await redis?.destroy();
  await broker?.stop();
});

// One socket of sub on each node, straight to the node.
async function onBothNodes(sub, claims = {}) {
  const socks = [];
  for (const [i, x] of nodes.entries()) {
    const s = await connect(x.url, { auth: { token: token(sub, claims) }, transports: i === 0 ? ["websocket"] : ["polling"] });
    s.node = i;
    s.drops = 0;
    s.on("disconnect", () => s.drops++);
    socks.push(s);
  }
  return socks;
}

test("removed from p1: no p1 events from the next one on, on both nodes; added to p2: p2 events without reconnecting", async () => {
  const user = await onBothNodes("mu1");
  const witness = await onBothNodes("mw1", { programs: ["p1", "p2"] });
  const ids = user.map((s) => s.id);
  for (const x of nodes) assert.equal(await metric(x.url, "roomcast_sockets"), 2, "the user and the witness on each node");

  // Added to p1 through the topic: both live sockets join, whichever node consumed it.
  const add1 = member("ADDED", "mu1", "p1");
  await produce(broker.bootstrap, "program.memberships", "ProgramMembership", [add1]);
  await waitFor(() => user.every((s) => got(s, add1.event_id)), { what: "member:added on both nodes" });
  const r1 = request("p1");
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation", [r1]);
  await waitFor(() => [...user, ...witness].every((s) => got(s, r1.event_id)), { what: "the first p1 event everywhere" });

  // Removed: the removal itself still reaches the user (user:mu1), then nothing of p1.
  const rm1 = member("REMOVED", "mu1", "p1");
  await produce(broker.bootstrap, "program.memberships", "ProgramMembership", [rm1]);
  await waitFor(() => user.every((s) => got(s, rm1.event_id)), { what: "member:removed on both nodes" });
  const r2 = request("p1");
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation", [r2]);
  await waitFor(() => witness.every((s) => got(s, r2.event_id)), { what: "the next p1 event on both witnesses" });
  await sleep(300);
  for (const s of user) assert.ok(!got(s, r2.event_id), `node ${s.node}: no p1 event after the removal`);

  // Added to p2: events of p2 arrive on the same sockets.
  const add2 = member("ADDED", "mu1", "p2");
  await produce(broker.bootstrap, "program.memberships", "ProgramMembership", [add2]);
  await waitFor(() => user.every((s) => got(s, add2.event_id)), { what: "member:added p2 on both nodes" });
  const r3 = request("p2");
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation", [r3]);
  await waitFor(() => user.every((s) => got(s, r3.event_id)), { what: "the p2 event on both nodes" });
  assert.deepEqual(user.map((s) => s.id), ids, "same sockets");
  assert.ok(user.every((s) => s.connected && s.drops === 0), "no reconnect");
  // The user can no longer join p1; p2 is theirs.
  for (const s of user) {
    assert.deepEqual(await emitAck(s, "join:program", "p1"), { ok: false, error: { code: "FORBIDDEN" } });
    assert.deepEqual(await emitAck(s, "join:program", "p2"), { ok: true });
  }
  for (const s of [...user, ...witness]) s.close();
});

test("join:program only for members: FORBIDDEN and no events, then allowed after member:added; leave:program always", async () => {
  const user = await onBothNodes("mu2");
  const witness = await onBothNodes("mw2", { programs: ["p3"] });
  for (const s of user) {
    assert.deepEqual(await emitAck(s, "join:program", "p3"), { ok: false, error: { code: "FORBIDDEN" } });
    assert.deepEqual(await emitAck(s, "join:program", { programId: "p3" }), { ok: false, error: { code: "FORBIDDEN" } });
    assert.deepEqual(await emitAck(s, "leave:program", "never-joined"), { ok: true }, "leave needs no membership");
  }
  const r1 = request("p3");
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation", [r1]);
  await waitFor(() => witness.every((s) => got(s, r1.event_id)), { what: "p3's event on the witnesses" });
  await sleep(300);
  for (const s of user) assert.ok(!got(s, r1.event_id), `node ${s.node}: no p3 event for a non-member`);

  const add = member("ADDED", "mu2", "p3");
  await produce(broker.bootstrap, "program.memberships", "ProgramMembership", [add]);
  await waitFor(() => user.every((s) => got(s, add.event_id)), { what: "member:added on both nodes" });
  // Out of the room, then back in by join:program, now allowed.
  for (const s of user) assert.deepEqual(await emitAck(s, "leave:program", "p3"), { ok: true });
  const r2 = request("p3");
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation", [r2]);
  await waitFor(() => witness.every((s) => got(s, r2.event_id)), { what: "the second p3 event on the witnesses" });
  await sleep(300);
  for (const s of user) assert.ok(!got(s, r2.event_id), `node ${s.node}: no p3 event after leave:program`);
  for (const s of user) assert.deepEqual(await emitAck(s, "join:program", "p3"), { ok: true });
  const r3 = request("p3");
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation", [r3]);
  await waitFor(() => user.every((s) => got(s, r3.event_id)), { what: "p3's event after join:program" });
  for (const s of [...user, ...witness]) s.close();
});
