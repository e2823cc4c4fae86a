// Redis failing under a running gateway, beyond what cluster.test.mjs
// (Redis down: consumption pauses) and recovery.test.mjs (a flushed store:
// not recovered) cover:
//
// * Redis restarted empty while a client's recovery replay is in flight
//   (held by a proxy between the node and Redis, see lib/redisproxy.mjs):
//   the connection breaking mid-replay, or the replay answered by the new,
//   empty store. The client gets exactly its missed events or
//   recovered=false, never a partial or a wrong range; clients recovering
//   before and after the restart too.
// * A bus gap under load on two nodes: while events flow, the nodes' bus
//   connections are killed (the store intact), then Redis is restarted
//   empty. Every client ends with every event once: through connection
//   state recovery after the first (each reconnection recovered, each
//   event once and in order), through the resync its application does on
//   recovered=false after the second (its state reloaded from the source of
//   truth, here the records the producer had written, then live events).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { io } from "socket.io-client";
import { startRoomcast, token, waitFor, sleep } from "./lib/fixtures.mjs";
import { startBroker, startRedis } from "./lib/cluster.mjs";
import { roomEventIds } from "./lib/lifecycle.mjs";
import { receivedIds, requestRecord, startProducer } from "./lib/pressure.mjs";
import { startRedisProxy } from "./lib/redisproxy.mjs";

const redisCli = (port, ...args) => execFileSync("redis-cli", ["-p", String(port), ...args], { encoding: "utf8" }).trim();

// A client like an application's: reconnects by itself, and its CONNECT
// (which carries {pid, offset} for recovery) waits for a gate the test
// opens, so that events can be missed on purpose. connects[] records each
// connection: recovered, socket id, and how many messages came before it.
function gatedClient(url, sub, programs, { transports = ["websocket"] } = {}) {
  const gate = { wait: Promise.resolve(), open: null };
  const s = io(url, {
    transports, forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 200, randomizationFactor: 0,
    auth: (cb) => { gate.wait.then(() => cb({ token: token(sub, { programs }) })); },
  });
  s.received = [];
  s.onAny((event, ...args) => s.received.push({ event, args }));
  s.connects = [];
  s.on("connect", () => s.connects.push({ recovered: s.recovered, id: s.id, at: s.received.length, t: Date.now() }));
  s.holdConnect = () => { gate.wait = new Promise((r) => { gate.open = r; }); };
  s.openConnect = () => gate.open?.();
  return new Promise((resolve, reject) => {
    const fail = (err) => { s.close(); reject(err); };
    s.once("connect_error", fail);
    s.once("connect", () => { s.off("connect_error", fail); resolve(s); });
  });
}

