// roomcast's HTTP defaults, against the real binary: the cross-origin
// policy with no --cors-origins (same-origin pages only, no CORS headers),
// with "*" (any origin, never with credentials) and with an allow-list next
// to "*" (listed origins echoed with credentials), over long-polling,
// preflight OPTIONS and the WebSocket upgrade; and HEAD on the GET routes,
// answered as GET without a body, on a connection that stays usable.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { startRoomcast, waitFor } from "./lib/fixtures.mjs";
import { RawWs, eioWs, pollBase, wsUrl } from "./lib/protocol.mjs";

const EVIL = "http://evil.test";
const APP = "https://app.test";
let plain; // no --cors-origins
let wild; // --cors-origins "*"
let mixed; // --cors-origins "https://app.test, *"

before(async () => {
  [plain, wild, mixed] = await Promise.all([
    startRoomcast([]),
    startRoomcast(["--cors-origins", "*"]),
    startRoomcast(["--cors-origins", `${APP}, *`]),
  ]);
  await waitFor(async () => (await fetch(`${plain.url}/readyz`)).status === 200, { what: "/readyz 200" });
});

after(async () => {
  const exits = await Promise.all([plain?.stop(), wild?.stop(), mixed?.stop()]);
  for (const exit of exits) assert.equal(exit?.code, 0);
});

const cors = (res) => ({
  origin: res.headers.get("access-control-allow-origin"),
  credentials: res.headers.get("access-control-allow-credentials"),
});

