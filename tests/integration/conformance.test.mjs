// roomcast-conformance: the gateway with the protocol specifications'
// reference configuration and an echo application. The real
// socket.io-client round-trips binary arguments (Buffer, ArrayBuffer,
// nested) through message / message-with-ack over each transport, answers
// server acks, and multiplexes namespaces; the plain Engine.IO path echoes
// text and binary; the heartbeat runs at 300 ms / 200 ms.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { io } from "socket.io-client";
import { sleep } from "./lib/fixtures.mjs";
import { RS, eioPoll, eioWs, poll, post, startConformance } from "./lib/protocol.mjs";

let conf;

before(async () => {
  conf = await startConformance();
});

after(async () => {
  const exit = await conf?.stop();
  assert.equal(exit?.code, 0);
});

function client(nsp, opts) {
  const sock = io(`${conf.url}${nsp}`, { reconnection: false, forceNew: true, ...opts });
  const auth = new Promise((resolve) => sock.once("auth", resolve));
  return new Promise((resolve, reject) => {
    sock.once("connect", () => resolve({ sock, auth }));
    sock.once("connect_error", reject);
  });
}

const bytes = (...b) => Buffer.from(b);
const asBuffer = (v) => Buffer.from(v instanceof ArrayBuffer ? new Uint8Array(v) : v);

for (const [label, transports] of [["polling", ["polling"]], ["websocket", ["websocket"]]]) {
  describe(`socket.io-client over ${label}`, () => {
    test("binary arguments round trip through message and message-with-ack", async () => {
      const { sock, auth } = await client("/", { transports, auth: { token: "abc", n: 1 } });
      try {
        assert.deepEqual(await auth, { token: "abc", n: 1 }, "auth echoes the CONNECT payload");
        assert.equal(sock.io.engine.transport.name, transports[0]);
        const big = Buffer.alloc(70000, 7);
        const ab = new Uint8Array([9, 8, 7]).buffer;
        const args = [bytes(1, 2, 3), { nested: { list: [ab, "text", bytes()] }, n: 1.25 }, big, "end"];
        const back = new Promise((resolve) => sock.once("message-back", (...a) => resolve(a)));
        sock.emit("message", ...args);
        const got = await back;
        assert.equal(got.length, 4);
        assert.deepEqual(asBuffer(got[0]), bytes(1, 2, 3));
        assert.deepEqual(asBuffer(got[1].nested.list[0]), bytes(9, 8, 7));
        assert.equal(got[1].nested.list[1], "text");
        assert.deepEqual(asBuffer(got[1].nested.list[2]), bytes());
        assert.equal(got[1].n, 1.25);
        assert.deepEqual(asBuffer(got[2]), big);
        assert.equal(got[3], "end");

        const acked = await sock.timeout(5000).emitWithAck("message-with-ack", { a: [bytes(4, 5)] }, 42);
        assert.deepEqual(asBuffer(acked.a[0]), bytes(4, 5));
        const plain = await sock.timeout(5000).emitWithAck("message-with-ack", "x", null, [true]);
        assert.equal(plain, "x", "an ack resolves with its first argument");
      } finally {
        sock.close();
      }
    });

    test("the server asks for an ack and receives the client's", async () => {
      const { sock } = await client("/", { transports });
      try {
        sock.on("ack-request", (a, b, ack) => ack("pong", a + 1, { buf: bytes(b.length) }));
        const resp = new Promise((resolve) => sock.once("ack-response", (...a) => resolve(a)));
        sock.emit("emit-with-ack", 41, bytes(0, 0, 0));
        const [pong, n, obj] = await resp;
        assert.equal(pong, "pong");
        assert.equal(n, 42);
        assert.deepEqual(asBuffer(obj.buf), bytes(3));
      } finally {
        sock.close();
      }
    });

    test("namespaces / and /custom share one Engine.IO session", async () => {
      const root = io(conf.url, { transports, reconnection: false, forceNew: true });
      const custom = root.io.socket("/custom", { auth: { who: "custom" } });
      const authCustom = new Promise((resolve) => custom.once("auth", resolve));
      custom.connect();
      try {
        await Promise.all([new Promise((r) => root.once("connect", r)), new Promise((r) => custom.once("connect", r))]);
        assert.deepEqual(await authCustom, { who: "custom" });
        assert.equal(root.io.engine.id, custom.io.engine.id);
        const b1 = new Promise((r) => custom.once("message-back", r));
        custom.emit("message", "to custom");
        assert.equal(await b1, "to custom");
        custom.disconnect();
        const b2 = new Promise((r) => root.once("message-back", r));
        root.emit("message", "to main");
        assert.equal(await b2, "to main");
        await assert.rejects(
          new Promise((resolve, reject) => {
            const bad = root.io.socket("/nope");
            bad.once("connect_error", (e) => reject(e));
            bad.once("connect", resolve);
            bad.connect();
          }),
          /Invalid namespace/,
        );
      } finally {
        root.close();
      }
    });
  });
}

