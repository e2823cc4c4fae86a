// The admin API (docs/operations.md, "Admin API") on two nodes sharing Redis
// and a broker, node A with its token in a file, node B in the environment,
// and a third node without a token: requests without the token or with a
// wrong one are refused with 401 and counted, and the token never reaches a
// log; without a token the API does not exist; stats, rooms and users show
// real socket.io-clients over WebSocket and long-polling; a user
// disconnected on node A loses every socket on both nodes ("io server
// disconnect", no reconnection by the client), others keep theirs; scope=node
// stays on one node, and a ban refuses the user's next CONNECT everywhere.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { connect, connectError, metric, produce, sleep, startRoomcast, token, waitFor } from "./lib/fixtures.mjs";
import { startBroker, startRedis } from "./lib/cluster.mjs";

const ADMIN = `adm-${process.pid}-0123456789abcdef0123456789`;
let broker, redis, dir, a, b, plain;
const clients = [];

async function startNode(extra, env = {}) {
  return startRoomcast(["--kafka-brokers", broker.bootstrap, "--redis", redis.url,
    "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500", ...extra], { env });
}

const auth = { authorization: `Bearer ${ADMIN}` };
async function admin(node, p, { method = "GET", headers = auth } = {}) {
  const res = await fetch(`${node.url}${p}`, { method, headers });
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON: kept as text */ }
  return { status: res.status, headers: res.headers, body, text };
}

// A socket.io-client that would reconnect by itself (quickly), counting its
// connects and remembering its disconnect reasons.
async function client(node, sub, transports, claims = {}) {
  const s = await connect(node.url, { auth: { token: token(sub, claims) }, transports,
    reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
  s.connects = 1;
  s.firstId = s.id;
  s.reasons = [];
  s.io.on("reconnect", () => s.connects++);
  s.on("disconnect", (reason) => s.reasons.push(reason));
  clients.push(s);
  return s;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "rc-admin-"));
  const file = path.join(dir, "admin-token");
  fs.writeFileSync(file, `${ADMIN}\n`, { mode: 0o600 });
  broker = await startBroker();
  redis = await startRedis();
  a = await startNode(["--admin-token-file", file]);
  b = await startNode([], { ROOMCAST_ADMIN_TOKEN: ADMIN });
  plain = await startRoomcast([]);
  await waitFor(async () => (await Promise.all([a, b].map(async (x) => (await fetch(`${x.url}/readyz`)).status))).every((s) => s === 200),
    { what: "both nodes ready", timeoutMs: 30000 });
});

