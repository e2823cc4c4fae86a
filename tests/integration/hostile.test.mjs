// Hostile clients against one node: oversized WebSocket frames and POST
// bodies, slow and silent connections, WebSockets and polling sessions
// that stop answering, a flood of handshakes from one address, and a
// client that stops reading. Each case checks the clear close the code
// gives (HTTP status, WebSocket close code), that the server's memory
// stays bounded (VmRSS from /proc while the attack runs), and that a
// well-behaved socket.io-client connected throughout (the witness, from
// an address of its own) keeps receiving events produced meanwhile with a
// low delay. Attackers use raw sockets (node:net, node:http, ws), each
// from its own 127.0.0.N address where the per-address limit matters.
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { connect, metric, startRoomcast, token, waitFor, sleep } from "./lib/fixtures.mjs";
import { agentFrom, startBroker, startRedis } from "./lib/cluster.mjs";
import { RawWs, wsUrl } from "./lib/protocol.mjs";
import { health, receivedIds, requestRecord, rssKb, sampleRss, startProducer, startWitness } from "./lib/pressure.mjs";

const MAX_PAYLOAD = 10000;
const PING_INTERVAL = 1500;
const PING_TIMEOUT = 1500;
const PER_IP = 20;
// GW_HEADERS_TIMEOUT_S in gateway/server/server.c.
const HEADERS_TIMEOUT_MS = 10000;
// How long the witness may take to see an event while an attack runs.
const WITNESS_MAX_MS = 2000;
const EIO_POLL = "/socket.io/?EIO=4&transport=polling";

// Under the sanitizer build (tests/run runs these tests with it too), the
// memory ASan keeps freed blocks in (256 MiB by default) would be what the
// RSS shows: a small quarantine keeps the bounds about the server. Other
// builds ignore the variable.
const env = { ASAN_OPTIONS: [process.env.ASAN_OPTIONS, "quarantine_size_mb=4:thread_local_quarantine_size_kb=64"].filter(Boolean).join(":") };

let node, producer, witness;

before(async () => {
  node = await startRoomcast(["--max-payload", String(MAX_PAYLOAD), "--ping-interval", String(PING_INTERVAL),
    "--ping-timeout", String(PING_TIMEOUT), "--max-connections-per-ip", String(PER_IP)], { env });
  producer = await startProducer(node.bootstrap);
  witness = await startWitness(node.url, producer, { addr: 2 });
  for (let i = 0; i < 3; i++) await witness.probe(); // warm: the group has its partitions
});

after(async () => {
  witness?.close();
  await producer?.stop();
  const exit = await node?.stop();
  assert.equal(exit?.code, 0, `the node exits 0:\n${node?.logs.slice(-20).join("\n")}`);
});

// Runs attack() while the witness probes and the node's RSS is sampled;
// checks the witness's delays and the RSS growth, and reports both.
async function underAttack(t, what, attack, { rssBoundKb = 24 * 1024, target = node, witnessOf = witness } = {}) {
  const rss = sampleRss(target.proc.pid);
  const probes = witnessOf.run(300);
  let result;
  try {
    result = await attack();
  } finally {
    const delays = await probes.stop();
    const mem = rss.stop();
    const growth = mem.peak - mem.base;
    t.diagnostic(`${what}: RSS ${mem.base} KiB -> peak ${mem.peak} KiB (+${growth}); witness delays ms: ` +
      `max ${Math.max(...delays)} over ${delays.length} probes`);
    assert.ok(delays.length >= 1, `the witness probed during ${what}`);
    assert.ok(Math.max(...delays) < WITNESS_MAX_MS, `the witness's events came in < ${WITNESS_MAX_MS} ms during ${what}: ${delays}`);
    assert.ok(growth < rssBoundKb, `RSS grew by ${growth} KiB during ${what} (bound ${rssBoundKb} KiB)`);
  }
  return result;
}

// ---- raw clients ----

const addr = (n) => `127.0.0.${n}`;

// A TCP connection from 127.0.0.<from>; .closedAt is set when the server
// closes it, .data collects what it sent.
function tcp(port, from) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: "127.0.0.1", localAddress: addr(from) });
    s.data = "";
    s.closedAt = null;
    s.on("data", (d) => (s.data += d));
    s.on("close", () => { s.closedAt ??= Date.now(); });
    s.on("error", () => {});
    s.once("connect", () => { s.openedAt = Date.now(); resolve(s); });
    s.once("error", reject);
  });
}

