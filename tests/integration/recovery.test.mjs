// Reconnect and catch-up, end to end with real socket.io-clients:
// connection state recovery (socket.recovered, the same socket id, exactly
// the missed events once and in order) over WebSocket and long-polling,
// across a kill -9 restart of the node and across nodes behind nginx; the
// honest failures (a gap beyond the window, a flushed store: recovered is
// false and nothing partial arrives); and the explicit catch-up of older
// clients (lastOffset, lastEventTimestamp, then catchup:complete).
//
// Clients reconnect by themselves (reconnectionDelay 100 ms). To make sure
// events are missed, a client's auth is a function that waits on a gate: the
// transport reconnects at once, but the Socket.IO CONNECT (which carries
// {pid, offset} merged into the auth payload, as socket.io-client does) only
// goes out when the test opens the gate, after a witness client has seen
// the events.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";
import { io } from "socket.io-client";
import { connect, metric, produce, startRoomcast, token, waitFor, sleep } from "./lib/fixtures.mjs";
import { agentFrom, freePort, startBroker, startNginx, startRedis } from "./lib/cluster.mjs";

const actor = { user_id: "u0", name: "Ops" };
let n = 0;
const eid = (tag) => `rec-${tag}-${++n}-${process.pid}`;

let broker, redis, portA, nodeA, nodeB, lb, mem;
const extra = [];

function startNode(port) {
  return startRoomcast(["--listen", `127.0.0.1:${port}`, "--kafka-brokers", broker.bootstrap,
    "--redis", redis.url, "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"]);
}

before(async () => {
  broker = await startBroker();
  redis = await startRedis();
  portA = await freePort();
  nodeA = await startNode(portA);
  // A single node with the in-memory history, a window of 5 events per room,
  // and tokens that expire on time (no leeway, a short grace period).
  mem = await startRoomcast(["--history-max", "5", "--jwt-leeway", "0", "--auth-grace", "300"]);
});

after(async () => {
  for (const c of extra) c.close();
  await lb?.stop();
  for (const x of [nodeA, nodeB, mem]) {
    if (!x || x.exited) continue;
    const exit = await x.stop();
    assert.equal(exit.code, 0, `a node exits 0 on SIGTERM:\n${x.logs.slice(-20).join("\n")}`);
  }
  await redis?.destroy();
  await broker?.stop();
});

const records = (program, count, t0 = Date.now()) => Array.from({ length: count }, (_, i) => ({
  event_id: eid(program), occurred_at: t0 + i, performed_by: actor, action: "CREATED",
  program_id: program, request_id: `req-${i}`, title: `t${i}`,
}));
const send = (bootstrap, recs) => produce(bootstrap, "requests.mutations", "RequestMutation", recs);

// The eventIds of program's request:created events a socket received, in order.
const got = (s, program) => s.received
  .filter((e) => e.event === "request:created" && e.args[0].programId === program)
  .map((e) => e.args[0].eventId);

// A client like an application's: reconnects by itself; its CONNECT waits
// for the gate (see above).
function client(url, sub, { programs = [], transports = ["websocket"], agent, auth = {} } = {}) {
  const gate = { wait: Promise.resolve(), open: null };
  const socket = io(url, {
    transports, agent, forceNew: true,
    reconnectionDelay: 100, reconnectionDelayMax: 200, randomizationFactor: 0,
    auth: (cb) => { gate.wait.then(() => cb({ token: socket.token, ...auth })); },
  });
  socket.token = token(sub, { programs });
  socket.received = [];
  socket.onAny((event, ...args) => socket.received.push({ event, args }));
  socket.connects = [];
  socket.on("connect", () => socket.connects.push({ id: socket.id, recovered: socket.recovered }));
  socket.trace = [];
  for (const ev of ["reconnect_attempt", "reconnect_error", "reconnect_failed", "open", "close", "error"])
    socket.io.on(ev, (x) => socket.trace.push(`${Date.now() % 100000} ${ev} ${x?.message ?? x ?? ""}`));
  socket.on("connect_error", (e) => socket.trace.push(`${Date.now() % 100000} connect_error ${e.message}`));
  socket.on("disconnect", (r) => socket.trace.push(`${Date.now() % 100000} disconnect ${r}`));
  socket.holdConnect = () => { gate.wait = new Promise((r) => { gate.open = r; }); };
  socket.openConnect = () => gate.open?.();
  extra.push(socket);
  // A failed first connect is fatal; once connected, reconnection errors are
  // the client's business (it keeps trying), so the handler must go.
  return new Promise((resolve, reject) => {
    const fail = (err) => { socket.close(); reject(err); };
    socket.once("connect_error", fail);
    socket.once("connect", () => { socket.off("connect_error", fail); resolve(socket); });
  });
}