after(async () => {
  for (const s of clients) s.close();
  for (const x of [a, b, plain]) {
    if (!x) continue;
    const exit = await x.stop();
    assert.equal(exit.code, 0, "a node exits 0 on SIGTERM");
    assert.ok(!x.logs.join("\n").includes(ADMIN), "the admin token is never logged");
  }
  await redis?.destroy();
  await broker?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test("without the admin token, or with a wrong one: 401 with a JSON error, counted, logged without the token", async () => {
  const before = await metric(a.url, "roomcast_admin_unauthorized_total");
  const wrong = "wrong-token-0123456789abcdef-xyz";
  const cases = [
    { p: "/admin/stats", headers: {} },
    { p: "/admin/stats", headers: { authorization: `Bearer ${wrong}` } },
    { p: "/admin/users/u1/disconnect", headers: { authorization: `Bearer ${ADMIN}x` }, method: "POST" },
    { p: "/admin/nope", headers: { authorization: `Basic ${Buffer.from(`admin:${ADMIN}`).toString("base64")}` } },
    { p: "/admin/stats", headers: { authorization: `Bearer ${ADMIN.slice(0, -1)}` } },
  ];
  for (const c of cases) {
    const r = await admin(a, c.p, c);
    assert.equal(r.status, 401, `${c.p} ${JSON.stringify(c.headers)}`);
    assert.equal(r.body.error, "unauthorized");
    assert.match(r.headers.get("www-authenticate"), /^Bearer/);
  }
  assert.equal(await metric(a.url, "roomcast_admin_unauthorized_total"), before + cases.length);
  await waitFor(() => a.logs.some((l) => /"level":"warn".*refused \(401\): no admin token/.test(l)), { what: "the refusal logged" });
  const logs = a.logs.join("\n");
  assert.ok(!logs.includes(wrong) && !logs.includes(ADMIN), "no token in the log");
  // The right token works, and is counted apart.
  const ok = await metric(a.url, "roomcast_admin_requests_total");
  assert.equal((await admin(a, "/admin/stats")).status, 200);
  assert.equal(await metric(a.url, "roomcast_admin_requests_total"), ok + 1);
  // A client JWT is not an admin token.
  assert.equal((await admin(a, "/admin/stats", { headers: { authorization: `Bearer ${token("ops")}` } })).status, 401);
});

test("without a configured token the admin API does not exist", async () => {
  for (const [p, method] of [["/admin/stats", "GET"], ["/admin/rooms", "GET"], ["/admin/users/u1/disconnect", "POST"]]) {
    const r = await admin(plain, p, { method });
    assert.equal(r.status, 404, `${method} ${p}`);
  }
  assert.equal(await metric(plain.url, "roomcast_admin_unauthorized_total"), 0);
  assert.ok(plain.logs.some((l) => /admin API off/.test(l)), "the configuration line says so");
});

test("methods and malformed requests", async () => {
  assert.equal((await fetch(`${a.url}/healthz`, { method: "POST" })).status, 405);
  assert.equal((await admin(a, "/admin/stats", { method: "POST" })).status, 405);
  assert.equal((await admin(a, "/admin/users/u1/disconnect")).status, 405);
  assert.equal((await admin(a, "/admin/unknown")).status, 404);
  assert.equal((await admin(a, "/admin/rooms?limit=0")).status, 400);
  assert.equal((await admin(a, "/admin/rooms?limit=x")).status, 400);
  assert.equal((await admin(a, "/admin/users/u1/disconnect?scope=planet", { method: "POST" })).status, 400);
  assert.equal((await admin(a, "/admin/users/u1/disconnect?ban_seconds=-5", { method: "POST" })).status, 400);
  assert.equal((await admin(a, "/admin/users/%01/disconnect", { method: "POST" })).body.error, "invalid_argument");
  const head = await fetch(`${a.url}/admin/stats`, { method: "HEAD", headers: auth });
  assert.equal(head.status, 200);
});

test("stats, rooms and users show socket.io-clients over WebSocket and long-polling", async () => {
  // A membership from the topic, so the user has a program in the table.
  await produce(broker.bootstrap, "program.memberships", "ProgramMembership", [{
    event_id: `adm-m-${process.pid}`, occurred_at: Date.now(), performed_by: { user_id: "ops", name: null },
    action: "ADDED", program_id: "p7", user_id: "u:ws", role: "viewer" }]);
  await waitFor(async () => (await admin(a, "/admin/users/u%3Aws")).body?.programs?.includes("p7"),
    { what: "the membership of u:ws on node A" });
  await waitFor(async () => (await admin(b, "/admin/users/u%3Aws")).body?.programs?.includes("p7"),
    { what: "the membership of u:ws on node B" });

  const t0 = Date.now();
  const ws = await client(a, "u:ws", ["websocket"], { programs: ["p1"] });
  const poll = await client(a, "u-poll", ["polling"], { programs: ["p1", "p2"] });
  const st = (await admin(a, "/admin/stats")).body;
  assert.equal(st.node.port, a.port);
  assert.match(st.node.id, /^[0-9a-f]{16}$/);
  assert.ok(st.uptimeSeconds >= 0 && Date.parse(st.startedAt) <= Date.now());
  assert.deepEqual(st.connections, { total: 2, websocket: 1, polling: 1 });
  assert.equal(st.sockets, 2);
  assert.equal(st.users, 2);
  assert.ok(st.rooms >= 5, `user rooms and program rooms (${st.rooms})`);
  assert.equal(st.history.backend, "redis");
  assert.equal(st.history.ready, true);
  assert.equal(typeof st.kafka.assigned, "number");
  assert.equal(st.kafka.paused, false);
  assert.ok(st.counters.handshakes >= 2);
  assert.notEqual((await admin(b, "/admin/stats")).body.node.id, st.node.id, "each node has an id of its own");

  const rooms = (await admin(a, "/admin/rooms")).body;
  const names = rooms.rooms.map((r) => r.room);
  assert.deepEqual(names, [...names].sort(), "sorted by name");
  assert.deepEqual(rooms.rooms.find((r) => r.room === "program:p1"), { room: "program:p1", members: 2 });
  assert.ok(names.includes("user:u:ws") && names.includes("program:p7"));
  const programs = (await admin(a, "/admin/rooms?prefix=program:")).body;
  assert.deepEqual(programs.rooms, [{ room: "program:p1", members: 2 }, { room: "program:p2", members: 1 }, { room: "program:p7", members: 1 }]);
  assert.equal(programs.total, 3);
  assert.equal(programs.truncated, false);
  const one = (await admin(a, "/admin/rooms?prefix=program:&limit=1")).body;
  assert.deepEqual(one.rooms.map((r) => r.room), ["program:p1"]);
  assert.equal(one.total, 3);
  assert.equal(one.truncated, true);

  const p1 = (await admin(a, "/admin/rooms/program:p1")).body;
  assert.equal(p1.members, 2);
  assert.deepEqual(p1.sockets.map((s) => s.id).sort(), [ws.id, poll.id].sort());
  assert.deepEqual(p1.sockets.map((s) => s.user).sort(), ["u-poll", "u:ws"]);
  assert.equal((await admin(a, "/admin/rooms/program:none")).body.members, 0);

  const u = (await admin(a, "/admin/users/u%3Aws")).body;
  assert.equal(u.user, "u:ws");
  assert.equal(u.sockets.length, 1);
  const s = u.sockets[0];
  assert.equal(s.id, ws.id);
  assert.equal(s.state, "connected");
  assert.equal(s.transport, "websocket");
  assert.equal(s.address, "127.0.0.1");
  assert.ok(Date.parse(s.connectedAt) >= t0 - 1000 && Date.parse(s.connectedAt) <= Date.now());
  assert.deepEqual(s.rooms, ["program:p1", "program:p7", "user:u:ws"]);
  assert.deepEqual(u.programs, ["p7"]);
  assert.equal(u.bannedUntil, null);
  const up = (await admin(a, "/admin/users/u-poll")).body;
  assert.equal(up.sockets[0].transport, "polling");
  assert.deepEqual(up.programs, []);
  // A user of another node: nothing here.
  assert.deepEqual((await admin(b, "/admin/users/u-poll")).body.sockets, []);
  ws.close();
  poll.close();
  await waitFor(async () => (await admin(a, "/admin/stats")).body.sockets === 0, { what: "the sockets gone" });
});

test("disconnect on node A: every socket of the user on both nodes, no reconnection; others stay", async () => {
  const revoked = [await client(a, "revoked", ["websocket"]), await client(a, "revoked", ["polling"]),
    await client(b, "revoked", ["websocket"])];
  const others = [await client(a, "bystander", ["websocket"]), await client(b, "bystander", ["polling"])];
  assert.equal((await admin(b, "/admin/users/revoked")).body.sockets.length, 1);
  const reasons = revoked.map((s) => new Promise((resolve) => s.once("disconnect", resolve)));

  const r = await admin(a, "/admin/users/revoked/disconnect", { method: "POST" });
  assert.equal(r.status, 200);
  assert.equal(r.body.user, "revoked");
  assert.equal(r.body.disconnected, 2, "the sockets on this node");
  assert.equal(r.body.scope, "cluster");
  assert.equal(r.body.published, true);
  assert.equal(r.body.bannedUntil, null);
  assert.deepEqual(await Promise.all(reasons), ["io server disconnect", "io server disconnect", "io server disconnect"]);

  await sleep(1500); // ten times the clients' reconnection delay
  for (const s of revoked) {
    assert.equal(s.connected, false);
    assert.equal(s.connects, 1, "no reconnection");
    assert.deepEqual(s.reasons, ["io server disconnect"]);
  }
  for (const s of others) {
    assert.equal(s.connected, true);
    assert.deepEqual(s.reasons, []);
  }
  for (const x of [a, b]) {
    assert.deepEqual((await admin(x, "/admin/users/revoked")).body.sockets, []);
    assert.equal((await admin(x, "/admin/users/bystander")).body.sockets.length, 1);
  }
  assert.ok(b.logs.some((l) => /user revoked disconnected at the request of node [0-9a-f]{16}: 1 sockets/.test(l)));
  // A user disconnected without a ban may connect again (a JWT that is still
  // valid is the issuer's to revoke), but its sessions are gone: the client
  // that comes back with its pid gets a new socket, nothing recovered.
  const back = revoked[2];
  const reconnected = new Promise((resolve) => back.once("connect", resolve));
  back.connect();
  await reconnected;
  assert.equal(back.recovered, false, "no silent recovery after an operator's disconnect");
  assert.notEqual(back.id, back.firstId);
  await waitFor(() => b.logs.some((l) => /connection state not recovered \(no session\)/.test(l)),
    { what: "the recovery attempt refused for want of a session" });
  back.close();
  for (const s of others) s.close();
});

test("scope=node stays on the node; ban_seconds refuses the user's CONNECTs on every node", async () => {
  const onA = await client(a, "scoped", ["websocket"]);
  const onB = await client(b, "scoped", ["websocket"]);
  const r = await admin(a, "/admin/users/scoped/disconnect?scope=node", { method: "POST" });
  assert.equal(r.body.disconnected, 1);
  assert.equal(r.body.scope, "node");
  assert.equal(r.body.published, false);
  await waitFor(() => onA.reasons.length === 1, { what: "the socket on A disconnected" });
  await sleep(500);
  assert.equal(onB.connected, true, "B's socket is not touched");

  const banned = await admin(a, "/admin/users/scoped/disconnect?ban_seconds=30", { method: "POST" });
  assert.equal(banned.body.disconnected, 0);
  assert.ok(Date.parse(banned.body.bannedUntil) > Date.now() + 25000);
  await waitFor(() => onB.reasons.length === 1, { what: "the socket on B disconnected" });
  assert.deepEqual(onB.reasons, ["io server disconnect"]);
  await waitFor(async () => (await admin(b, "/admin/users/scoped")).body.bannedUntil !== null, { what: "the ban on B" });
  for (const x of [a, b]) {
    const err = await connectError(x.url, { auth: { token: token("scoped") } });
    assert.equal(err.message, "Authentication error");
    assert.equal(err.data.code, "FORBIDDEN");
  }
  // Others are not affected.
  const fine = await client(b, "not-scoped", ["polling"]);
  assert.equal(fine.connected, true);
  fine.close();
});