// A raw WebSocket from 127.0.0.<from> past Engine.IO's OPEN packet.
async function eioWsFrom(from, { autoPong = true } = {}) {
  const c = await RawWs.open(wsUrl(node.url), { localAddress: addr(from), autoPong });
  c.handshake = JSON.parse((await c.next()).slice(1));
  return c;
}

// A plain HTTP request from 127.0.0.<from>: {status, headers, body}.
function httpFrom(from, path, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: node.port, path, method, headers, localAddress: addr(from), agent: false }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (data += d));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function pollHandshake(from) {
  const r = await httpFrom(from, EIO_POLL);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body.slice(1)).sid;
}

// A masked client frame header announcing len payload bytes (mask key 0:
// the payload goes as it is).
function frameHeader(len, { opcode = 1, fin = true } = {}) {
  let h;
  if (len < 126) {
    h = Buffer.alloc(6);
    h[1] = 0x80 | len;
  } else if (len < 65536) {
    h = Buffer.alloc(8);
    h[1] = 0x80 | 126;
    h.writeUInt16BE(len, 2);
  } else {
    h = Buffer.alloc(14);
    h[1] = 0x80 | 127;
    h.writeBigUInt64BE(BigInt(len), 2);
  }
  h[0] = (fin ? 0x80 : 0) | opcode;
  return h;
}

// Writes chunks on a socket until stop() says so or limit bytes went;
// resolves with the bytes written.
async function pump(sock, chunk, stop, limit) {
  let sent = 0;
  while (!stop() && sent < limit && !sock.destroyed) {
    const ok = sock.write(chunk);
    sent += chunk.length;
    if (!ok) await Promise.race([new Promise((r) => sock.once("drain", r)), sleep(200)]);
  }
  return sent;
}

const openSessions = async () => (await health(node.url)).connections;

