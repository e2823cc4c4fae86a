// HTTP/1.1 under the long-polling transport, against roomcast-conformance
// (plain Engine.IO echo on /engine.io/, maxPayload 1000000): persistent
// connections as RFC 9112 has them (kept open when the client allows it,
// "Connection: close" said and done when either side closes), chunked
// POST bodies (what Node's http client sends without a length), and the
// request patterns of the protocols' compliance suites (node-fetch 3 on
// Node's keep-alive agent, which sends "Connection: close" on every
// request). Raw sockets where the bytes on the wire are the point.
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { RS, startConformance } from "./lib/protocol.mjs";

const MAX_PAYLOAD = 1000000;
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
const chunkedHead = (path, extra = "") =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n${extra}\r\n`;
const sidOf = (r) => JSON.parse(r.body.slice(1)).sid;
// Engine.IO packets of a polling answer, pings left out.
const packets = (body) => body.split(RS).filter((p) => p !== "2");

// A session of the echo path, opened with its own fetch (not the
// connection under test).
async function openSession() {
  const res = await fetch(`${conf.url}${EIO}`);
  return JSON.parse((await res.text()).slice(1)).sid;
}

const pollStatus = async (sid) => {
  const res = await fetch(`${conf.url}${EIO}&sid=${sid}`);
  await res.arrayBuffer();
  return res.status;
};

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

describe("chunked POST bodies", () => {
  test("Node's http client without a length: the chunked body is read", async () => {
    const sid = await openSession();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const res = await new Promise((resolve, reject) => {
        const req = http.request(`${conf.url}${EIO}&sid=${sid}`, { agent, method: "POST", headers: { "content-type": "text/plain" } }, (r) => {
          let body = "";
          r.on("data", (d) => (body += d));
          r.on("end", () => resolve({ status: r.statusCode, headers: r.headers, body }));
        });
        req.on("error", reject);
        assert.equal(req.getHeader("content-length"), undefined);
        req.write("4hel");
        setTimeout(() => {
          req.write(`lo${RS}4wor`);
          req.end("ld");
        }, 20);
      });
      assert.deepEqual([res.status, res.body], [200, "ok"]);
      assert.equal(res.headers.connection, "close", "the connection is not reused after a chunked body");
      const g = await nodeRequest(agent, `${EIO}&sid=${sid}`);
      assert.deepEqual(packets(g.body), ["4hello", "4world"]);
    } finally {
      agent.destroy();
    }
  });

  test("chunk extensions, upper-case sizes, trailers and arbitrary splits", async () => {
    const sid = await openSession();
    const c = await RawHttp.open(conf.port);
    try {
      const payload = `4${"é".repeat(20)}${RS}b${Buffer.from([1, 2, 3, 4]).toString("base64")}`;
      const bytes = Buffer.from(payload);
      const body = Buffer.concat([
        Buffer.from(`00A;name=value\r\n`), bytes.subarray(0, 10), Buffer.from("\r\n"),
        Buffer.from(`${(bytes.length - 10).toString(16).toUpperCase()} ; ext\r\n`), bytes.subarray(10), Buffer.from("\r\n"),
        Buffer.from("0\r\nX-Trailer: 1\r\n\r\n"),
      ]);
      await c.write(chunkedHead(`${EIO}&sid=${sid}`));
      // a byte at a time
      for (let i = 0; i < body.length; i++) await c.write(body.subarray(i, i + 1));
      const r = await c.response();
      assert.deepEqual([r.status, r.body, r.headers.connection], [200, "ok", "close"]);
      await c.closedByServer();
      const res = await fetch(`${conf.url}${EIO}&sid=${sid}`);
      assert.deepEqual(packets(await res.text()), [`4${"é".repeat(20)}`, "bAQIDBA=="]);
    } finally {
      c.close();
    }
  });

  test("a chunked body over maxPayload gets 413 and ends the session", async () => {
    // announced in one chunk size: refused before the data
    const s1 = await openSession();
    const c1 = await RawHttp.open(conf.port);
    try {
      await c1.write(chunkedHead(`${EIO}&sid=${s1}`) + `${(MAX_PAYLOAD + 1).toString(16)}\r\n4xxx`);
      const r = await c1.response();
      assert.deepEqual([r.status, r.headers.connection], [413, "close"]);
      await c1.closedByServer();
    } finally {
      c1.close();
    }
    assert.equal(await pollStatus(s1), 400);

    // in chunks that each fit: refused once the total is over
    const s2 = await openSession();
    const c2 = await RawHttp.open(conf.port);
    try {
      await c2.write(chunkedHead(`${EIO}&sid=${s2}`) + `1\r\n4\r\n`);
      const chunk = `${(100000).toString(16)}\r\n${"x".repeat(100000)}\r\n`;
      for (let sent = 1; sent <= MAX_PAYLOAD && !c2.ended && c2.buf.length === 0; sent += 100000)
        await c2.write(chunk);
      const r = await c2.response();
      assert.deepEqual([r.status, r.headers.connection], [413, "close"]);
    } finally {
      c2.close();
    }
    assert.equal(await pollStatus(s2), 400);

    // exactly maxPayload is fine
    const s3 = await openSession();
    const c3 = await RawHttp.open(conf.port);
    try {
      const body = Array(MAX_PAYLOAD / 2).fill("6").join(RS);
      assert.equal(body.length, MAX_PAYLOAD - 1);
      await c3.write(chunkedHead(`${EIO}&sid=${s3}`) + `1\r\n6\r\n${(body.length - 1).toString(16)}\r\n${body.slice(1)}\r\n0\r\n\r\n`);
      const r = await c3.response();
      assert.deepEqual([r.status, r.body], [200, "ok"]);
    } finally {
      c3.close();
    }
  });

  test("malformed chunked framing gets 400 and ends the session", async () => {
    for (const bad of ["zz\r\n4hi\r\n0\r\n\r\n", "2\r\n4hi\r\n0\r\n\r\n", "2\n4h\r\n0\r\n\r\n", "-1\r\n", `;x\r\n`, `${"0".repeat(2000)}1\r\n`]) {
      const sid = await openSession();
      const c = await RawHttp.open(conf.port);
      try {
        await c.write(chunkedHead(`${EIO}&sid=${sid}`) + bad);
        const r = await c.response();
        assert.deepEqual([r.status, JSON.parse(r.body), r.headers.connection], [400, { code: 3, message: "Bad request" }, "close"], JSON.stringify(bad));
        await c.closedByServer();
      } finally {
        c.close();
      }
      assert.equal(await pollStatus(sid), 400, JSON.stringify(bad));
    }
  });

  test("other transfer codings, or a coding with a length, are refused without reading", async () => {
    const sid = await openSession();
    for (const [headers, status] of [
      ["Transfer-Encoding: gzip, chunked\r\n", 501],
      ["Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", 400],
    ]) {
      const c = await RawHttp.open(conf.port);
      try {
        await c.write(`POST ${EIO}&sid=${sid} HTTP/1.1\r\nHost: x\r\n${headers}\r\n3\r\n4hi\r\n0\r\n\r\n`);
        const r = await c.response();
        assert.deepEqual([r.status, r.headers.connection], [status, "close"], headers);
        await c.closedByServer();
      } finally {
        c.close();
      }
    }
    // a POST without any length is refused too
    const c = await RawHttp.open(conf.port);
    try {
      await c.write(`POST ${EIO}&sid=${sid} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const r = await c.response();
      assert.deepEqual([r.status, r.headers.connection], [400, "close"]);
    } finally {
      c.close();
    }
  });
});