async function witness(url, programs) {
  const w = await connect(url, { auth: { token: token(`w-${programs[0]}`, { programs }) } });
  extra.push(w);
  return w;
}

function assertOnceInOrder(s, program, expected, what) {
  assert.deepEqual(got(s, program), expected.map((r) => r.event_id), `${what}: every event once, in order`);
  const offs = s.received.filter((e) => e.event === "request:created" && e.args[0].programId === program)
    .map((e) => Number(e.args[1].split("-")[1]));
  assert.ok(offs.every((o, i) => i === 0 || o > offs[i - 1]), `${what}: offsets increase`);
}

// Drops the transport with the CONNECT held back, produces `count` events
// while the socket is away, lets it come back (running `during` meanwhile);
// returns the missed records.
async function missWhileAway(s, url, program, bootstrap, count, during) {
  const w = await witness(url, [program]);
  const base = got(w, program).length, connects = s.connects.length;
  s.holdConnect();
  s.io.engine.close();
  await waitFor(() => !s.connected, { what: "the client noticing the drop" });
  const missed = records(program, count);
  await send(bootstrap, missed);
  await waitFor(() => got(w, program).length === base + count, { what: "the witness seeing the missed events" });
  const bg = during?.();
  s.openConnect();
  await waitFor(() => s.connected && s.connects.length === connects + 1, { what: "the reconnection" });
  await bg;
  w.close();
  return missed;
}

async function recoverOver(transports, program) {
  const s = await client(nodeA.url, `u-${program}`, { programs: [program], transports });
  const first = records(program, 2);
  await send(broker.bootstrap, first);
  await waitFor(() => got(s, program).length === 2, { what: "the first events" });
  const id = s.id;
  assert.equal(s.recovered, false, "a first connection is not a recovery");

  // Events keep coming while it reconnects: whether they land before, during
  // or after its replay, each arrives once and in order.
  const during = records(program, 20);
  const recoveries = await metric(nodeA.url, "roomcast_recoveries_total", { outcome: "recovered" });
  const missed = await missWhileAway(s, nodeA.url, program, broker.bootstrap, 3, () => send(broker.bootstrap, during));
  assert.equal(s.recovered, true, "socket.recovered");
  assert.equal(await metric(nodeA.url, "roomcast_recoveries_total", { outcome: "recovered" }), recoveries + 1,
    "the recovery is counted");
  assert.equal(s.id, id, "the same socket id");
  await waitFor(() => got(s, program).length === 25, { what: "the missed events" });

  const later = records(program, 2);
  await send(broker.bootstrap, later);
  await waitFor(() => got(s, program).length === 27, { what: "live events after the recovery" });
  await sleep(300);
  assertOnceInOrder(s, program, [...first, ...missed, ...during, ...later], transports.join("+"));

  // A client that leaves (its DISCONNECT) has no session to come back to.
  s.disconnect();
  s.connect();
  await waitFor(() => s.connected, { what: "connect after disconnect" });
  assert.equal(s.recovered, false, "no recovery after an explicit disconnect");
  assert.notEqual(s.id, id);
  s.close();
}

test("a dropped WebSocket recovers: same id, exactly the missed events, in order, once", async () => {
  await recoverOver(["websocket"], "pws");
});

test("a dropped long-polling session recovers the same way", async () => {
  await recoverOver(["polling"], "ppoll");
});