describe("Redis restarted empty while a replay is in flight", () => {
  let redis, proxy, node, producer, witness;
  const P = "pflight";

  before(async () => {
    redis = await startRedis();
    proxy = await startRedisProxy(redis.port);
    node = await startRoomcast(["--redis", proxy.url]);
    producer = await startProducer(node.bootstrap);
    // It reconnects by itself: the restart is a bus gap for the node too.
    witness = await gatedClient(node.url, "w-flight", [P]);
  });

  after(async () => {
    witness?.close();
    await producer?.stop();
    const exit = await node?.stop();
    assert.equal(exit?.code, 0, `the node exits 0:\n${node?.logs.slice(-20).join("\n")}`);
    await proxy?.close();
    await redis?.destroy();
  });

  const send = async (n, tag) => {
    const recs = Array.from({ length: n }, () => requestRecord(P, { tag }));
    await producer.send(recs);
    await waitFor(() => recs.every((r) => receivedIds(witness, P).includes(r.event_id)), { what: `${tag} at the witness`, timeoutMs: 20000 });
    return recs.map((r) => r.event_id);
  };

  for (const [tag, variant, finish] of [
    ["cut", "its connection to Redis breaks mid-replay", (held) => proxy.cut(held)],
    ["fresh", "the new, empty store answers the replay", (held) => proxy.release(held)],
  ]) {
    test(`${variant}: exactly the missed events or recovered=false, never part of them`, async (t) => {
      const clients = {};
      for (const who of ["before", "inflight", "after"])
        clients[who] = await gatedClient(node.url, `u-${tag}-${who}`, [P]);
      const first = await send(2, `${tag}-first`);
      await waitFor(() => Object.values(clients).every((c) => receivedIds(c, P).length === 2), { what: "the first events" });
      const ids = Object.fromEntries(Object.entries(clients).map(([k, c]) => [k, c.id]));

      // Everyone drops; events are missed.
      for (const c of Object.values(clients)) {
        c.holdConnect();
        c.io.engine.close();
      }
      await waitFor(() => Object.values(clients).every((c) => !c.connected), { what: "the drops" });
      const missed = await send(3, `${tag}-missed`);

      // One recovers while all is well.
      clients.before.openConnect();
      await waitFor(() => clients.before.connects.length === 2, { what: "the first recovery" });

      // One recovers while Redis restarts empty under its replay.
      const held = proxy.holdNextReplay();
      const logsAt = node.logs.length;
      clients.inflight.openConnect();
      const conn = await held;
      await redis.stop();
      await redis.start();
      assert.equal(redisCli(redis.port, "DBSIZE"), "0", "the store came back empty");
      finish(conn);
      await waitFor(() => clients.inflight.connects.length === 2, { what: "the in-flight recovery's outcome", timeoutMs: 15000 });

      // One comes back after the restart.
      clients.after.openConnect();
      await waitFor(() => clients.after.connects.length === 2, { what: "the late recovery", timeoutMs: 15000 });

      // Live events (of the new epoch) reach all of them.
      const laterRecs = Array.from({ length: 2 }, () => requestRecord(P, { tag: `${tag}-later` }));
      await producer.send(laterRecs);
      const later = laterRecs.map((r) => r.event_id);
      await waitFor(() => Object.values(clients).every((c) => later.every((id) => receivedIds(c, P).includes(id))),
        { what: "live events after the restart", timeoutMs: 20000 });
      await sleep(300);

      // The first reconnection of each is the one under test (the restart
      // is also a bus gap, after which connected clients reconnect again).
      const outcome = (c) => c.connects[1];
      const why = (c) => {
        const line = node.logs.slice(logsAt).find((l) => l.includes(`not recovered`) && l.includes(`new socket ${outcome(c).id}`));
        return line && /not recovered \(([^)]*)\)/.exec(line)[1];
      };
      t.diagnostic(`recovered: before=${outcome(clients.before).recovered} inflight=${outcome(clients.inflight).recovered} ` +
        `(${why(clients.inflight)}) after=${outcome(clients.after).recovered} (${why(clients.after)})`);
      assert.equal(outcome(clients.before).recovered, true, "recovered before the fault");
      assert.equal(outcome(clients.before).id, ids.before, "with its socket id");
      assert.deepEqual(receivedIds(clients.before, P), [...first, ...missed, ...later], "before: every event once, in order");
      // What the in-flight replay met: the broken connection, or the new
      // store without an epoch.
      assert.equal(why(clients.inflight), tag === "cut" ? "history unavailable" : "offset of another history epoch");
      assert.equal(why(clients.after), "no session", "after: its session went with the store");
      for (const who of ["inflight", "after"]) {
        const c = clients[who];
        assert.equal(outcome(c).recovered, false, `${who}: not recovered`);
        assert.notEqual(outcome(c).id, ids[who], `${who}: a new socket`);
        assert.deepEqual(receivedIds(c, P), [...first, ...later], `${who}: nothing of the missed events, no part of them`);
      }
      for (const c of Object.values(clients)) c.close();
    });
  }
});