describe("oversized input", () => {
  test("WebSocket frames over --max-payload are closed with 1009, at the frame header; memory stays bounded", async (t) => {
    const before = await openSessions();
    const kinds = {
      // A frame announcing 64 MiB, of which 100 bytes come: refused by
      // its header, not left waiting for the rest.
      async declared(c) {
        const t0 = Date.now();
        c.ws._socket.write(Buffer.concat([frameHeader(64 << 20), Buffer.alloc(100, 0x34)]));
        return { code: (await c.waitClose()).code, ms: Date.now() - t0 };
      },
      // A 4 KiB fragment, then a continuation announcing 64 KiB more.
      async continuation(c) {
        const t0 = Date.now();
        c.ws._socket.write(Buffer.concat([frameHeader(4096, { fin: false }), Buffer.alloc(4096, 0x34),
          frameHeader(64 << 10, { opcode: 0 }), Buffer.alloc(100, 0x78)]));
        return { code: (await c.waitClose()).code, ms: Date.now() - t0 };
      },
      // A message in 4 KiB fragments that never ends, sent as fast as the
      // socket takes them.
      async stream(c) {
        const chunk = "4" + "x".repeat(4095);
        let sent = 0;
        while (!c.closed && !c.error && sent < (4 << 20)) {
          await new Promise((r) => c.ws.send(chunk, { fin: false }, () => r()));
          sent += chunk.length;
        }
        return { code: (await c.waitClose()).code, sent };
      },
      // One frame of maxPayload + 1 bytes.
      async whole(c) {
        c.send(`4${"x".repeat(MAX_PAYLOAD)}`);
        return { code: (await c.waitClose()).code, sent: MAX_PAYLOAD + 1 };
      },
    };
    const names = Object.keys(kinds);
    const results = await underAttack(t, "oversized frames", async () => {
      const out = [];
      // 30 attackers from addresses of their own, 8 rounds each, at once.
      await Promise.all(Array.from({ length: 30 }, async (_, i) => {
        for (let round = 0; round < 8; round++) {
          const kind = names[(i + round) % names.length];
          const c = await eioWsFrom(10 + i);
          out.push({ kind, ...(await kinds[kind](c)) });
        }
      }));
      return out;
    });
    for (const r of results) assert.equal(r.code, 1009, `${r.kind}: closed with 1009 (${JSON.stringify(r)})`);
    // Refused at the header means closed as soon as the server reads it;
    // left waiting for the announced bytes, the connection would stay open
    // until the heartbeat ends it (pingInterval + pingTimeout, 3 s here,
    // and with another close code). The bound sits between the two: 30
    // attackers streaming at once slow the server down (1.2 s was seen
    // under ASan on a loaded machine).
    for (const r of results.filter((x) => x.ms !== undefined))
      assert.ok(r.ms < ((PING_INTERVAL + PING_TIMEOUT) * 2) / 3, `${r.kind}: refused at the frame header, ${r.ms} ms`);
    await waitFor(async () => (await openSessions()) === before, { what: "the attackers' sessions gone" });
    t.diagnostic(`bytes streamed at the server: ${results.reduce((a, r) => a + (r.sent ?? 0), 0)}`);
  });

  test("long-polling POST bodies over --max-payload get 413 and end their session; memory stays bounded", async (t) => {
    // Raw HTTP: the answer is read as soon as it comes, while the body is
    // still being pushed.
    async function post(from, sid, head, chunk, limit) {
      const s = await tcp(node.port, from);
      s.write(`POST ${EIO_POLL}&sid=${sid} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n${head}\r\n`);
      const sent = await pump(s, chunk, () => s.data.includes("\r\n\r\n") || s.closedAt, limit);
      await waitFor(() => s.data.includes("\r\n\r\n") || s.closedAt, { what: "the answer to an oversized POST" });
      await waitFor(() => s.closedAt, { what: "the server closing after it", timeoutMs: 5000 });
      return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(s.data)?.[1]), close: /\r\nconnection: close\r\n/i.test(s.data), sent, data: s.data.slice(0, 300) };
    }
    const kinds = {
      // A length over the bound: refused without reading the body.
      length: (from, sid) => post(from, sid, "Content-Length: 67108864\r\n", Buffer.alloc(64 * 1024, 0x36), 4 << 20),
      // A chunked body streaming 4 KiB chunks for ever.
      chunked: (from, sid) => post(from, sid, "Transfer-Encoding: chunked\r\n",
        Buffer.from(`1000\r\n${"6".repeat(4096)}\r\n`), 4 << 20),
      // maxPayload + 1 bytes, all of it.
      whole: (from, sid) => post(from, sid, `Content-Length: ${MAX_PAYLOAD + 1}\r\n`, Buffer.alloc(MAX_PAYLOAD + 1, 0x36), MAX_PAYLOAD + 1),
    };
    const before = await openSessions();
    const results = await underAttack(t, "oversized POST bodies", async () => {
      const out = [];
      await Promise.all(Array.from({ length: 30 }, async (_, i) => {
        for (let round = 0; round < 4; round++) {
          const from = 40 + i;
          const kind = Object.keys(kinds)[(i + round) % 3];
          const sid = await pollHandshake(from);
          const r = await kinds[kind](from, sid);
          const again = await httpFrom(from, `${EIO_POLL}&sid=${sid}`);
          out.push({ kind, ...r, after: again.status });
        }
      }));
      return out;
    });
    for (const r of results) {
      assert.equal(r.status, 413, `${r.kind}: 413 (${JSON.stringify(r)})`);
      assert.ok(r.close, `${r.kind}: with Connection: close`);
      assert.equal(r.after, 400, `${r.kind}: the session is gone (Session ID unknown)`);
    }
    assert.equal(await openSessions(), before);
  });
});

