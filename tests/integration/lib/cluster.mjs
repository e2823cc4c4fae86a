// Fixtures for multi-node tests: a standalone broker (roomcast-broker), a
// real redis-server, nginx configured from deploy/nginx/roomcast.conf, and
// clients that come from distinct loopback addresses so that nginx's
// per-address stickiness spreads them over the nodes.
import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { BUILD_DIR, SOURCE_DIR, sleep, waitFor } from "./fixtures.mjs";

export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address();
  srv.close();
  await once(srv, "close");
  return port;
}

function track(proc, name) {
  const out = [], stdout = [];
  proc.stdout?.on("data", (d) => { out.push(String(d)); stdout.push(String(d)); });
  proc.stderr?.on("data", (d) => out.push(String(d)));
  proc.output = () => out.join("");
  proc.stdoutText = () => stdout.join("");
  proc.exitP = once(proc, "exit");
  proc.on("exit", () => { proc.exited = true; });
  proc.name = name;
  return proc;
}

// Stops a helper process; one that does not exit within graceMs is killed,
// so that a stuck helper cannot hang a test's teardown.
async function stopProc(proc, signal = "SIGTERM", graceMs = 5000) {
  if (!proc || proc.exited) return;
  proc.kill(signal);
  const timer = setTimeout(() => {
    process.stderr.write(`${proc.name} ignored ${signal} for ${graceMs} ms: killing it\n`);
    proc.kill("SIGKILL");
  }, graceMs);
  await proc.exitP;
  clearTimeout(timer);
}

// roomcast-broker on free ports. broker.control(cmd) sends one
// fault-injection command on its stdin (see `roomcast-broker --help`) and
// resolves with its reply line ("ok ..."), rejecting on "error ...".
export async function startBroker({ partitions = 3, brokers = 1 } = {}) {
  const proc = track(spawn(path.join(BUILD_DIR, "roomcast-broker"),
    ["--partitions", String(partitions), "--brokers", String(brokers)],
    { stdio: ["pipe", "pipe", "pipe"] }), "broker");
  let line = "";
  await waitFor(() => {
    line = proc.stdoutText().split("\n")[0];
    return /^[\d.]+:\d+(,[\d.]+:\d+)*$/.test(line) || proc.exited;
  }, { what: "roomcast-broker's address" });
  if (proc.exited) throw new Error(`roomcast-broker failed: ${proc.output()}`);
  let answered = 1; // stdout lines consumed: the address, then one per command
  let queue = Promise.resolve();
  const control = (cmd) => {
    const p = queue.then(async () => {
      proc.stdin.write(cmd + "\n");
      const want = ++answered;
      let reply;
      await waitFor(() => {
        const lines = proc.stdoutText().split("\n");
        return lines.length > want && (reply = lines[want - 1]);
      }, { what: `roomcast-broker's answer to "${cmd}"`, timeoutMs: 5000 });
      if (!reply.startsWith("ok")) throw new Error(`roomcast-broker: ${cmd}: ${reply}`);
      return reply;
    });
    queue = p.catch(() => {});
    return p;
  };
  return { proc, bootstrap: line.trim(), control, stop: () => stopProc(proc) };
}

function which(bin, fallbacks) {
  for (const p of [...(process.env.PATH || "").split(":").map((d) => path.join(d, bin)), ...fallbacks])
    if (fs.existsSync(p)) return p;
  throw new Error(`${bin} not found: run deploy/bootstrap.sh --test`);
}

// A real redis-server on a free port; stop() and start() again keep the port
// (and lose the data: no persistence).
export async function startRedis() {
  const bin = which("redis-server", ["/usr/bin/redis-server", "/usr/sbin/redis-server"]);
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rc-redis-"));
  const r = { port, url: `redis://127.0.0.1:${port}/0`, proc: null };
  r.start = async () => {
    r.proc = track(spawn(bin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
      "--dir", dir, "--protected-mode", "no"], { stdio: ["ignore", "pipe", "pipe"] }), "redis");
    await waitFor(() => /Ready to accept connections/.test(r.proc.output()) || r.proc.exited, { what: "redis-server" });
    if (r.proc.exited) throw new Error(`redis-server failed: ${r.proc.output()}`);
  };
  r.stop = () => stopProc(r.proc);
  r.destroy = async () => { await r.stop(); fs.rmSync(dir, { recursive: true, force: true }); };
  await r.start();
  return r;
}

// nginx with deploy/nginx/roomcast.conf, its upstream servers replaced by the
// given nodes' ports and its listener by a free port; edit(site), when
// given, rewrites the site's text further (a variant of the configuration).
export async function startNginx(nodePorts, { edit } = {}) {
  const bin = which("nginx", ["/usr/sbin/nginx"]);
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rc-nginx-"));
  let site = fs.readFileSync(path.join(SOURCE_DIR, "deploy/nginx/roomcast.conf"), "utf8");
  const servers = nodePorts.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=5s;`).join("\n");
  site = site.replace(/^\s*server roomcast-\d+:\d+.*\n/gm, "");
  site = site.replace(/(hash \$remote_addr consistent;\n)/, `$1${servers}\n`);
  site = site.replace(/listen 80;/, `listen 127.0.0.1:${port};`);
  if (!site.includes(`127.0.0.1:${nodePorts[0]}`) || !site.includes(`listen 127.0.0.1:${port}`))
    throw new Error("deploy/nginx/roomcast.conf no longer has the expected upstream/listen lines");
  if (edit) site = edit(site);
  const conf = `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_shutdown_timeout 3s;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${site}
}
`;
  fs.writeFileSync(path.join(dir, "nginx.conf"), conf);
  const proc = track(spawn(bin, ["-c", path.join(dir, "nginx.conf"), "-p", dir, "-e", path.join(dir, "error.log")],
    { stdio: ["ignore", "pipe", "pipe"] }), "nginx");
  await waitFor(async () => {
    if (proc.exited) return true;
    try { return (await fetch(`http://127.0.0.1:${port}/healthz`)).status > 0; } catch { return false; }
  }, { what: "nginx" });
  if (proc.exited) throw new Error(`nginx failed: ${proc.output()} ${fs.existsSync(path.join(dir, "error.log")) ? fs.readFileSync(path.join(dir, "error.log"), "utf8") : ""}`);
  return {
    port, url: `http://127.0.0.1:${port}`, proc, site,
    errorLog: () => { try { return fs.readFileSync(path.join(dir, "error.log"), "utf8"); } catch { return ""; } },
    // SIGTERM is nginx's fast shutdown; SIGQUIT would wait for every proxied
    // WebSocket to close.
    stop: async () => { await stopProc(proc, "SIGTERM"); fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

// An http.Agent whose connections come from 127.0.0.N, for socket.io-client's
// `agent` option (used by both the polling and the WebSocket transport).
export function agentFrom(n) {
  return new http.Agent({ localAddress: `127.0.0.${n}`, keepAlive: true });
}

export { sleep };
