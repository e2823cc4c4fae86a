// Fixtures for the integration tests: start the real roomcast binary on a
// free loopback port (it binds port 0 and logs the port it got), produce
// records with roomcast-produce or kafkajs, connect socket.io-client.
import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import path from "node:path";
import jwt from "jsonwebtoken";
import { io } from "socket.io-client";
import { parseExposition, sum } from "./prom.mjs";

export const SOURCE_DIR = process.env.RC_SOURCE_DIR || path.resolve(import.meta.dirname, "../../..");
export const BUILD_DIR = process.env.RC_BUILD_DIR || path.join(SOURCE_DIR, "build");
export const SECRET = "integration-test-secret";

// Starts one of this build's binaries, reading its JSON-lines log: every
// line is kept in node.logs and given (with its msg) to onLine(node, msg);
// resolves once isReady(node) holds, rejects if the process exits first.
export async function startLogged(name, args, { env = {}, timeoutMs = 20000, onLine, isReady }) {
  const proc = spawn(path.join(BUILD_DIR, name), args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const logs = [];
  const node = { proc, logs, url: null, port: null, exited: null };
  let buffer = "";
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in ${timeoutMs} ms:\n${logs.join("\n")}`)), timeoutMs);
    proc.stderr.on("data", (chunk) => {
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        logs.push(line);
        if (process.env.RC_TEST_VERBOSE) process.stderr.write(line + "\n");
        let msg = line;
        try { msg = JSON.parse(line).msg; } catch { /* not JSON: keep the line */ }
        let m;
        if ((m = /listening on (https?):\/\/([\d.]+):(\d+)/.exec(msg))) {
          node.port = Number(m[3]);
          node.url = `${m[1]}://127.0.0.1:${node.port}`;
        }
        onLine?.(node, msg);
        if (isReady(node)) {
          clearTimeout(timer);
          resolve();
        }
      }
    });
    proc.on("exit", (code, signal) => {
      node.exited = { code, signal };
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${logs.join("\n")}`));
    });
  });
  // A process that ignores the signal for 10 s is killed (its exit code is
  // then null, which the tests report), so a hang cannot stall teardown.
  node.stop = async (signal = "SIGTERM", graceMs = 10000) => {
    if (node.exited) return node.exited;
    const exited = once(proc, "exit");
    proc.kill(signal);
    const timer = setTimeout(() => {
      logs.push(`${name} ignored ${signal} for ${graceMs} ms: killed`);
      proc.kill("SIGKILL");
    }, graceMs);
    const [code, sig] = await exited;
    clearTimeout(timer);
    node.exited = { code, signal: sig };
    return node.exited;
  };
  return node;
}

// Starts build/roomcast with the given extra arguments. Resolves once the
// gateway admits clients (start-up handed the history and memberships over)
// and (embedded mode) the broker address is known; with { admitted: false },
// once it listens.
export async function startRoomcast(args = [], { env = {}, timeoutMs = 20000, admitted = true } = {}) {
  return startLogged("roomcast", ["--listen", "127.0.0.1:0", "--jwt-secret", SECRET, ...args], {
    env, timeoutMs,
    onLine: (node, msg) => {
      const m = /embedded Kafka broker listening on (\S+)/.exec(msg);
      if (m) node.bootstrap = m[1];
      if (msg === "accepting clients") node.admitted = true;
    },
    isReady: (node) => node.port && (!admitted ||
      (node.admitted && (node.bootstrap || args.includes("--kafka-brokers")))),
  });
}

// Signs an HS256 token with the test secret (jsonwebtoken: an implementation
// independent of roomcast's).
export function token(sub, claims = {}, { secret = SECRET, ...opts } = {}) {
  const expiry = "exp" in claims ? {} : { expiresIn: "1h" };
  return jwt.sign({ sub, ...claims }, secret, { algorithm: "HS256", ...expiry, ...opts });
}

// Runs build/roomcast-produce with JSON lines on stdin.
export async function produce(bootstrap, topic, record, records, framing = "bare", extraArgs = []) {
  const bin = path.join(BUILD_DIR, "roomcast-produce");
  const proc = spawn(bin, ["--brokers", bootstrap, "--topic", topic, "--record", record, "--framing", framing, ...extraArgs],
    { stdio: ["pipe", "pipe", "pipe"] });
  let err = "";
  proc.stderr.on("data", (d) => (err += d));
  proc.stdin.end(records.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const [code] = await once(proc, "exit");
  if (code !== 0) throw new Error(`roomcast-produce exited ${code}: ${err}`);
  return err;
}

// Connects a socket.io-client; resolves with the socket once connected or
// rejects with the connect_error.
export function connect(url, opts = {}) {
  const socket = io(url, { transports: ["websocket"], reconnection: false, forceNew: true, ...opts });
  const received = [];
  socket.onAny((event, ...args) => received.push({ event, args }));
  socket.received = received;
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

export async function connectError(url, opts = {}) {
  try {
    const s = await connect(url, opts);
    s.close();
  } catch (err) {
    return err;
  }
  throw new Error("connected, but a connect_error was expected");
}

export async function waitFor(pred, { timeoutMs = 15000, what = "condition", detail } = {}) {
  const start = Date.now();
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}${detail ? `\n${detail()}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The value of a metric on url's /metrics: the sum of the series of that
// name whose labels include match's (all of them by default: a labelled
// family's total), or NaN when there is none. The page must parse
// strictly (lib/prom.mjs).
export async function metric(url, name, match = {}) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return sum(parseExposition(text).samples, name, match);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function loadJSON(rel) {
  return JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, rel), "utf8"));
}
