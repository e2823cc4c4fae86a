// HTTP/1.1 under the long-polling transport, against roomcast-conformance
// (plain Engine.IO echo on /engine.io/): persistent connections as RFC
// 9112 has them (kept open when the client allows it, "Connection: close"
// said and done when either side closes), and the request patterns of the
// protocols' compliance suites (node-fetch 3 on Node's keep-alive agent,
// which sends "Connection: close" on every request). Raw sockets where the
// bytes on the wire are the point.
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { RS, startConformance } from "./lib/protocol.mjs";

const EIO = "/engine.io/?EIO=4&transport=polling";
let conf;

before(async () => {
  conf = await startConformance();
});

after(async () => {
  const exit = await conf?.stop();
  assert.equal(exit?.code, 0);
});

// One TCP connection speaking raw HTTP/1.1: write requests as bytes, read
// responses (delimited by their Content-Length) in order.
class RawHttp {
  static async open(port) {
    const c = new RawHttp();
    c.sock = net.connect(port, "127.0.0.1");
    c.sock.setNoDelay(true); // splits reach the server as written
    c.buf = Buffer.alloc(0);
    c.ended = false;
    c.error = null;
    c.wake = null;
    c.sock.on("data", (d) => { c.buf = Buffer.concat([c.buf, d]); c.wake?.(); });
    c.sock.on("end", () => { c.ended = true; c.wake?.(); });
    c.sock.on("close", () => { c.ended = true; c.wake?.(); });
    c.sock.on("error", (e) => { c.error = e; c.ended = true; c.wake?.(); });
    await new Promise((resolve, reject) => { c.sock.once("connect", resolve); c.sock.once("error", reject); });
    return c;
  }

  write(data) {
    return new Promise((resolve) => this.sock.write(data, () => resolve()));
  }

