// Engine.IO at the packet level against roomcast: raw HTTP long-polling
// (fetch) and raw WebSocket (ws) requests, good and bad, with the exact
// replies, status codes, error bodies and close codes expected.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { sleep, startRoomcast, token } from "./lib/fixtures.mjs";
import { RS, RawWs, eioPoll, eioWs, poll, pollBase, post, wsUrl } from "./lib/protocol.mjs";

const ALLOWED = "http://allowed.test:8080";
const MAX_PAYLOAD = 2000;
const CONNECT_TIMEOUT = 800;
let node;
let url;

before(async () => {
  node = await startRoomcast([
    "--cors-origins", `${ALLOWED}, http://other.test`,
    "--max-payload", String(MAX_PAYLOAD),
    "--connect-timeout", String(CONNECT_TIMEOUT),
  ]);
  url = node.url;
});

after(async () => {
  const exit = await node?.stop();
  assert.equal(exit?.code, 0);
});

const CONNECT = () => `40${JSON.stringify({ token: token("ada", { programs: ["p1"] }) })}`;

async function errorBody(res) {
  assert.match(res.headers.get("content-type"), /^application\/json/);
  return res.json();
}

describe("handshake", () => {
  test("polling: the OPEN packet carries the session parameters", async () => {
    const res = await fetch(pollBase(url));
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.equal(text[0], "0");
    const open = JSON.parse(text.slice(1));
    assert.deepEqual(Object.keys(open).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
    assert.match(open.sid, /^[A-Za-z0-9_-]{20}$/);
    assert.deepEqual(open.upgrades, ["websocket"]);
    assert.equal(open.pingInterval, 25000);
    assert.equal(open.pingTimeout, 20000);
    assert.equal(open.maxPayload, MAX_PAYLOAD);
  });

  test("websocket: the OPEN packet offers no upgrade", async () => {
    const c = await eioWs(url);
    assert.deepEqual(c.handshake.upgrades, []);
    assert.equal(c.handshake.maxPayload, MAX_PAYLOAD);
    c.close();
  });

  test("bad EIO version, transport, sid and method get 400 with the Engine.IO error body", async () => {
    const cases = [
      ["?transport=polling", "GET", { code: 5, message: "Unsupported protocol version" }],
      ["?EIO=3&transport=polling", "GET", { code: 5, message: "Unsupported protocol version" }],
      ["?EIO=abc&transport=polling", "GET", { code: 5, message: "Unsupported protocol version" }],
      ["?EIO=4", "GET", { code: 0, message: "Transport unknown" }],
      ["?EIO=4&transport=flashsocket", "GET", { code: 0, message: "Transport unknown" }],
      ["?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA", "GET", { code: 1, message: "Session ID unknown" }],
      ["?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA", "POST", { code: 1, message: "Session ID unknown" }],
      ["?EIO=4&transport=polling", "PUT", { code: 2, message: "Bad handshake method" }],
      ["?EIO=4&transport=polling", "POST", { code: 2, message: "Bad handshake method" }],
    ];
    for (const [query, method, body] of cases) {
      const res = await fetch(`${url}/socket.io/${query}`, { method, body: method === "GET" ? undefined : "" });
      assert.equal(res.status, 400, `${method} ${query}`);
      assert.deepEqual(await errorBody(res), body, `${method} ${query}`);
    }
  });

  test("websocket handshakes with a bad version, transport or sid are refused with the same bodies", async () => {
    const cases = [
      ["EIO=3&transport=websocket", { code: 5, message: "Unsupported protocol version" }],
      ["EIO=4&transport=polling", { code: 3, message: "Bad request" }],
      ["EIO=4&transport=websocket&sid=AAAAAAAAAAAAAAAAAAAA", { code: 1, message: "Session ID unknown" }],
    ];
    for (const [query, body] of cases) {
      const c = new RawWs(wsUrl(url, query));
      await assert.rejects(c.opened);
      await c.waitClose();
      assert.equal(c.response?.status, 400, query);
      assert.deepEqual(JSON.parse(c.response.body), body, query);
    }
  });
});

describe("long-polling", () => {
  test("packets are joined by the record separator both ways; POST answers ok", async () => {
    const { sid } = await eioPoll(url);
    const r = await post(url, sid, `${CONNECT()}${RS}3`);
    assert.deepEqual([r.status, r.text], [200, "ok"]);
    assert.match(r.headers.get("content-type"), /^text\/html/);
    // two replies queued: the CONNECT result, then an ack
    assert.equal((await post(url, sid, `427["join:program","p1"]`)).status, 200);
    const g = await poll(url, sid);
    assert.equal(g.status, 200);
    const packets = g.text.split(RS);
    assert.equal(packets.length, 2, g.text);
    assert.match(packets[0], /^40\{"sid":"[A-Za-z0-9_-]{20}","pid":"[0-9a-f]{32}"\}$/);
    assert.equal(packets[1], '437[{"ok":true}]');
  });

  test("a held GET is answered from the loop when something is sent", async () => {
    const { sid } = await eioPoll(url);
    const held = poll(url, sid);
    await sleep(150);
    assert.equal((await post(url, sid, CONNECT())).status, 200);
    const g = await held;
    assert.equal(g.status, 200);
    assert.match(g.text, /^40\{"sid":/);
  });

  test("a second concurrent GET closes the session", async () => {
    const { sid } = await eioPoll(url);
    const first = poll(url, sid);
    await sleep(100);
    const second = await poll(url, sid);
    assert.equal(second.status, 400);
    assert.deepEqual(JSON.parse(second.text), { code: 3, message: "Bad request" });
    const f = await first;
    assert.deepEqual([f.status, f.text], [200, "1"]);
    const third = await poll(url, sid);
    assert.deepEqual([third.status, JSON.parse(third.text).code], [400, 1]);
  });

  test("a CLOSE from the client releases the held GET with a noop and ends the session", async () => {
    const { sid } = await eioPoll(url);
    const held = poll(url, sid);
    await sleep(100);
    assert.equal((await post(url, sid, "1")).status, 200);
    const g = await held;
    assert.deepEqual([g.status, g.text], [200, "6"]);
    assert.equal((await poll(url, sid)).status, 400);
  });

  test("a malformed payload gets 400 and ends the session", async () => {
    for (const body of ["x", "4hello\x1e", "bAQ=", "7", "2ping", "5"]) {
      const { sid } = await eioPoll(url);
      const r = await post(url, sid, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.deepEqual(JSON.parse(r.text), { code: 3, message: "Bad request" });
      assert.equal((await poll(url, sid)).status, 400, `session of ${JSON.stringify(body)} is gone`);
    }
  });

  test("a POST over maxPayload gets 413 and ends the session", async () => {
    const { sid } = await eioPoll(url);
    const r = await post(url, sid, `4${"x".repeat(MAX_PAYLOAD)}`);
    assert.equal(r.status, 413);
    assert.equal((await poll(url, sid)).status, 400);
    // just under maxPayload is fine (noops: a message before CONNECT would
    // be a Socket.IO error)
    const s2 = await eioPoll(url);
    const body = Array(MAX_PAYLOAD / 2).fill("6").join(RS);
    assert.equal(body.length, MAX_PAYLOAD - 1);
    assert.equal((await post(url, s2.sid, body)).status, 200);
  });
});

describe("websocket", () => {
  test("a frame over maxPayload closes with 1009", async () => {
    const c = await eioWs(url);
    c.send(`4${"x".repeat(MAX_PAYLOAD)}`);
    assert.equal((await c.waitClose()).code, 1009);
  });

  test("malformed Engine.IO packets close the connection with 1002 (1007 for bad UTF-8)", async () => {
    for (const [frame, code] of [["x", 1002], ["", 1002], ["2ping", 1002], ["5", 1002], ["0", 1002],
      [Buffer.from([0x34, 0xc3, 0x28]), 1007]]) {
      const c = await eioWs(url);
      c.ws.send(frame, { binary: false });
      assert.equal((await c.waitClose()).code, code, JSON.stringify(frame));
    }
  });

  test("a binary frame that no binary packet announced closes with 1003", async () => {
    const c = await eioWs(url);
    c.send(CONNECT());
    assert.match(await c.next(), /^40/);
    c.send(Buffer.from([1, 2, 3]));
    assert.equal((await c.waitClose()).code, 1003);
  });

  test("a CLOSE packet ends the session", async () => {
    const c = await eioWs(url);
    c.send("1");
    assert.equal((await c.waitClose()).code, 1000);
  });

  test("a session that never sends CONNECT is closed after the connect timeout", async () => {
    const t0 = Date.now();
    const c = await eioWs(url);
    await c.waitClose(5000);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= CONNECT_TIMEOUT - 50 && elapsed < CONNECT_TIMEOUT + 1500, `closed after ${elapsed} ms`);
    // a connected one stays
    const d = await eioWs(url);
    d.send(CONNECT());
    assert.match(await d.next(), /^40/);
    await sleep(CONNECT_TIMEOUT + 300);
    assert.equal(d.closed, null);
    d.close();
  });
});

describe("upgrade", () => {
  test("probe, noop for the held GET, upgrade; then HTTP and a second WebSocket are refused", async () => {
    const { sid } = await eioPoll(url);
    await post(url, sid, CONNECT());
    assert.match((await poll(url, sid)).text, /^40\{"sid"/);
    const held = poll(url, sid);
    await sleep(100);
    const ws = await RawWs.open(wsUrl(url, `EIO=4&transport=websocket&sid=${sid}`));
    ws.send("2probe");
    assert.equal(await ws.next(), "3probe");
    const g = await held;
    assert.deepEqual([g.status, g.text], [200, "6"], "the held GET is released with a noop");
    // something queued between the probe and the upgrade goes over the
    // WebSocket once upgraded
    assert.equal((await post(url, sid, '421["join:program","p1"]')).status, 200);
    ws.send("5");
    assert.equal(await ws.next(), '431[{"ok":true}]');
    // the session now lives on the WebSocket
    ws.send('422["join:program","p2"]');
    assert.equal(await ws.next(), '432[{"ok":false,"error":{"code":"FORBIDDEN"}}]');
    const after = await poll(url, sid);
    assert.equal(after.status, 400);
    assert.deepEqual(JSON.parse(after.text), { code: 3, message: "Bad request" });
    assert.equal((await post(url, sid, "3")).status, 400);
    const second = new RawWs(wsUrl(url, `EIO=4&transport=websocket&sid=${sid}`));
    assert.equal((await second.waitClose()).code, 1008, "a second WebSocket for the session is closed");
    ws.send('423["leave:program","p1"]');
    assert.equal(await ws.next(), '433[{"ok":true}]', "the first one still works");
    ws.close();
  });

  test("a probe may not carry anything but 2probe, 5 and noop", async () => {
    const { sid } = await eioPoll(url);
    const ws = await RawWs.open(wsUrl(url, `EIO=4&transport=websocket&sid=${sid}`));
    ws.send("4hello");
    assert.equal((await ws.waitClose()).code, 1002);
    assert.equal((await poll(url, sid)).status, 400, "and the session is closed");
  });
});

describe("CORS and Origin", () => {
  test("polling echoes an allowed origin with credentials", async () => {
    const res = await fetch(pollBase(url), { headers: { Origin: ALLOWED } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), ALLOWED);
    assert.equal(res.headers.get("access-control-allow-credentials"), "true");
    assert.match(res.headers.get("vary") ?? "", /Origin/);
    const sid = JSON.parse((await res.text()).slice(1)).sid;
    const p = await post(url, sid, "6", { headers: { Origin: "http://other.test" } });
    assert.equal(p.status, 200);
    assert.equal(p.headers.get("access-control-allow-origin"), "http://other.test");
  });

  test("preflight OPTIONS allows the methods and headers clients use", async () => {
    const res = await fetch(pollBase(url), {
      method: "OPTIONS",
      headers: { Origin: ALLOWED, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), ALLOWED);
    assert.equal(res.headers.get("access-control-allow-credentials"), "true");
    assert.match(res.headers.get("access-control-allow-methods"), /POST/);
    assert.match(res.headers.get("access-control-allow-headers"), /Content-Type/i);
  });

  test("a refused origin gets 403 and no CORS headers, over polling and WebSocket", async () => {
    const res = await fetch(pollBase(url), { headers: { Origin: "http://evil.test" } });
    assert.equal(res.status, 403);
    assert.deepEqual(await res.json(), { code: 4, message: "Forbidden" });
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    const pre = await fetch(pollBase(url), { method: "OPTIONS", headers: { Origin: "http://evil.test" } });
    assert.equal(pre.headers.get("access-control-allow-origin"), null);

    const bad = new RawWs(wsUrl(url), { headers: { Origin: "http://evil.test" } });
    await bad.waitClose();
    assert.equal(bad.response?.status, 403);
    // an allowed origin, and no Origin at all (not a browser), are fine
    const good = await eioWs(url, { headers: { Origin: ALLOWED } });
    assert.equal(good.closed, null);
    good.close();
    const none = await eioWs(url);
    assert.equal(none.closed, null);
    none.close();
  });
});