test("the node is killed with -9 and restarted: the client still recovers (Redis)", async () => {
  const program = "pk9";
  const s = await client(nodeA.url, "u-k9", { programs: [program] });
  const first = records(program, 2);
  await send(broker.bootstrap, first);
  await waitFor(() => got(s, program).length === 2, { what: "the first events" });
  const id = s.id;

  s.holdConnect();
  await nodeA.stop("SIGKILL");
  await waitFor(() => !s.connected, { what: "the client noticing the node's death" });
  const missed = records(program, 3);
  await send(broker.bootstrap, missed); // kept by the broker until a node consumes them
  nodeA = await startNode(portA);
  const w = await witness(nodeA.url, [program]);
  await waitFor(() => got(w, program).length === 3, { what: "the restarted node consuming the missed events", timeoutMs: 30000 });
  s.openConnect();
  await waitFor(() => s.connected, { what: "the reconnection",
    detail: () => `client: connected=${s.connected} engine=${s.io.engine?.readyState} connects=${JSON.stringify(s.connects)}\n${s.trace.slice(-25).join("\n")}` });
  assert.equal(s.recovered, true, "socket.recovered after a kill -9");
  assert.equal(s.id, id, "the same socket id");
  await waitFor(() => got(s, program).length === 5, { what: "the missed events" });
  const later = records(program, 1);
  await send(broker.bootstrap, later);
  await waitFor(() => got(s, program).length === 6, { what: "a live event" });
  await sleep(300);
  assertOnceInOrder(s, program, [...first, ...missed, ...later], "after kill -9");
  s.close();
  w.close();
});

test("a flushed history store (new epoch): not recovered, nothing partial", async () => {
  const program = "pflush";
  const s = await client(nodeA.url, "u-flush", { programs: [program] });
  const first = records(program, 2);
  await send(broker.bootstrap, first);
  await waitFor(() => got(s, program).length === 2, { what: "the first events" });
  const id = s.id;
  // The store loses everything while the socket is connected; the session
  // is written again at the disconnect, but its offset is of the old epoch.
  execFileSync("redis-cli", ["-p", String(redis.port), "FLUSHALL"]);
  const logsBefore = nodeA.logs.length;
  await missWhileAway(s, nodeA.url, program, broker.bootstrap, 3);
  assert.equal(s.recovered, false, "socket.recovered");
  assert.notEqual(s.id, id, "a new socket id");
  assert.ok(nodeA.logs.slice(logsBefore).some((l) => l.includes("not recovered (offset of another history epoch)")),
    "the node says why");
  const later = records(program, 1);
  await send(broker.bootstrap, later);
  await waitFor(() => got(s, program).length === 3, { what: "a live event" });
  await sleep(300);
  assert.deepEqual(got(s, program), [...first, ...later].map((r) => r.event_id), "none of the missed events");
  s.close();
});

test("a gap beyond the window (history-max 5): not recovered, nothing partial", async () => {
  const program = "pgap";
  const s = await client(mem.url, "u-gap", { programs: [program] });
  const first = records(program, 1);
  await send(mem.bootstrap, first);
  await waitFor(() => got(s, program).length === 1, { what: "the first event" });
  const id = s.id;
  const logsBefore = mem.logs.length;
  await missWhileAway(s, mem.url, program, mem.bootstrap, 7);
  assert.equal(s.recovered, false, "socket.recovered");
  assert.notEqual(s.id, id, "a new socket id");
  assert.ok(mem.logs.slice(logsBefore).some((l) => l.includes("not recovered (events missed beyond the history window)")),
    "the node says why");
  const later = records(program, 1);
  await send(mem.bootstrap, later);
  await waitFor(() => got(s, program).length === 2, { what: "a live event" });
  await sleep(300);
  assert.deepEqual(got(s, program), [...first, ...later].map((r) => r.event_id), "none of the missed events");

  // Within the window the same node recovers.
  const missed = await missWhileAway(s, mem.url, program, mem.bootstrap, 3);
  assert.equal(s.recovered, true, "recovered within the window");
  await waitFor(() => got(s, program).length === 5, { what: "the missed events" });
  await sleep(200);
  assertOnceInOrder(s, program, [...first, ...later, ...missed], "within the window");
  s.close();
});