describe("plain Engine.IO on /engine.io/", () => {
  test("WebSocket: text and binary messages come back as they were sent", async () => {
    const c = await eioWs(conf.url, { p: "/engine.io/" });
    assert.deepEqual(c.handshake.upgrades, []);
    assert.equal(c.handshake.pingInterval, 300);
    assert.equal(c.handshake.pingTimeout, 200);
    assert.equal(c.handshake.maxPayload, 1000000);
    c.send("4héllo");
    assert.equal(await c.next(), "4héllo");
    c.send(bytes(0, 255, 1));
    assert.deepEqual(await c.next(), bytes(0, 255, 1));
    c.send("4");
    assert.equal(await c.next(), "4");
    c.close();
  });

  test("polling: a payload of text and base64 binary packets comes back joined", async () => {
    const { sid, open } = await eioPoll(conf.url, { p: "/engine.io/" });
    assert.deepEqual(open.upgrades, ["websocket"]);
    const body = ["4one", "bAQIDBA==", "4two"].join(RS);
    assert.equal((await post(conf.url, sid, body, { p: "/engine.io/" })).text, "ok");
    assert.equal((await poll(conf.url, sid, { p: "/engine.io/" })).text, body);
    // a session of one path is unknown on the other
    assert.equal((await poll(conf.url, sid)).status, 400);
  });

  test("heartbeat: a ping every 300 ms over polling; no pong within 200 ms ends the session", async () => {
    const { sid } = await eioPoll(conf.url, { p: "/engine.io/" });
    for (let i = 0; i < 2; i++) {
      const t0 = Date.now();
      const g = await poll(conf.url, sid, { p: "/engine.io/" });
      assert.equal(g.text, "2");
      assert.ok(Date.now() - t0 < 600, "the held GET is answered by the ping");
      assert.equal((await post(conf.url, sid, "3", { p: "/engine.io/" })).status, 200);
    }
    await sleep(300 + 200 + 50);
    assert.equal((await poll(conf.url, sid, { p: "/engine.io/" })).status, 400);
  });

  test("heartbeat: an unanswered ping closes the WebSocket", async () => {
    const t0 = Date.now();
    const c = await eioWs(conf.url, { p: "/engine.io/", autoPong: false });
    assert.equal(await c.next({ skipPings: false }), "2");
    await c.waitClose(2000);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 450 && elapsed < 1200, `closed after ${elapsed} ms`);
  });
});

test("the server library alone serves no product routes", async () => {
  // roomcast's routes belong to its application, not to the server the
  // conformance binary is built from.
  for (const path of ["/", "/index.html", "/healthz", "/readyz", "/metrics", "/demo/token?sub=a"]) {
    const res = await fetch(`${conf.url}${path}`);
    assert.equal(res.status, 404, path);
    await res.arrayBuffer();
  }
  const res = await fetch(`${conf.url}/healthz`, { method: "POST", body: "x" });
  assert.equal(res.status, 405);
  await res.arrayBuffer();
});
