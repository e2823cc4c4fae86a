// Process lifecycle helpers: roomcast started without waiting for it to be
// ready (so a signal can land at any stage of its start-up), a timed stop,
// a TCP server that accepts and never answers (a stalled Redis), and
// history reads straight from Redis.
import { spawn, execFileSync } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import path from "node:path";
import { BUILD_DIR, SECRET } from "./fixtures.mjs";

// Must match SHUTDOWN_BOUND_MS in gateway/roomcast/roomcast_main.c.
export const SHUTDOWN_BOUND_MS = 10000;

// Spawns build/roomcast; node.logs collects its log lines as they come.
export function spawnRoomcast(args = []) {
  const proc = spawn(path.join(BUILD_DIR, "roomcast"), ["--listen", "127.0.0.1:0", "--jwt-secret", SECRET, ...args],
    { stdio: ["ignore", "pipe", "pipe"] });
  const node = { proc, logs: [], exited: null };
  let buffer = "";
  proc.stderr.on("data", (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      node.logs.push(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  });
  node.exit = once(proc, "exit").then(([code, signal]) => (node.exited = { code, signal }));
  return node;
}

// Sends signal to a node of spawnRoomcast() or startRoomcast() and waits
// for the exit, SIGKILLing after graceMs. Resolves with {code, signal, ms}:
// ms from the signal to the exit.
export async function stopTimed(node, { signal = "SIGTERM", graceMs = SHUTDOWN_BOUND_MS + 10000 } = {}) {
  if (node.exited) return { ...node.exited, ms: 0 };
  const exit = node.exit ?? once(node.proc, "exit").then(([code, sig]) => ({ code, signal: sig }));
  const t0 = Date.now();
  node.proc.kill(signal);
  const timer = setTimeout(() => node.proc.kill("SIGKILL"), graceMs);
  const { code, signal: sig } = await exit;
  clearTimeout(timer);
  return { code, signal: sig, ms: Date.now() - t0 };
}

// A TCP server that accepts connections and never writes: a Redis (or
// anything) that has stopped answering.
export async function startSilentServer() {
  const sockets = new Set();
  const srv = net.createServer((s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); s.on("error", () => {}); });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  return {
    port: srv.address().port,
    close: async () => { for (const s of sockets) s.destroy(); srv.close(); await once(srv, "close"); },
  };
}

// The eventIds stored in a room's history stream, in history order.
export function roomEventIds(redisPort, room) {
  const out = execFileSync("redis-cli", ["-p", String(redisPort), "--raw", "XRANGE", `roomcast:room:${room}`, "-", "+"],
    { encoding: "utf8", maxBuffer: 64 << 20 });
  const ids = [];
  for (const m of out.matchAll(/"eventId":"([^"]+)"/g)) ids.push(m[1]);
  return ids;
}
