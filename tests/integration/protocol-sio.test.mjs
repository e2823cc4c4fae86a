// Socket.IO at the packet level: CONNECT and its errors, namespaces, acks in
// both directions, binary attachments over WebSocket and polling,
// malformed packets, DISCONNECT, and the client event rate limit. Raw
// packets against roomcast and against the conformance server (the same
// gateway code with an echo application).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { metric, sleep, startRoomcast, token } from "./lib/fixtures.mjs";
import { RS, RawWs, eioPoll, eioWs, poll, post, sioWs, startConformance, wsUrl } from "./lib/protocol.mjs";

const MAX_PAYLOAD = 4096;
let rc; // roomcast
let conf; // roomcast-conformance

before(async () => {
  [rc, conf] = await Promise.all([startRoomcast(["--max-payload", String(MAX_PAYLOAD)]), startConformance()]);
});

after(async () => {
  const [a, b] = await Promise.all([rc?.stop(), conf?.stop()]);
  assert.equal(a?.code, 0);
  assert.equal(b?.code, 0);
});

const tok = (sub = "ada", programs = ["p1"]) => token(sub, { programs });
const PH = (n) => `{"_placeholder":true,"num":${n}}`;

describe("CONNECT", () => {
  test("with a token: CONNECT carries the socket id and the recovery pid; without: CONNECT_ERROR with the code", async () => {
    const ok = await sioWs(rc.url, { token: tok() });
    assert.match(ok.connectReply, /^40\{"sid":"[A-Za-z0-9_-]{20}","pid":"[0-9a-f]{32}"\}$/);
    assert.notEqual(JSON.parse(ok.connectReply.slice(2)).sid, ok.handshake.sid, "socket id is not the Engine.IO sid");
    ok.close();
    const missing = await sioWs(rc.url);
    assert.equal(missing.connectReply, '44{"message":"Authentication error","data":{"code":"TOKEN_MISSING"}}');
    const bad = await sioWs(rc.url, { token: 42 });
    assert.equal(bad.connectReply, '44{"message":"Authentication error","data":{"code":"TOKEN_INVALID"}}');
    // a refused CONNECT leaves the session open for another try
    bad.send(`40${JSON.stringify({ token: tok() })}`);
    assert.match(await bad.next(), /^40\{"sid"/);
    bad.close();
    missing.close();
  });

  test("the handshake's Authorization header is used when the payload has no token", async () => {
    const c = await eioWs(rc.url, { headers: { Authorization: `Bearer ${tok()}` } });
    c.send("40");
    assert.match(await c.next(), /^40\{"sid"/);
    c.close();
  });

  test("an unknown namespace gets CONNECT_ERROR Invalid namespace and the session stays", async () => {
    const c = await eioWs(rc.url);
    c.send("40/admin,");
    assert.equal(await c.next(), '44/admin,{"message":"Invalid namespace"}');
    c.send("40/admin"); // without the trailing comma, as some clients write it
    assert.equal(await c.next(), '44/admin,{"message":"Invalid namespace"}');
    c.send(`40${JSON.stringify({ token: tok() })}`);
    assert.match(await c.next(), /^40\{"sid"/);
    c.close();
  });

  test("a second CONNECT, or an event before CONNECT, breaks the protocol and closes", async () => {
    const c = await sioWs(rc.url, { token: tok() });
    c.send(`40${JSON.stringify({ token: tok() })}`);
    assert.equal((await c.waitClose()).code, 1002);
    const d = await eioWs(rc.url);
    d.send('42["join:program","p1"]');
    assert.equal((await d.waitClose()).code, 1002);
  });
});

describe("events and acks", () => {
  test("acks carry the event's id; refusals without an id come as an error event", async () => {
    const c = await sioWs(rc.url, { token: tok() });
    const cases = [
      ['4217["join:program","p1"]', '4317[{"ok":true}]'],
      ['42900719925474099["join:program",{"programId":"p1"}]', '43900719925474099[{"ok":true}]'],
      ['4218["join:program","p2"]', '4318[{"ok":false,"error":{"code":"FORBIDDEN"}}]'],
      ['4219["join:program",{}]', '4319[{"ok":false,"error":{"code":"INVALID_ARGUMENT"}}]'],
      ['4220["join:program","a\\u0001b"]', '4320[{"ok":false,"error":{"code":"INVALID_ARGUMENT"}}]'],
      ['4221["leave:program",1]', '4321[{"ok":true}]'],
      ['4222["launch:rocket"]', '4322[{"ok":false,"error":{"code":"INVALID_ARGUMENT","message":"unknown event"}}]'],
      ['42["launch:rocket",1]', '42["error",{"ok":false,"error":{"code":"INVALID_ARGUMENT","message":"unknown event"}}]'],
      ['42["join:program","p2"]', '42["error",{"ok":false,"error":{"code":"FORBIDDEN"}}]'],
    ];
    for (const [send, expect] of cases) {
      c.send(send);
      assert.equal(await c.next(), expect, send);
    }
    // an ACK from the client that matches nothing is ignored
    c.send("4377[]");
    c.send('4223["join:program","p1"]');
    assert.equal(await c.next(), '4323[{"ok":true}]');
    c.close();
  });

  test("malformed Socket.IO packets close the connection", async () => {
    for (const bad of ["4abc", "42{}", '42abc["join:program"]', "42", '42["connect"]', '42[1]',
      "43[]", '4-1["x"]', "44{}", "47", '42["join:program",1', '42["a","b"]x']) {
      const c = await sioWs(rc.url, { token: tok() });
      c.send(bad);
      assert.equal((await c.waitClose()).code, 1002, bad);
    }
  });

  test("DISCONNECT leaves the namespace; the session can CONNECT again", async () => {
    const c = await sioWs(rc.url, { token: tok() });
    const first = JSON.parse(c.connectReply.slice(2)).sid;
    c.send("41");
    c.send(`40${JSON.stringify({ token: tok() })}`);
    const again = await c.next();
    assert.match(again, /^40\{"sid"/);
    assert.notEqual(JSON.parse(again.slice(2)).sid, first, "a new socket");
    c.send("41");
    c.send('42["join:program","p1"]');
    assert.equal((await c.waitClose()).code, 1002, "events on a namespace left are a protocol error");
  });
});

describe("binary attachments", () => {
  test("roomcast refuses binary arguments, and checks the attachment stream", async () => {
    const c = await sioWs(rc.url, { token: tok() });
    c.send(`451-5["join:program",${PH(0)}]`);
    c.send(Buffer.from("p1"));
    assert.equal(await c.next(), '435[{"ok":false,"error":{"code":"INVALID_ARGUMENT"}}]');
    // a text packet while an attachment is due
    c.send(`451-["join:program",${PH(0)}]`);
    c.send('42["join:program","p1"]');
    assert.equal((await c.waitClose()).code, 1002);

    const d = await sioWs(rc.url, { token: tok() });
    d.send(`45300-["x",${PH(0)}]`);
    assert.equal((await d.waitClose()).code, 1008, "more attachments than the gateway takes");

    const e = await sioWs(rc.url, { token: tok() });
    e.send(`452-["x",${PH(0)},${PH(1)}]`);
    e.send(Buffer.alloc(MAX_PAYLOAD - 100));
    e.send(Buffer.alloc(200));
    assert.equal((await e.waitClose()).code, 1009, "attachments beyond maxPayload");
  });

  test("conformance: binary events and acks round trip over WebSocket", async () => {
    const c = await sioWs(conf.url);
    assert.equal(await c.next(), '42["auth",{}]');
    c.send(`452-["message",{"a":[${PH(1)}]},${PH(0)},"x"]`);
    c.send(Buffer.from([1, 2, 3]));
    c.send(Buffer.alloc(0));
    assert.equal(await c.next(), `452-["message-back",{"a":[${PH(1)}]},${PH(0)},"x"]`);
    assert.deepEqual(await c.next(), Buffer.from([1, 2, 3]));
    assert.deepEqual(await c.next(), Buffer.alloc(0));
    c.send(`451-12["message-with-ack",${PH(0)}]`);
    c.send(Buffer.from("hi"));
    assert.equal(await c.next(), `461-12[${PH(0)}]`);
    assert.deepEqual(await c.next(), Buffer.from("hi"));
    // a binary event with no attachment at all is an event like any other
    c.send('450-["message",1.5e300,"\\u00e9"]');
    assert.equal(await c.next(), '42["message-back",1.5e300,"\\u00e9"]');
    c.close();
  });

  test("conformance: binary packets over long-polling are 'b' + base64", async () => {
    const { sid } = await eioPoll(conf.url);
    assert.equal((await post(conf.url, sid, "40")).status, 200);
    let g = await poll(conf.url, sid);
    assert.match(g.text, new RegExp(`^40\\{"sid":"[^"]+"\\}${RS}42\\["auth",\\{\\}\\]$`));
    const r = await post(conf.url, sid, [`452-7["message-with-ack",${PH(0)},${PH(1)}]`, "bAQID", "b/w=="].join(RS));
    assert.equal(r.status, 200);
    g = await poll(conf.url, sid);
    assert.equal(g.text, [`462-7[${PH(0)},${PH(1)}]`, "bAQID", "b/w=="].join(RS));
    // bad base64 is an Engine.IO error
    assert.equal((await post(conf.url, sid, "bAQI")).status, 400);
  });
});

describe("namespaces and server acks (conformance)", () => {
  test("one session carries several namespaces; DISCONNECT leaves one", async () => {
    const c = await sioWs(conf.url, { token: "t" });
    assert.equal(await c.next(), '42["auth",{"token":"t"}]');
    c.send('40/custom,{"k":[1,2]}');
    assert.match(await c.next(), /^40\/custom,\{"sid":"[^"]+"\}$/);
    assert.equal(await c.next(), '42/custom,["auth",{"k":[1,2]}]');
    c.send('42/custom,["message","to custom"]');
    assert.equal(await c.next(), '42/custom,["message-back","to custom"]');
    c.send("41/custom,");
    c.send('42["message","to main"]');
    assert.equal(await c.next(), '42["message-back","to main"]');
    c.send('42/custom,["message","gone"]');
    assert.equal((await c.waitClose()).code, 1002);
  });

  test("the server emits with an ack request and receives the client's ACK", async () => {
    const c = await sioWs(conf.url);
    await c.next(); // auth
    c.send('42["emit-with-ack",1,{"a":"b"}]');
    assert.equal(await c.next(), '420["ack-request",1,{"a":"b"}]');
    c.send('42["emit-with-ack",2]');
    assert.equal(await c.next(), '421["ack-request",2]');
    c.send('431["second"]');
    assert.equal(await c.next(), '42["ack-response","second"]');
    c.send("43999[]"); // matches nothing: ignored
    c.send(`461-0["first",${PH(0)}]`);
    c.send(Buffer.from([9]));
    assert.equal(await c.next(), `451-["ack-response","first",${PH(0)}]`);
    assert.deepEqual(await c.next(), Buffer.from([9]));
    c.send('430["again"]'); // already answered
    c.send('42["message"]');
    assert.equal(await c.next(), '42["message-back"]');
    c.close();
  });
});

describe("CONNECT and DISCONNECT, message by message (conformance)", () => {
  // Every message is queued as it arrives (RawWs), so two frames read
  // from one TCP segment are both seen, in order. (A reader that takes one
  // message per listener, like the Socket.IO compliance suite's, misses
  // the second with ws >= 8.18, which emits them synchronously.)
  test("the auth echo follows the CONNECT reply, before the first ping", async () => {
    for (const [connect, reply, auth] of [
      ["40", "40", '42["auth",{}]'],
      ['40{"token":"123"}', "40", '42["auth",{"token":"123"}]'],
      ["40/custom,", "40/custom,", '42/custom,["auth",{}]'],
      ['40/custom,{"token":"abc"}', "40/custom,", '42/custom,["auth",{"token":"abc"}]'],
    ]) {
      const c = await RawWs.open(wsUrl(conf.url), { autoPong: false });
      try {
        assert.match(await c.next({ skipPings: false }), /^0\{/);
        c.send(connect);
        const r = await c.next(); // a slow start may see a ping first
        assert.ok(r.startsWith(reply), r);
        assert.deepEqual(Object.keys(JSON.parse(r.slice(reply.length))), ["sid"]);
        assert.equal(await c.next({ skipPings: false }), auth, connect);
        assert.equal(await c.next({ skipPings: false }), "2", "then the first ping");
      } finally {
        c.close();
      }
    }
    // over polling, both in the first answer
    const open = await fetch(`${conf.url}/socket.io/?EIO=4&transport=polling`);
    const sid = JSON.parse((await open.text()).slice(1)).sid;
    const path = `${conf.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
    assert.equal(await (await fetch(path, { method: "POST", body: "40" })).text(), "ok");
    const g = (await (await fetch(path)).text()).split(RS);
    assert.match(g[0], /^40\{"sid":"[^"]+"\}$/);
    assert.equal(g[1], '42["auth",{}]');
  });

  test("DISCONNECT: nothing answers it on '/'; '/' keeps working after '/custom' leaves", async () => {
    const c = await RawWs.open(wsUrl(conf.url), { autoPong: false });
    try {
      await c.next({ skipPings: false });
      c.send("40");
      await c.next({ skipPings: false });
      await c.next({ skipPings: false });
      c.send("41");
      assert.equal(await c.next({ skipPings: false }), "2", "the next message is a ping");
      c.send("3");
    } finally {
      c.close();
    }
    const d = await RawWs.open(wsUrl(conf.url));
    try {
      await d.next();
      d.send("40");
      assert.match(await d.next(), /^40\{/);
      assert.equal(await d.next(), '42["auth",{}]');
      d.send("40/custom");
      assert.match(await d.next(), /^40\/custom,\{/);
      assert.equal(await d.next(), '42/custom,["auth",{}]');
      d.send("41/custom");
      d.send('42["message","message to main namespace"]');
      assert.equal(await d.next(), '42["message-back","message to main namespace"]');
    } finally {
      d.close();
    }
  });
});

describe("rate limit", () => {
  test("a burst beyond the bucket is refused with RATE_LIMITED; a flood is disconnected", async () => {
    const errorsBefore = await metric(rc.url, "roomcast_client_errors_total");
    const c = await sioWs(rc.url, { token: tok("flooder") });
    const N = 30;
    for (let i = 0; i < N; i++) c.send(`42${i}["join:program","p1"]`);
    const replies = [];
    for (let i = 0; i < N; i++) replies.push(await c.next());
    const ok = replies.filter((r) => r.endsWith('[{"ok":true}]')).length;
    const limited = replies.filter((r) => r.endsWith('[{"ok":false,"error":{"code":"RATE_LIMITED"}}]')).length;
    assert.equal(ok + limited, N, replies.join("\n"));
    // burst 20, refilled at 100 per minute (one per 600 ms)
    assert.ok(ok >= 20 && ok <= 21, `${ok} accepted`);
    assert.match(replies[N - 1], /RATE_LIMITED/);

    // without ack ids, refusals come as error events; past 3 x the rate the
    // socket is disconnected and the connection closed. One event at a time:
    // a connection closed with unread input is reset, and what the client
    // had not read yet would be lost with it.
    let errors = 0, disconnect = null;
    for (let i = 0; i < 400 && !disconnect; i++) {
      c.send('42["join:program","p1"]');
      const m = await c.next();
      if (m === '42["error",{"ok":false,"error":{"code":"RATE_LIMITED"}}]') errors++;
      else if (m === "41") disconnect = m;
      else assert.fail(`unexpected ${m}`);
    }
    assert.equal(disconnect, "41");
    assert.ok(errors >= 200 && errors < 300, `${errors} refusals before the disconnect`);
    assert.equal((await c.waitClose()).code, 1000);
    assert.ok((await metric(rc.url, "roomcast_client_errors_total")) >= errorsBefore + limited + errors);
    assert.ok(rc.logs.some((l) => l.includes("over 3 x the rate limit")), "the disconnect is logged");
    // other sockets are not affected
    const d = await sioWs(rc.url, { token: tok("calm") });
    d.send('421["join:program","p1"]');
    assert.equal(await d.next(), '431[{"ok":true}]');
    d.close();
  });
});

test("the connection stays usable past the ping interval (pings answered)", async () => {
  const c = await sioWs(conf.url);
  await c.next(); // auth
  await sleep(800); // pingInterval 300 ms, pingTimeout 200 ms: pings are answered by next()
  c.send('42["message","late"]');
  assert.equal(await c.next(), '42["message-back","late"]');
  c.close();
});
