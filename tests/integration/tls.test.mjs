// HTTPS and WSS on the one port with a self-signed certificate (made here
// with openssl): socket.io-client over WebSocket only and long-polling only,
// the plain routes over HTTPS, plain HTTP refused, and clear startup errors
// for bad certificate/key settings.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { connect, produce, startRoomcast, token, waitFor } from "./lib/fixtures.mjs";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rc-tls-"));
const file = (name) => path.join(dir, name);
const selfSigned = (name) => execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
  "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
  "-keyout", file(`${name}.key`), "-out", file(`${name}.crt`)], { stdio: "pipe" });
selfSigned("server");
selfSigned("other");
const ca = fs.readFileSync(file("server.crt"));
let seq = 0;

let node;
before(async () => {
  node = await startRoomcast(["--tls-cert", file("server.crt"), "--tls-key", file("server.key")]);
});
after(async () => {
  const exit = await node?.stop();
  assert.equal(exit?.code, 0);
  fs.rmSync(dir, { recursive: true, force: true });
});

// GET over HTTPS (or HTTP) with node's own client; resolves {status, body} or rejects.
const get = (url, opts = {}) => new Promise((resolve, reject) => {
  const req = (url.startsWith("https:") ? https : http).get(url, opts, (res) => {
    let body = "";
    res.on("data", (d) => (body += d));
    res.on("end", () => resolve({ status: res.statusCode, body }));
  });
  req.on("error", reject);
  req.setTimeout(3000, () => req.destroy(new Error("timeout")));
});

test("the listener says https:// and serves /healthz, /readyz and /metrics over TLS", async () => {
  assert.match(node.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(node.logs.some((l) => /listening on https:\/\/127\.0\.0\.1:\d+/.test(l)));
  const h = await get(`${node.url}/healthz`, { ca });
  assert.equal(h.status, 200);
  assert.equal(JSON.parse(h.body).status, "ok");
  // Ready once the consumer is in its group (the first assignment).
  await waitFor(async () => (await get(`${node.url}/readyz`, { ca })).status === 200, { what: "/readyz 200" });
  assert.match((await get(`${node.url}/metrics`, { ca })).body, /^roomcast_sockets \d+$/m);
  // The certificate is what the server presents: without it as CA the
  // client refuses it.
  await assert.rejects(get(`${node.url}/healthz`), /self-signed|self signed/);
});

test("plain HTTP to the TLS port gets no answer", async () => {
  await assert.rejects(get(`${node.url.replace("https:", "http:")}/healthz`));
});

for (const transports of [["websocket"], ["polling"]]) {
  test(`socket.io-client over ${transports[0]} with TLS: JWT, then a produced event`, async () => {
    const sub = `tls-${transports[0]}`;
    const sock = await connect(node.url, { transports, ca, auth: { token: token(sub) } });
    assert.equal(sock.io.engine.transport.name, transports[0]);
    const ev = { event_id: `tls-${++seq}-${process.pid}`, occurred_at: Date.now(), state: "STARTED", job_id: "j", user_id: sub, program_id: null, progress: 0, message: null };
    await produce(node.bootstrap, "jobs.events", "JobEvent", [ev]);
    await waitFor(() => sock.received.some((e) => e.event === "job:started" && e.args[0].eventId === ev.event_id), { what: "the event over TLS" });
    sock.close();
  });
}

test("socket.io-client refuses the server without the CA", async () => {
  const err = await connect(node.url, { transports: ["websocket"], auth: { token: token("tls-noca") } }).then(
    (s) => { s.close(); return null; }, (e) => e);
  assert.ok(err, "no connection without trusting the certificate");
});

test("bad TLS settings stop the start with a clear error", async () => {
  const cases = [
    [["--tls-cert", file("server.crt")], /tls-cert and tls-key go together/],
    [["--tls-key", file("server.key")], /tls-cert and tls-key go together/],
    [["--tls-cert", file("missing.crt"), "--tls-key", file("server.key")], /tls-cert .*missing\.crt: No such file/],
    [["--tls-cert", file("server.key"), "--tls-key", file("server.key")], /no PEM certificate/],
    [["--tls-cert", file("server.crt"), "--tls-key", file("server.crt")], /no unencrypted PEM private key/],
    [["--tls-cert", file("server.crt"), "--tls-key", file("other.key")], /other\.key is not the private key of tls-cert/],
  ];
  for (const [args, re] of cases) {
    const err = await startRoomcast(args).then((n) => { n.stop(); return null; }, (e) => e);
    assert.ok(err, `${args.join(" ")}: should not start`);
    assert.match(err.message, re, args.join(" "));
  }
});