const preflight = (url, origin) => fetch(pollBase(url), {
  method: "OPTIONS",
  headers: { Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
});

// The HTTP status of a WebSocket upgrade from origin: 101 when it opens.
async function wsStatus(url, origin) {
  const ws = new RawWs(wsUrl(url), { headers: { Origin: origin } });
  const opened = await ws.opened.then(() => true, () => false);
  if (opened) {
    ws.close();
    return 101;
  }
  await ws.waitClose();
  return ws.response?.status;
}

describe("CORS by default: same-origin pages only", () => {
  test("another site's origin is refused, with no CORS headers, on every path in", async () => {
    const res = await fetch(pollBase(plain.url), { headers: { Origin: EVIL } });
    assert.equal(res.status, 403);
    assert.deepEqual(await res.json(), { code: 4, message: "Forbidden" });
    assert.deepEqual(cors(res), { origin: null, credentials: null });
    const pre = await preflight(plain.url, EVIL);
    await pre.arrayBuffer();
    assert.deepEqual(cors(pre), { origin: null, credentials: null });
    assert.equal(pre.headers.get("access-control-allow-methods"), null);
    assert.equal(await wsStatus(plain.url, EVIL), 403);
    const health = await fetch(`${plain.url}/healthz`, { headers: { Origin: EVIL } });
    await health.arrayBuffer();
    assert.deepEqual(cors(health), { origin: null, credentials: null });
  });

  test("the server's own origin (its page) and clients without Origin connect, without CORS headers", async () => {
    const own = plain.url; // http://127.0.0.1:PORT: the Host the request carries
    const res = await fetch(pollBase(plain.url), { headers: { Origin: own } });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^0\{"sid"/);
    assert.deepEqual(cors(res), { origin: null, credentials: null });
    const ws = await eioWs(plain.url, { headers: { Origin: own } });
    assert.equal(ws.closed, null);
    ws.close();
    const none = await fetch(pollBase(plain.url));
    assert.equal(none.status, 200);
    await none.arrayBuffer();
    assert.deepEqual(cors(none), { origin: null, credentials: null });
    // same host, other port: another origin
    const port = new URL(plain.url).port;
    const other = await fetch(pollBase(plain.url), { headers: { Origin: `http://127.0.0.1:${Number(port) + 1}` } });
    await other.arrayBuffer();
    assert.equal(other.status, 403);
  });
});

describe('CORS with "*": any origin, never with credentials', () => {
  test("polling, preflight and WebSocket let any origin in with a wildcard and no credentials", async () => {
    const res = await fetch(pollBase(wild.url), { headers: { Origin: EVIL } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.deepEqual(cors(res), { origin: "*", credentials: null });
    const pre = await preflight(wild.url, EVIL);
    assert.equal(pre.status, 204);
    assert.deepEqual(cors(pre), { origin: "*", credentials: null });
    assert.match(pre.headers.get("access-control-allow-methods"), /POST/);
    assert.match(pre.headers.get("access-control-allow-headers"), /Content-Type/i);
    assert.equal(await wsStatus(wild.url, EVIL), 101);
  });

  test("a listed origin next to the wildcard is echoed with credentials, the others get the wildcard", async () => {
    const res = await fetch(pollBase(mixed.url), { headers: { Origin: APP } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.deepEqual(cors(res), { origin: APP, credentials: "true" });
    assert.match(res.headers.get("vary") ?? "", /Origin/);
    const pre = await preflight(mixed.url, APP);
    assert.deepEqual(cors(pre), { origin: APP, credentials: "true" });
    const other = await fetch(pollBase(mixed.url), { headers: { Origin: EVIL } });
    await other.arrayBuffer();
    assert.deepEqual(cors(other), { origin: "*", credentials: null });
  });
});

// Raw HTTP/1.1 requests on one connection: HEAD answers must carry no
// body bytes, or the next response on the connection would be garbled.
async function rawExchange(port, requests) {
  const sock = net.connect(port, "127.0.0.1");
  await new Promise((resolve, reject) => { sock.once("connect", resolve); sock.once("error", reject); });
  let buf = "";
  sock.setEncoding("latin1");
  sock.on("data", (d) => (buf += d));
  const out = [];
  for (const req of requests) {
    sock.write(req);
    const deadline = Date.now() + 5000;
    let res;
    for (;;) {
      const end = buf.indexOf("\r\n\r\n");
      if (end >= 0) {
        const head = buf.slice(0, end);
        const len = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        const bodyLen = req.startsWith("HEAD") ? 0 : len;
        if (buf.length >= end + 4 + bodyLen) {
          res = { status: Number(head.split(" ")[1]), head, length: len, body: buf.slice(end + 4, end + 4 + bodyLen) };
          buf = buf.slice(end + 4 + bodyLen);
          break;
        }
      }
      if (Date.now() > deadline) throw new Error(`no complete response to ${req.split("\r\n")[0]}: ${buf.slice(0, 200)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    out.push(res);
  }
  await new Promise((r) => setTimeout(r, 100));
  sock.destroy();
  return { responses: out, leftover: buf };
}

describe("HEAD", () => {
  test("HEAD /healthz, /readyz, /metrics and / answer as GET does, without a body", async () => {
    for (const path of ["/healthz", "/readyz", "/metrics", "/"]) {
      const get = await fetch(`${plain.url}${path}`);
      const getBody = await get.text();
      const head = await fetch(`${plain.url}${path}`, { method: "HEAD" });
      assert.equal(head.status, get.status, path);
      assert.equal(head.headers.get("content-type"), get.headers.get("content-type"), path);
      assert.equal(await head.text(), "", path);
      if (path === "/" || path === "/readyz")
        assert.equal(Number(head.headers.get("content-length")), Buffer.byteLength(getBody), path);
    }
    const missing = await fetch(`${plain.url}/nope`, { method: "HEAD" });
    assert.equal(missing.status, 404);
    const put = await fetch(`${plain.url}/healthz`, { method: "PUT" });
    assert.equal(put.status, 405);
  });

  test("a HEAD answer sends no body bytes: the next request on the connection is answered cleanly", async () => {
    const req = (m, p) => `${m} ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
    const { responses, leftover } = await rawExchange(plain.port,
      [req("HEAD", "/readyz"), req("HEAD", "/healthz"), req("GET", "/readyz")]);
    assert.deepEqual(responses.map((r) => r.status), [200, 200, 200]);
    assert.equal(responses[0].length, Buffer.byteLength('{"status":"ready"}'));
    assert.ok(responses[1].length > 0);
    assert.equal(responses[2].body, '{"status":"ready"}');
    assert.equal(leftover, "");
  });
});