  async wait(cond, what, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: nothing in ${timeoutMs} ms (${this.buf.length} bytes: ${this.buf.toString().slice(0, 200)})`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.wake = () => { clearTimeout(t); resolve(); };
      });
      this.wake = null;
    }
  }

  // The next response: {status, headers (lower-case names), body}.
  async response(timeoutMs) {
    let end = -1;
    await this.wait(() => (end = this.buf.indexOf("\r\n\r\n")) >= 0 || this.ended, "response headers", timeoutMs);
    if (end < 0) throw new Error(`connection closed before a response (${this.error?.code ?? "EOF"})`);
    const lines = this.buf.subarray(0, end).toString("latin1").split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1]);
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const len = Number(headers["content-length"]);
    assert.ok(Number.isInteger(len), `a Content-Length in ${lines.join(" | ")}`);
    await this.wait(() => this.buf.length >= end + 4 + len || this.ended, "response body", timeoutMs);
    const body = this.buf.subarray(end + 4, end + 4 + len).toString();
    this.buf = this.buf.subarray(end + 4 + len);
    return { status, headers, body };
  }

  // Resolves once the server has closed the connection.
  async closedByServer(timeoutMs = 2000) {
    await this.wait(() => this.ended, "server close", timeoutMs);
  }

  close() {
    this.sock.destroy();
  }
}

const get = (path, extra = "") => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
const postReq = (path, body, extra = "") =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
const sidOf = (r) => JSON.parse(r.body.slice(1)).sid;
// Engine.IO packets of a polling answer, pings left out.
const packets = (body) => body.split(RS).filter((p) => p !== "2");

// A request through Node's http client on the given agent: {status,
// headers, body, reused (the agent gave it a socket it had kept)}.
function nodeRequest(agent, path, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${conf.url}${path}`, { agent, method, headers }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (data += d));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: data, reused: req.reusedSocket }));
    });
    req.on("error", reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

describe("persistent connections", () => {
  test("one connection carries a handshake, POSTs, polls and a refused request", async () => {
    const c = await RawHttp.open(conf.port);
    try {
      await c.write(get(EIO));
      const open = await c.response();
      assert.equal(open.status, 200);
      assert.equal(open.headers.connection, undefined, "a kept connection is not said to close");
      const sid = sidOf(open);
      const path = `${EIO}&sid=${sid}`;
      for (const msg of ["4one", "4two"]) {
        await c.write(postReq(path, msg));
        const p = await c.response();
        assert.deepEqual([p.status, p.body, p.headers.connection], [200, "ok", undefined]);
        await c.write(get(path));
        const g = await c.response();
        assert.equal(g.status, 200);
        assert.deepEqual(packets(g.body), [msg]);
      }
      await c.write(get("/engine.io/?EIO=3&transport=polling"));
      const refused = await c.response();
      assert.deepEqual([refused.status, refused.headers.connection], [400, undefined]);
      // two requests in one write (pipelined) are answered in order
      await c.write(get(EIO) + get(EIO));
      const [a, b] = [await c.response(), await c.response()];
      assert.deepEqual([a.status, b.status], [200, 200]);
      assert.notEqual(sidOf(a), sidOf(b));
      assert.equal(c.ended, false, "the connection is still open");
    } finally {
      c.close();
    }
  });

  test("Node's keep-alive agent reuses its socket across a polling session", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const open = await nodeRequest(agent, EIO);
      const sid = sidOf(open);
      const path = `${EIO}&sid=${sid}`;
      const results = [];
      for (const msg of ["4a", "4b", "4c"]) {
        const p = await nodeRequest(agent, path, { method: "POST", body: msg, headers: { "content-type": "text/plain" } });
        const g = await nodeRequest(agent, path);
        results.push(p.reused, g.reused);
        assert.equal(p.body, "ok");
        assert.deepEqual(packets(g.body), [msg]);
      }
      assert.deepEqual(results, Array(6).fill(true), "every request after the first went over the kept socket");
    } finally {
      agent.destroy();
    }
  });

  test("'Connection: close' from the client is answered with 'Connection: close', then the close", async () => {
    for (const extra of ["Connection: close\r\n", "Connection: TE, Close\r\n", "Connection: keep-alive\r\nConnection: close\r\n"]) {
      const c = await RawHttp.open(conf.port);
      try {
        await c.write(get(EIO, extra));
        const r = await c.response();
        assert.equal(r.status, 200, extra);
        assert.equal(r.headers.connection, "close", extra);
        await c.closedByServer();
      } finally {
        c.close();
      }
    }
    // HTTP/1.0 has no keep-alive here
    const c = await RawHttp.open(conf.port);
    try {
      await c.write(`GET ${EIO} HTTP/1.0\r\nHost: x\r\n\r\n`);
      const r = await c.response();
      assert.deepEqual([r.status, r.headers.connection], [200, "close"]);
      await c.closedByServer();
    } finally {
      c.close();
    }
  });

  test("a POST refused before its body is read says 'Connection: close' and closes", async () => {
    const c = await RawHttp.open(conf.port);
    try {
      await c.write(postReq(`${EIO}&sid=nosuchsession0000000`, "4hello"));
      const r = await c.response();
      assert.deepEqual([r.status, JSON.parse(r.body).code, r.headers.connection], [400, 1, "close"]);
      await c.closedByServer();
    } finally {
      c.close();
    }
  });

  test("the compliance suites' requests: 'Connection: close' on a keep-alive agent never hits a closed socket", async () => {
    // node-fetch 3 adds "Connection: close" to every request; Node's agent
    // still keeps the socket unless the response says close too.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const headers = { connection: "close" };
    try {
      for (let i = 0; i < 5; i++) {
        const open = await nodeRequest(agent, EIO, { headers });
        const path = `${EIO}&sid=${sidOf(open)}`;
        // the next request must not go into the socket the server closes
        const p = await nodeRequest(agent, path, { method: "POST", body: "4hi", headers });
        assert.equal(open.headers.connection, "close");
        assert.deepEqual([p.status, p.body, p.reused], [200, "ok", false]);
        const g = await nodeRequest(agent, path, { headers });
        assert.deepEqual([g.status, packets(g.body), g.reused], [200, ["4hi"], false]);
        // an invalid payload: 400, and the session is gone
        const bad = await nodeRequest(agent, path, { method: "POST", body: "abc", headers });
        assert.equal(bad.status, 400);
        const after = await nodeRequest(agent, path, { headers });
        assert.deepEqual([after.status, JSON.parse(after.body).code], [400, 1]);
      }
    } finally {
      agent.destroy();
    }
  });
});