test("a token that expires: disconnected after auth:expired, back with a new token, recovered", async () => {
  const program = "pexp";
  const s = await client(mem.url, "u-exp", { programs: [program] });
  const first = records(program, 1);
  await send(mem.bootstrap, first);
  await waitFor(() => got(s, program).length === 1, { what: "the first event" });
  const id = s.id;
  const reason = new Promise((r) => s.once("disconnect", r));
  // Now a token that expires in a second or two.
  const short = token("u-exp", { programs: [program], exp: Math.floor(Date.now() / 1000) + 2 });
  const ack = await s.timeout(5000).emitWithAck("auth:refresh", { token: short });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  await waitFor(() => s.received.some((e) => e.event === "auth:expired"), { what: "auth:expired", timeoutMs: 5000 });
  assert.equal(await reason, "io server disconnect", "disconnected by the server after the grace period");
  const w = await witness(mem.url, [program]);
  const missed = records(program, 2);
  await send(mem.bootstrap, missed);
  await waitFor(() => got(w, program).length === 2, { what: "the witness" });
  s.token = token("u-exp", { programs: [program] });
  s.connect(); // socket.io-client does not reconnect by itself after a server's DISCONNECT
  await waitFor(() => s.connected, { what: "the reconnection" });
  assert.equal(s.recovered, true, "recovered with the new token");
  assert.equal(s.id, id);
  await waitFor(() => got(s, program).length === 3, { what: "the missed events" });
  await sleep(200);
  assertOnceInOrder(s, program, [...first, ...missed], "after expiry");
  s.close();
  w.close();
});

// Older clients: a fresh connection with lastOffset or lastEventTimestamp.
async function catchUp(url, sub, programs, auth) {
  const s = await connect(url, { auth: { token: token(sub, { programs }), ...auth } });
  extra.push(s);
  await waitFor(() => s.received.some((e) => e.event === "catchup:complete"), { what: "catchup:complete" });
  await sleep(100);
  return s;
}

test("explicit catch-up by lastOffset: the events after it, then catchup:complete", async () => {
  const program = "pcatch";
  const w = await witness(mem.url, [program]);
  const recs = records(program, 4);
  await send(mem.bootstrap, recs);
  await waitFor(() => got(w, program).length === 4, { what: "the events" });
  const offsets = w.received.filter((e) => e.event === "request:created").map((e) => e.args[1]);

  const s = await catchUp(mem.url, "u-catch", [program], { lastOffset: offsets[1] });
  assert.deepEqual(got(s, program), recs.slice(2).map((r) => r.event_id), "the events after lastOffset");
  const done = s.received.findIndex((e) => e.event === "catchup:complete");
  assert.deepEqual(s.received[done].args, [{ replayed: 2, truncated: false }]);
  assert.equal(done, s.received.length - 1, "catchup:complete after the replayed events");
  // Live events follow.
  const later = records(program, 1);
  await send(mem.bootstrap, later);
  await waitFor(() => got(s, program).length === 3, { what: "a live event" });

  // Up to date: nothing to replay.
  await waitFor(() => got(w, program).length === 5, { what: "the witness" });
  const last = w.received.filter((e) => e.event === "request:created").at(-1).args[1];
  const s3 = await catchUp(mem.url, "u-catch3", [program], { lastOffset: last });
  assert.deepEqual(s3.received.map((e) => e.event), ["catchup:complete"]);
  assert.deepEqual(s3.received[0].args, [{ replayed: 0, truncated: false }]);

  // Evicted (history-max 5: the first of these 4 + 1 + 3 is gone), another
  // epoch, malformed: nothing replayed, truncated.
  await send(mem.bootstrap, records(program, 3));
  await waitFor(() => got(w, program).length === 8, { what: "the witness" });
  for (const lastOffset of [offsets[0], "0123456789abcdef-1", "not-an-offset"]) {
    const t = await catchUp(mem.url, "u-trunc", [program], { lastOffset });
    assert.deepEqual(t.received.map((e) => e.event), ["catchup:complete"], `${lastOffset}: nothing replayed`);
    assert.deepEqual(t.received[0].args, [{ replayed: 0, truncated: true }], lastOffset);
    t.close();
  }
  for (const x of [w, s, s3]) x.close();
});

