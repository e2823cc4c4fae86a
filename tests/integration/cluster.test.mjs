// Two roomcast nodes, one consumer group, one Redis, nginx in front (the
// configuration in deploy/nginx/roomcast.conf): partitions are split, every
// client gets every event of its rooms exactly once and in the same order
// whichever node consumed it, membership learned on one node applies on the
// other, and a Redis outage pauses consumption without losing a record.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";
import { connect, metric, produce, startRoomcast, token, waitFor, sleep } from "./lib/fixtures.mjs";
import { agentFrom, startBroker, startNginx, startRedis } from "./lib/cluster.mjs";

const T0 = Date.parse("2026-11-21T12:00:00.000Z");
let broker, redis, nodes = [], lb;
let n = 0;
const eid = (t) => `cl-${t}-${++n}-${process.pid}`;
const actor = { user_id: "u0", name: "Ops" };

async function startNode() {
  return startRoomcast(["--kafka-brokers", broker.bootstrap, "--redis", redis.url,
    "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"]);
}

async function health(node) {
  return (await fetch(`${node.url}/healthz`)).json();
}

before(async () => {
  broker = await startBroker();
  redis = await startRedis();
  nodes = [await startNode(), await startNode()];
  lb = await startNginx(nodes.map((x) => x.port));
  // Both members of the group got partitions.
  await waitFor(async () => (await Promise.all(nodes.map(health))).every((h) => h.kafka.assigned > 0),
    { what: "partitions assigned to both nodes", timeoutMs: 30000 });
});

after(async () => {
  await lb?.stop();
  for (const x of nodes) {
    const exit = await x.stop();
    assert.equal(exit.code, 0, `a node exits 0 on SIGTERM:\n${x.logs.slice(-30).join("\n")}`);
  }
  await redis?.destroy();
  await broker?.stop();
});

// Clients through nginx, from distinct loopback addresses, until both nodes
// hold at least `per` of them.
async function spreadClients(users, per = 2) {
  const clients = [];
  let addr = 10;
  for (const u of users) {
    const sock = await connect(lb.url, { auth: { token: token(u.sub, u.claims || {}) }, agent: agentFrom(addr++), transports: ["polling", "websocket"] });
    sock.user = u.sub;
    clients.push(sock);
  }
  const counts = await Promise.all(nodes.map((x) => metric(x.url, "roomcast_sockets")));
  return { clients, counts };
}

test("every client gets every event of its rooms once, in one order, whichever node consumed it", async () => {
  // Memberships through the topic: whoever consumes them, both nodes learn them.
  const users = Array.from({ length: 10 }, (_, i) => ({ sub: `m${i}` }));
  const memberships = users.slice(0, 5).map((u) => ({ event_id: eid("m"), occurred_at: T0, performed_by: actor, action: "ADDED", program_id: "p1", user_id: u.sub, role: null }));
  await produce(broker.bootstrap, "program.memberships", "ProgramMembership", memberships);
  const appended = async () => (await Promise.all(nodes.map((x) => metric(x.url, "roomcast_events_appended_total")))).reduce((a, b) => a + b, 0);
  await waitFor(async () => (await appended()) >= 5, { what: "memberships appended" });
  await sleep(300); // the bus carries them to both gateways
  for (const u of users.slice(5)) u.claims = { programs: ["p1"] };

  const { clients, counts } = await spreadClients(users);
  assert.ok(counts.every((c) => c >= 2), `clients on both nodes (${counts})`);

  // Records for p1 with many keys: spread over partitions, so both nodes consume.
  const records = Array.from({ length: 40 }, (_, i) => ({ event_id: eid("r"), occurred_at: T0 + i, performed_by: actor, action: "CREATED", program_id: "p1", request_id: `req-${i}`, title: `t${i}` }));
  const consumedBefore = await Promise.all(nodes.map((x) => metric(x.url, "roomcast_records_consumed_total")));
  // Keyed by request, so the records spread over every partition.
  for (let k = 0; k < 4; k++)
    await produce(broker.bootstrap, "requests.mutations", "RequestMutation", records.slice(k * 10, k * 10 + 10),
      ["bare", "single-object", "confluent", "bare"][k], ["--key-field", "request_id"]);
  await waitFor(() => clients.every((c) => c.received.filter((e) => e.event === "request:created").length >= 40),
    { what: "40 events on every client", timeoutMs: 20000 });
  await sleep(500);
  const consumed = await Promise.all(nodes.map((x, i) => metric(x.url, "roomcast_records_consumed_total").then((v) => v - consumedBefore[i])));
  assert.equal(consumed.reduce((a, b) => a + b, 0), 40, "each record consumed once by the group");
  assert.ok(consumed.every((c) => c > 0), `both nodes consumed some (${consumed})`);

  const orders = clients.map((c) => c.received.filter((e) => e.event === "request:created").map((e) => e.args[0].eventId));
  for (const [i, order] of orders.entries()) {
    assert.equal(order.length, 40, `${clients[i].user} got each event once`);
    assert.equal(new Set(order).size, 40);
    assert.deepEqual(order, orders[0], `${clients[i].user} saw the history order`);
  }
  // Offsets are strictly increasing in that order.
  const offs = clients[0].received.filter((e) => e.event === "request:created").map((e) => Number(e.args[1].split("-")[1]));
  assert.ok(offs.every((o, i) => i === 0 || o > offs[i - 1]), "offsets increase");
  for (const c of clients) c.close();
});

