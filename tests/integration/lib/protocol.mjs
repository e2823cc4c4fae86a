// Helpers for protocol-level tests: the conformance server, raw Engine.IO
// over WebSocket (the `ws` package) and over HTTP long-polling (fetch), with
// every message kept in order so that nothing is lost between two awaits.
import WebSocket from "ws";
import { startLogged } from "./fixtures.mjs";

export const RS = "\x1e";

// Starts build/roomcast-conformance on a free port (it logs the port).
export function startConformance({ timeoutMs = 10000 } = {}) {
  return startLogged("roomcast-conformance", ["--port", "0"], { timeoutMs, isReady: (node) => node.port });
}

export const wsUrl = (url, query = "EIO=4&transport=websocket", p = "/socket.io/") =>
  `${url.replace(/^http/, "ws")}${p}?${query}`;

// A WebSocket whose messages (strings for text, Buffers for binary) queue
// up until read with next(). Engine.IO pings are answered as they arrive
// (and never queued) unless autoPong is set to false.
export class RawWs {
  constructor(url, options = {}) {
    const { autoPong = true, ...wsOptions } = options;
    this.autoPong = autoPong;
    this.ws = new WebSocket(url, wsOptions);
    this.queue = [];
    this.waiters = [];
    this.closed = null;
    this.error = null;
    this.response = null;
    let opened;
    this.opened = new Promise((resolve, reject) => (opened = { resolve, reject }));
    this.opened.catch(() => {});
    this.ws.on("open", () => opened.resolve());
    this.ws.on("message", (data, isBinary) => this.push(isBinary ? Buffer.from(data) : data.toString()));
    this.ws.on("close", (code, reason) => {
      this.closed ??= { code, reason: reason.toString() };
      opened.reject(new Error(`closed (${code}) before open`));
      this.flush();
    });
    this.ws.on("error", (err) => {
      this.error ??= err;
      opened.reject(err);
      this.flush();
    });
    // A refused handshake: keep the HTTP answer.
    this.ws.on("unexpected-response", (req, res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        this.response = { status: res.statusCode, headers: res.headers, body };
        this.closed ??= { code: -1, reason: `HTTP ${res.statusCode}` };
        opened.reject(new Error(`refused with HTTP ${res.statusCode}`));
        this.flush();
        req.destroy();
      });
    });
  }

  static async open(url, options) {
    const c = new RawWs(url, options);
    await c.opened;
    return c;
  }

  push(m) {
    if (this.autoPong && m === "2") {
      this.send("3");
      return;
    }
    this.queue.push(m);
    this.flush();
  }

  flush() {
    while (this.waiters.length && (this.queue.length || this.closed)) {
      const w = this.waiters.shift();
      clearTimeout(w.timer);
      if (this.queue.length) w.resolve(this.queue.shift());
      else w.reject(new Error(`closed (${this.closed.code}) while a message was awaited`));
    }
  }

  // The next message; with skipPings, Engine.IO pings ("2") are answered
  // and skipped.
  async next({ timeoutMs = 5000, skipPings = true } = {}) {
    for (;;) {
      const m = await new Promise((resolve, reject) => {
        const w = { resolve, reject };
        w.timer = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(new Error(`no message in ${timeoutMs} ms`));
        }, timeoutMs);
        this.waiters.push(w);
        this.flush();
      });
      if (skipPings && m === "2") {
        this.send("3");
        continue;
      }
      return m;
    }
  }

  // Resolves with {code, reason} once closed.
  async waitClose(timeoutMs = 5000) {
    const start = Date.now();
    while (!this.closed) {
      if (Date.now() - start > timeoutMs) throw new Error(`not closed in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.closed;
  }

  send(data) {
    this.ws.send(data);
  }

  close() {
    if (!this.closed) this.ws.close();
  }
}

// An Engine.IO session over WebSocket, past the OPEN packet.
export async function eioWs(url, { p = "/socket.io/", query = "EIO=4&transport=websocket", headers, autoPong } = {}) {
  const c = await RawWs.open(wsUrl(url, query, p), { headers, autoPong });
  const open = await c.next();
  c.handshake = JSON.parse(open.slice(1));
  return c;
}

// A Socket.IO connection to "/" over WebSocket with the given CONNECT
// payload; resolves with the socket and the CONNECT reply.
export async function sioWs(url, auth, opts) {
  const c = await eioWs(url, opts);
  c.send(auth === undefined ? "40" : `40${JSON.stringify(auth)}`);
  c.connectReply = await c.next();
  return c;
}

export const pollBase = (url, p = "/socket.io/") => `${url}${p}?EIO=4&transport=polling`;

// GET / POST on a polling session.
export async function poll(url, sid, { p, headers } = {}) {
  const res = await fetch(`${pollBase(url, p)}&sid=${sid}`, { headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

export async function post(url, sid, body, { p, headers } = {}) {
  const res = await fetch(`${pollBase(url, p)}&sid=${sid}`, { method: "POST", body, headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

// A polling handshake: {sid, open (the OPEN packet's JSON), res}.
export async function eioPoll(url, { p, headers } = {}) {
  const res = await fetch(pollBase(url, p), { headers });
  const text = await res.text();
  if (res.status !== 200 || text[0] !== "0") throw new Error(`handshake failed: ${res.status} ${text}`);
  return { sid: JSON.parse(text.slice(1)).sid, open: JSON.parse(text.slice(1)), res };
}