test("explicit catch-up by lastEventTimestamp (ISO string or ms)", async () => {
  const program = "ptime";
  const w = await witness(mem.url, [program]);
  const t0 = Date.now() + 1000;
  const recs = records(program, 3, t0);
  await send(mem.bootstrap, recs);
  await waitFor(() => got(w, program).length === 3, { what: "the events" });
  const ts = w.received.filter((e) => e.event === "request:created").map((e) => e.args[0].timestamp);
  assert.equal(Date.parse(ts[0]), t0);

  for (const lastEventTimestamp of [ts[0], Date.parse(ts[0])]) {
    const s = await catchUp(mem.url, "u-time", [program], { lastEventTimestamp });
    assert.deepEqual(got(s, program), recs.slice(1).map((r) => r.event_id), `${lastEventTimestamp}: events after it`);
    assert.deepEqual(s.received.at(-1), { event: "catchup:complete", args: [{ replayed: 2, truncated: false }] });
    s.close();
  }
  // Before the store began (this process started later): truncated.
  const s = await catchUp(mem.url, "u-time2", [program], { lastEventTimestamp: "2020-01-01T00:00:00.000Z" });
  assert.deepEqual(s.received, [{ event: "catchup:complete", args: [{ replayed: 0, truncated: true }] }]);
  s.close();
  w.close();
});

test("two nodes behind nginx: events once everywhere; a node killed with -9, its clients recover on the other", async () => {
  const program = "pcl";
  const portB = await freePort();
  nodeB = await startNode(portB);
  lb = await startNginx([portA, portB]);
  const sockets = async (node) => (await (await fetch(`${node.url}/metrics`)).text()).match(/^roomcast_sockets (\d+)$/m)?.[1];
  const base = [Number(await sockets(nodeA)), Number(await sockets(nodeB))];
  // nginx pins each client address to a node: clients from distinct
  // addresses, WebSocket and polling, until both nodes hold some.
  const clients = [];
  let per = [0, 0];
  for (let i = 0; i < 24 && (i < 8 || !(per[0] && per[1])); i++) {
    clients.push(await client(lb.url, `u-cl${i}`, { programs: [program], agent: agentFrom(40 + i),
      transports: i % 2 ? ["polling"] : ["websocket"] }));
    per = [Number(await sockets(nodeA)) - base[0], Number(await sockets(nodeB)) - base[1]];
  }
  assert.ok(per[0] > 0 && per[1] > 0, `clients on both nodes (${per})`);

  const first = records(program, 6);
  await send(broker.bootstrap, first);
  await waitFor(() => clients.every((c) => got(c, program).length === 6), { what: "6 events on every client", timeoutMs: 20000 });

  for (const c of clients) c.holdConnect();
  const idsBefore = clients.map((c) => c.id);
  await nodeB.stop("SIGKILL");
  await waitFor(() => clients.filter((c) => !c.connected).length === per[1], { what: "node B's clients disconnected" });
  const moved = clients.filter((c) => !c.connected);
  const ids = moved.map((c) => idsBefore[clients.indexOf(c)]);
  const missed = records(program, 4);
  await send(broker.bootstrap, missed);
  // Node A consumes them once the group gave it node B's partitions.
  const stayed = clients.filter((c) => c.connected);
  await waitFor(() => stayed.every((c) => got(c, program).length === 10), { what: "the missed events on node A", timeoutMs: 30000 });
  for (const c of moved) c.openConnect();
  await waitFor(() => moved.every((c) => c.connected), { what: "node B's clients reconnected through nginx" });
  moved.forEach((c, i) => {
    assert.equal(c.recovered, true, `client ${i} recovered on node A`);
    assert.equal(c.id, ids[i], `client ${i} kept its id`);
  });
  const later = records(program, 2);
  await send(broker.bootstrap, later);
  await waitFor(() => clients.every((c) => got(c, program).length === 12), { what: "every event on every client" });
  await sleep(300);
  for (const [i, c] of clients.entries())
    assertOnceInOrder(c, program, [...first, ...missed, ...later], `client ${i}`);
  for (const c of clients) c.close();
});

test("without connection state recovery (--recovery-window 0) there is no pid, and stored events still carry their offset", async () => {
  const node = await startRoomcast(["--recovery-window", "0"]);
  try {
    const program = "p-norecovery";
    const s = await connect(node.url, { auth: { token: token("nr", { programs: [program] }) } });
    extra.push(s);
    const [r] = records(program, 1);
    await send(node.bootstrap, [r]);
    const got = await waitFor(() => s.received.find((e) => e.args[0]?.eventId === r.event_id), { what: "the event" });
    assert.equal(got.args.length, 2);
    assert.match(got.args[1], /^[0-9a-f]+-\d+$/);
    // socket.io-client keeps a pid only when the CONNECT reply has one
    assert.equal(s._pid, undefined);
  } finally {
    const exit = await node.stop();
    assert.equal(exit.code, 0);
  }
});