describe("slow and silent connections", () => {
  test("slow headers (a byte a second) and silent connections are dropped within the headers bound; new clients connect meanwhile", async (t) => {
    const request = `GET ${EIO_POLL} HTTP/1.1\r\nHost: x\r\nUser-Agent: ${"s".repeat(200)}\r\n\r\n`;
    const { slow, silent, joins } = await underAttack(t, "slow headers", async () => {
      // 150 slow and 100 silent connections from one address: no session
      // ever opens, so only the headers bound can end them.
      const slow = await Promise.all(Array.from({ length: 150 }, () => tcp(node.port, 100)));
      const silent = await Promise.all(Array.from({ length: 100 }, () => tcp(node.port, 101)));
      let i = 1;
      const dribble = setInterval(() => {
        const byte = request[i++ % request.length];
        for (const s of slow) if (!s.closedAt) s.write(byte);
      }, 1000);
      for (const s of slow) s.write(request[0]);
      // Meanwhile new clients connect, over both transports.
      const joins = [];
      try {
        for (let k = 0; k < 4; k++) {
          await sleep(2000);
          const t0 = Date.now();
          const c = await connect(node.url, { auth: { token: token(`newcomer${k}`) }, agent: agentFrom(102 + k),
            transports: k % 2 ? ["polling"] : ["websocket"] });
          joins.push(Date.now() - t0);
          c.close();
        }
        await waitFor(() => [...slow, ...silent].every((s) => s.closedAt), { what: "every slow and silent connection dropped",
          timeoutMs: HEADERS_TIMEOUT_MS + 5000 });
      } finally {
        clearInterval(dribble);
        for (const s of [...slow, ...silent]) s.destroy();
      }
      return { slow, silent, joins };
    });
    const lifetimes = (xs) => xs.map((s) => s.closedAt - s.openedAt);
    const life = { slow: lifetimes(slow), silent: lifetimes(silent) };
    t.diagnostic(`lifetimes ms: slow ${Math.min(...life.slow)}..${Math.max(...life.slow)}, ` +
      `silent ${Math.min(...life.silent)}..${Math.max(...life.silent)}; newcomers connected in ${joins} ms`);
    for (const [kind, ms] of Object.entries(life))
      assert.ok(ms.every((x) => x >= HEADERS_TIMEOUT_MS - 1000 && x < HEADERS_TIMEOUT_MS + 2500),
        `${kind} connections end at the headers bound (${HEADERS_TIMEOUT_MS} ms): ${ms}`);
    assert.ok(slow.every((s) => s.data === ""), "no answer to headers that never ended");
    assert.ok(joins.every((ms) => ms < 1000), `newcomers connected at once: ${joins}`);
  });

  test("a POST body sent a byte a second gets 408 within pingInterval + pingTimeout and ends its session", async (t) => {
    const bound = PING_INTERVAL + PING_TIMEOUT;
    const results = await underAttack(t, "slow POST bodies", () => Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const from = 110 + i;
      const sid = await pollHandshake(from);
      const s = await tcp(node.port, from);
      const t0 = Date.now();
      s.write(`POST ${EIO_POLL}&sid=${sid} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5000\r\n\r\n`);
      const dribble = setInterval(() => { if (!s.closedAt) s.write("6"); }, 1000);
      try {
        await waitFor(() => s.closedAt, { what: "the slow POST cut", timeoutMs: bound + 5000 });
      } finally {
        clearInterval(dribble);
      }
      const again = await httpFrom(from, `${EIO_POLL}&sid=${sid}`);
      return { ms: s.closedAt - t0, status: Number(/^HTTP\/1\.1 (\d+)/.exec(s.data)?.[1]),
        close: /\r\nconnection: close\r\n/i.test(s.data), body: s.data.slice(s.data.indexOf("\r\n\r\n") + 4), after: again.status };
    })));
    t.diagnostic(`cut after ${Math.min(...results.map((r) => r.ms))}..${Math.max(...results.map((r) => r.ms))} ms`);
    for (const r of results) {
      assert.deepEqual([r.status, r.close, JSON.parse(r.body)], [408, true, { code: 3, message: "Request body timeout" }]);
      assert.ok(r.ms >= bound - 300 && r.ms < bound + 1500, `cut at pingInterval + pingTimeout (${bound} ms): ${r.ms}`);
      assert.equal(r.after, 400, "the session is gone");
    }
  });

  test("a WebSocket that stops answering pings, or stops reading altogether, is closed within the ping timeout", async (t) => {
    const bound = PING_INTERVAL + PING_TIMEOUT;
    const before = await openSessions();
    const { mute, stalled, polls } = await underAttack(t, "unanswered pings", async () => {
      // Connected sockets that never answer a ping.
      const mute = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
        const c = await eioWsFrom(130 + i, { autoPong: false });
        c.send(`40${JSON.stringify({ token: token(`mute${i}`) })}`);
        assert.match(await c.next({ skipPings: false }), /^40\{"sid"/);
        return { c, t0: Date.now() };
      }));
      // Sockets whose client neither reads nor writes any more (TCP stays
      // open: the server cannot even write its close frame).
      const stalled = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
        const c = await eioWsFrom(140 + i, { autoPong: false });
        c.send(`40${JSON.stringify({ token: token(`stalled${i}`) })}`);
        await c.next({ skipPings: false });
        c.ws._socket.pause();
        return c;
      }));
      // Polling sessions that stop polling after their handshake.
      const polls = await Promise.all(Array.from({ length: 10 }, (_, i) => pollHandshake(150 + i)));
      const t0 = Date.now();
      await Promise.all(mute.map(({ c }) => c.waitClose(bound + 3000)));
      for (const m of mute) m.ms = Date.now() - m.t0;
      // The stalled ones are cut after the close frame's grace period (3 s).
      await waitFor(async () => (await openSessions()) === before, { what: "every unanswering session closed",
        timeoutMs: bound + 6000 });
      const closedInMs = Date.now() - t0;
      for (const c of stalled) c.ws.terminate();
      return { mute: mute.map((m) => ({ code: m.c.closed.code, ms: m.ms })), stalled: closedInMs, polls };
    });
    t.diagnostic(`mute closed after ${mute.map((m) => m.ms)} ms; every session gone ${stalled} ms after`);
    for (const m of mute) {
      assert.equal(m.code, 1000, "closed with 1000 (ping timeout)");
      assert.ok(m.ms < bound + 1000, `within pingInterval + pingTimeout (${bound} ms): ${m.ms}`);
    }
    for (const sid of polls)
      assert.equal((await httpFrom(150, `${EIO_POLL}&sid=${sid}`)).status, 400, "a polling session that stopped polling is gone");
  });
});