describe("a bus gap under load on two nodes", () => {
  let broker, redis, nodes = [], producer;
  const PROGRAMS = ["g1", "g2", "g3", "g4"];
  const clients = [];

  before(async () => {
    broker = await startBroker({ partitions: 4 });
    redis = await startRedis();
    const args = ["--kafka-brokers", broker.bootstrap, "--redis", redis.url,
      "-X", "partition.assignment.strategy=range", "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"];
    nodes = [await startRoomcast(args), await startRoomcast(args)];
    await waitFor(async () => (await Promise.all(nodes.map(async (x) => (await (await fetch(`${x.url}/healthz`)).json()).kafka.assigned))).every((a) => a > 0),
      { what: "partitions on both nodes", timeoutMs: 30000 });
    producer = await startProducer(broker.bootstrap);
  });

  after(async () => {
    for (const c of clients) c.close();
    await producer?.stop();
    for (const x of nodes) {
      const exit = await x.stop();
      assert.equal(exit.code, 0, `a node exits 0:\n${x.logs.slice(-20).join("\n")}`);
    }
    await redis?.destroy();
    await broker?.stop();
  });

  // Streams events to every program (a batch every 50 ms) until stopped;
  // every record is kept with the time its produce call resolved (when
  // the application's database has it).
  function stream(tag) {
    const produced = [];
    let on = true;
    const done = (async () => {
      while (on) {
        const batch = PROGRAMS.map((p) => requestRecord(p, { tag }));
        await producer.send(batch);
        const at = Date.now();
        for (const r of batch) produced.push({ id: r.event_id, program: r.program_id, at });
        await sleep(50);
      }
    })();
    return { produced, stop: async () => { on = false; await done; return produced; } };
  }

  // Eight clients, four on each node, half over long-polling.
  async function spread(sub) {
    const out = [];
    for (let i = 0; i < 8; i++) {
      const c = await gatedClient(nodes[i % 2].url, `${sub}${i}`, PROGRAMS, { transports: i % 4 < 2 ? ["websocket"] : ["polling"] });
      c.node = i % 2;
      clients.push(c);
      out.push(c);
    }
    return out;
  }

  const gapLogs = () => nodes.map((x) => x.logs.filter((l) => /bus gap: \d+ sessions asked to reconnect/.test(l)).length);

  test("the bus connections are killed: every client recovers every event once, in order", async (t) => {
    const cs = await spread("bus");
    const gapsBefore = gapLogs();
    const s = stream("bus");
    await sleep(2000);
    const killed = redisCli(redis.port, "CLIENT", "KILL", "TYPE", "pubsub");
    await sleep(3000);
    const produced = await s.stop();
    await waitFor(() => cs.every((c) => PROGRAMS.every((p) => receivedIds(c, p).length >= produced.filter((r) => r.program === p).length)),
      { what: "every event on every client", timeoutMs: 30000 });
    await sleep(500);
    t.diagnostic(`${produced.length} events; ${killed} bus connections killed; reconnections per client: ${cs.map((c) => c.connects.length - 1)}`);
    const gaps = gapLogs();
    assert.ok(gaps.every((g, i) => g > gapsBefore[i]), `both nodes handled a bus gap (${gapsBefore} -> ${gaps})`);
    for (const [i, c] of cs.entries()) {
      assert.ok(c.connects.length >= 2, `client ${i} was asked to reconnect`);
      assert.ok(c.connects.slice(1).every((x) => x.recovered), `client ${i}: every reconnection recovered`);
      for (const p of PROGRAMS)
        assert.deepEqual(receivedIds(c, p), produced.filter((r) => r.program === p).map((r) => r.id), `client ${i}, ${p}: every event once, in order`);
    }
    for (const p of PROGRAMS)
      assert.deepEqual(roomEventIds(redis.port, `program:${p}`).filter((id) => id.startsWith("bus-")),
        produced.filter((r) => r.program === p).map((r) => r.id), `${p}: stored once each, in order`);
  });

  test("Redis restarted empty under load: every client ends with every event once, through its resync", async (t) => {
    const cs = await spread("rst");
    const gapsBefore = gapLogs();
    const s = stream("rst");
    await sleep(2000);
    await redis.stop();
    await sleep(1500);
    await redis.start();
    await sleep(4000);
    const produced = await s.stop();
    const all = produced.map((r) => r.id);

    // A client's state: reloaded from the producer's records on each
    // recovered=false connection (what an application does on onResync),
    // plus the events it received live.
    const state = (c) => {
      const known = new Set();
      let at = 0;
      for (const conn of c.connects) {
        for (const e of c.received.slice(at, conn.at)) if (e.event === "request:created") known.add(e.args[0].eventId);
        if (!conn.recovered && conn !== c.connects[0])
          for (const r of produced) if (r.at <= conn.t) known.add(r.id);
        at = conn.at;
      }
      for (const e of c.received.slice(at)) if (e.event === "request:created") known.add(e.args[0].eventId);
      return known;
    };
    await waitFor(() => cs.every((c) => all.every((id) => state(c).has(id))),
      { what: "every client's state complete", timeoutMs: 30000,
        detail: () => cs.map((c, i) => `client ${i}: ${all.filter((id) => !state(c).has(id)).length} missing, connects ${JSON.stringify(c.connects.map((x) => x.recovered))}`).join("\n") });
    await sleep(500);

    const gaps = gapLogs();
    t.diagnostic(`${produced.length} events; resyncs per client: ${cs.map((c) => c.connects.slice(1).filter((x) => !x.recovered).length)}; ` +
      `gaps per node: ${gaps.map((g, i) => g - gapsBefore[i])}`);
    assert.ok(gaps.every((g, i) => g > gapsBefore[i]), "both nodes handled a bus gap");
    let across = 0;
    for (const [i, c] of cs.entries()) {
      const live = c.received.filter((e) => e.event === "request:created").map((e) => e.args[0].eventId);
      // Within one connection (or across a recovery), never twice; across
      // a resync, a record that the lost store had appended could come
      // again (its dedupe key went with the store): counted, allowed.
      const bounds = [...c.connects.slice(1).filter((x) => !x.recovered).map((x) => x.at), c.received.length];
      let from = 0;
      for (const to of bounds) {
        const seg = c.received.slice(from, to).filter((e) => e.event === "request:created").map((e) => e.args[0].eventId);
        assert.equal(new Set(seg).size, seg.length, `client ${i}: no event twice between two resyncs`);
        from = to;
      }
      across += live.length - new Set(live).size;
      assert.ok(c.connects.slice(1).some((x) => !x.recovered), `client ${i} was told it could not recover (the store was lost)`);
      // After its last reconnection, everything produced later came live.
      const last = c.connects.at(-1);
      const liveAfter = new Set(live.slice(live.length - c.received.slice(last.at).filter((e) => e.event === "request:created").length));
      for (const r of produced.filter((x) => x.at > last.t + 1000))
        assert.ok(liveAfter.has(r.id), `client ${i}: ${r.id}, produced after it settled, came live`);
    }
    t.diagnostic(`events delivered again across a resync: ${across}`);
    // The new store holds the events appended since the restart, once each
    // and in order.
    for (const p of PROGRAMS) {
      const stored = roomEventIds(redis.port, `program:${p}`).filter((id) => id.startsWith("rst-"));
      assert.equal(new Set(stored).size, stored.length, `${p}: no event stored twice`);
      const mine = produced.filter((r) => r.program === p).map((r) => r.id);
      assert.deepEqual(stored, mine.slice(mine.length - stored.length), `${p}: the new store holds the stream's tail, in order`);
    }
  });
});