test("membership added on the topic moves live sockets on both nodes", async () => {
  const users = Array.from({ length: 8 }, (_, i) => ({ sub: `late${i}` }));
  const { clients, counts } = await spreadClients(users);
  assert.ok(counts.every((c) => c >= 1), `clients on both nodes (${counts})`);
  await produce(broker.bootstrap, "program.memberships", "ProgramMembership",
    users.map((u) => ({ event_id: eid("m"), occurred_at: T0, performed_by: actor, action: "ADDED", program_id: "p9", user_id: u.sub, role: "viewer" })));
  await waitFor(() => clients.every((c) => c.received.some((e) => e.event === "member:added" && e.args[0].data.userId === c.user)),
    { what: "member:added for each user" });
  const c9 = { event_id: eid("c"), occurred_at: T0, performed_by: actor, action: "ADDED", program_id: "p9", request_id: "r", comment_id: "c", body_preview: "hi" };
  await produce(broker.bootstrap, "comments.mutations", "CommentMutation", [c9]);
  await waitFor(() => clients.every((c) => c.received.some((e) => e.event === "comment:added" && e.args[0].eventId === c9.event_id)),
    { what: "p9's comment on every node" });
  for (const c of clients) c.close();
});

test("Redis down: consumption pauses, nothing is lost, and it resumes by itself", async () => {
  const redisCli = (...args) => execFileSync("redis-cli", ["-p", String(redis.port), ...args], { encoding: "utf8" }).trim();
  await redis.stop();
  const outage = Array.from({ length: 12 }, (_, i) => ({ event_id: eid("o"), occurred_at: T0 + i, performed_by: actor, action: "ADDED", program_id: "p5", request_id: "r", comment_id: `oc${i}`, body_preview: null }));
  await produce(broker.bootstrap, "comments.mutations", "CommentMutation", outage);
  // At least the node owning the partition pauses and stops being ready.
  await waitFor(async () => (await Promise.all(nodes.map(health))).some((h) => h.kafka.paused),
    { what: "a paused consumer", timeoutMs: 20000 });
  const ready = await Promise.all(nodes.map((x) => fetch(`${x.url}/readyz`).then((r) => r.status)));
  assert.ok(ready.includes(503), `a node is not ready while Redis is down (${ready})`);
  await sleep(1500);
  await redis.start();
  await waitFor(async () => (await Promise.all(nodes.map(health))).every((h) => !h.kafka.paused && h.history.ready),
    { what: "consumers resumed", timeoutMs: 30000 });
  // Every record of the outage made it into history (a fresh store: new epoch).
  await waitFor(() => Number(redisCli("XLEN", "roomcast:room:program:p5")) === 12, { what: "12 events stored for p5", timeoutMs: 15000 });
  const ids = redisCli("XRANGE", "roomcast:room:program:p5", "-", "+");
  for (const r of outage) assert.ok(ids.includes(r.event_id), `${r.event_id} stored`);
  // And live delivery works again.
  const sock = await connect(lb.url, { auth: { token: token("after", { programs: ["p5"] }) }, agent: agentFrom(200) });
  const after1 = { ...outage[0], event_id: eid("o"), comment_id: "after" };
  await produce(broker.bootstrap, "comments.mutations", "CommentMutation", [after1]);
  await waitFor(() => sock.received.some((e) => e.args[0]?.eventId === after1.event_id), { what: "an event after the outage" });
  sock.close();
});