describe("a flood of handshakes", () => {
  test("handshakes beyond --max-connections-per-ip get 429 while other addresses connect", async (t) => {
    const FROM = 200;
    const before = await openSessions();
    const { refused, other } = await underAttack(t, "a handshake flood", async () => {
      const held = await Promise.all(Array.from({ length: PER_IP }, () => eioWsFrom(FROM)));
      // 300 more at once, both transports.
      const refused = await Promise.all(Array.from({ length: 300 }, async (_, i) => {
        if (i % 2) {
          const r = await httpFrom(FROM, EIO_POLL);
          return { transport: "polling", status: r.status, body: r.body };
        }
        const c = new RawWs(wsUrl(node.url), { localAddress: addr(FROM) });
        await c.opened.catch(() => {});
        c.close();
        return { transport: "websocket", status: c.response?.status, body: c.response?.body };
      }));
      // Another address is not affected.
      const other = await connect(node.url, { auth: { token: token("neighbour") }, agent: agentFrom(FROM + 1) });
      const otherOk = other.connected;
      other.close();
      for (const c of held) c.close();
      return { refused, other: otherOk };
    });
    for (const r of refused)
      assert.deepEqual([r.status, JSON.parse(r.body)], [429, { code: 3, message: "Too many connections from this address" }], r.transport);
    assert.ok(other, "a client from another address connects");
    // The count drops with the sessions: the address may connect again.
    await waitFor(async () => (await openSessions()) === before, { what: "the held sessions closed" });
    const again = await connect(node.url, { auth: { token: token("back") }, agent: agentFrom(FROM) });
    again.close();
  });
});

describe("a client that stops reading", () => {
  const QUEUE_MAX = 64;
  const TITLE = 16 * 1024;
  // The load goes to several programs (one partition each, mostly): the
  // mock broker keeps 5 MiB per partition, and a consumer further behind
  // than that would lose records to its retention.
  const PROGRAMS = ["big0", "big1", "big2", "big3", "big4", "big5"];
  let redis, broker, slowNode, slowProducer, slowWitness;

  // The broker runs apart (the embedded one would keep every record in
  // the node's memory) and librdkafka prefetches at most 4 MiB (its
  // default, 64 MiB, would measure the consumer's backlog): what the RSS
  // shows is the gateway's.
  before(async () => {
    redis = await startRedis();
    broker = await startBroker({ partitions: 12 });
    slowNode = await startRoomcast(["--kafka-brokers", broker.bootstrap, "--redis", redis.url,
      "--queue-max", String(QUEUE_MAX), "--history-max", "100000", "-X", "queued.max.messages.kbytes=4096"], { env });
    slowProducer = await startProducer(broker.bootstrap);
    slowWitness = await startWitness(slowNode.url, slowProducer, { addr: 3, programs: PROGRAMS });
    await slowWitness.probe();
  });

  after(async () => {
    slowWitness?.close();
    await slowProducer?.stop();
    const exit = await slowNode?.stop();
    assert.equal(exit?.code, 0);
    await redis?.destroy();
    await broker?.stop();
  });

  // Event ids with one of these tags (the witness's probes go elsewhere,
  // but a test's events must not be taken for another's).
  const ours = (...tags) => (id) => tags.some((tag) => id.startsWith(tag));

  // A reader of every program that reconnects by itself (recovery on).
  async function reader(sub) {
    const s = await connect(slowNode.url, { auth: { token: token(sub, { programs: PROGRAMS }) }, agent: agentFrom(4),
      reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
    s.connects = [{ recovered: s.recovered, id: s.id, at: 0 }];
    // at: how many messages had arrived before this connection
    s.on("connect", () => s.connects.push({ recovered: s.recovered, id: s.id, at: s.received.length }));
    return s;
  }

  test("a paused reader whose backlog stays under --queue-max loses nothing", async () => {
    const s = await reader("pauser");
    const slowBefore = await metric(slowNode.url, "roomcast_slow_disconnects_total");
    s.io.engine.transport.ws._socket.pause();
    const recs = Array.from({ length: 40 }, () => requestRecord("big0", { tag: "pause" }));
    await slowProducer.send(recs);
    await waitFor(() => receivedIds(slowWitness.socket, "big0").includes(recs.at(-1).event_id), { what: "the witness" });
    await sleep(500);
    s.io.engine.transport.ws._socket.resume();
    await waitFor(() => receivedIds(s, "big0").length === 40, { what: "the paused reader's backlog" });
    await sleep(200);
    assert.deepEqual(receivedIds(s, "big0"), recs.map((r) => r.event_id), "every event once, in order");
    assert.equal(s.connects.length, 1, "never disconnected");
    assert.equal(await metric(slowNode.url, "roomcast_slow_disconnects_total"), slowBefore);
    s.close();
  });

  test("a reader that stops for good is disconnected as slow past --queue-max, memory bounded; it comes back recovered or told it was not", async (t) => {
    const s = await reader("stopper");
    const slowBefore = await metric(slowNode.url, "roomcast_slow_disconnects_total");
    const raw = s.io.engine.transport.ws._socket;
    raw.pause();
    const produced = Object.fromEntries(PROGRAMS.map((p) => [p, []]));
    // 3000 events of 16 KiB (48 MiB) in about 12 s while it reads nothing:
    // a server that buffered them would grow by that much.
    await underAttack(t, "a reader that stopped", async () => {
      for (let b = 0; b < 150; b++) {
        const batch = Array.from({ length: 20 }, (_, i) =>
          requestRecord(PROGRAMS[(b * 20 + i) % PROGRAMS.length], { tag: "slow", titleBytes: TITLE }));
        await slowProducer.send(batch);
        for (const r of batch) produced[r.program_id].push(r.event_id);
        await sleep(80);
      }
      await waitFor(() => PROGRAMS.every((p) => receivedIds(slowWitness.socket, p).includes(produced[p].at(-1))),
        { what: "every event at the witness", timeoutMs: 30000 });
    }, { target: slowNode, witnessOf: slowWitness, rssBoundKb: 16 * 1024 });
    assert.equal(await metric(slowNode.url, "roomcast_slow_disconnects_total"), slowBefore + 1,
      "the reader (and only it) was disconnected as slow");
    for (const p of PROGRAMS)
      assert.deepEqual(receivedIds(slowWitness.socket, p).filter(ours("slow-")), produced[p], `${p}: the witness got every event once, in order`);

    // It reads again: what the kernel held, the close, then a reconnection.
    const connectsBefore = s.connects.length;
    raw.resume();
    await waitFor(() => s.connected && s.connects.length > connectsBefore, { what: "the reconnection", timeoutMs: 15000 });
    const back = s.connects.at(-1);
    const later = PROGRAMS.map((p) => requestRecord(p, { tag: "later" }));
    await slowProducer.send(later);
    await waitFor(() => later.every((r) => receivedIds(s, r.program_id).includes(r.event_id)), { what: "live events after the reconnection" });
    await sleep(300);
    const idsIn = (msgs, p) => receivedIds({ received: msgs }, p).filter(ours("slow-", "later-"));
    let read = 0;
    for (const [i, p] of PROGRAMS.entries()) {
      const before = idsIn(s.received.slice(0, back.at), p), afterReconnect = idsIn(s.received.slice(back.at), p);
      read += before.length;
      assert.deepEqual(before, produced[p].slice(0, before.length), `${p}: before the close, a prefix of the stream, in order`);
      if (back.recovered)
        assert.deepEqual(afterReconnect, [...produced[p].slice(before.length), later[i].event_id],
          `${p}: recovered: exactly the missed events, once, then the live one`);
      else
        assert.deepEqual(afterReconnect, [later[i].event_id], `${p}: not recovered: nothing partial, only live events`);
    }
    t.diagnostic(`read ${read} of 3000 events before the close; reconnected with recovered=${back.recovered}`);
    if (!back.recovered)
      assert.ok(slowNode.logs.some((l) => /connection state not recovered/.test(l)), "the node says why");
    s.close();
  });
});
