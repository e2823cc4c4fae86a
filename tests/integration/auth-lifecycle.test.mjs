// A token's life on a live connection, with short-lived tokens: expiry
// (auth:expired, then a Socket.IO DISCONNECT after --auth-grace), auth:refresh
// during the grace period and before expiry, refused refreshes, a refreshed
// programs claim; keys reloaded on SIGHUP (RS256 from a JWKS file) without
// dropping connections; the per-user and per-address connection limits.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import jwt from "jsonwebtoken";
import WebSocket from "ws";
import { io } from "socket.io-client";
import { connect, connectError, metric, produce, sleep, startRoomcast, token, waitFor } from "./lib/fixtures.mjs";
import { agentFrom } from "./lib/cluster.mjs";

const GRACE = 1500;
const now = () => Math.floor(Date.now() / 1000);
let seq = 0;
const eid = (t) => `al-${t}-${++seq}-${process.pid}`;
const actor = { user_id: "ops", name: "Ops" };

const jobEvent = (user) => ({ event_id: eid("j"), occurred_at: Date.now(), state: "STARTED", job_id: `j${seq}`, user_id: user, program_id: null, progress: 0, message: null });
const request = (program) => ({ event_id: eid("r"), occurred_at: Date.now(), performed_by: actor, action: "CREATED", program_id: program, request_id: `r${seq}`, title: "t" });
const got = (sock, id) => sock.received.some((e) => e.args[0]?.eventId === id);

// Resolves with [payload, ms] of the next `event` on the socket.
const next = (sock, event) => new Promise((resolve) => sock.once(event, (...args) => resolve([args[0], Date.now()])));
const emitAck = (sock, event, arg) => new Promise((resolve) => sock.emit(event, arg, (ack) => resolve(ack)));

describe("expiry and refresh (HS256, leeway 0, grace 1.5 s)", () => {
  let node;
  before(async () => {
    node = await startRoomcast(["--jwt-leeway", "0", "--auth-grace", String(GRACE)]);
  });
  after(async () => {
    const exit = await node?.stop();
    assert.equal(exit?.code, 0);
  });

  test("no refresh: auth:expired at exp, then disconnected after the grace period; reconnects with a new token", async () => {
    const exp = now() + 2;
    let tokens = 0;
    // The auth option as a function: called again for every (re)connect.
    const sock = await connect(node.url, { auth: (cb) => cb({ token: tokens++ === 0 ? token("exp-1", { exp }) : token("exp-1") }) });
    const expired = next(sock, "auth:expired");
    const gone = new Promise((resolve) => sock.once("disconnect", (reason) => resolve([reason, Date.now()])));
    const [payload, tExpired] = await expired;
    assert.deepEqual(payload, { exp, graceMs: GRACE });
    assert.ok(tExpired >= exp * 1000 - 5, `auth:expired not before exp (${tExpired - exp * 1000} ms)`);
    const [reason, tGone] = await gone;
    assert.equal(reason, "io server disconnect");
    assert.ok(tGone - tExpired >= GRACE - 60, `disconnected ${tGone - tExpired} ms after auth:expired`);
    assert.ok(tGone - tExpired < GRACE + 1500, `disconnected ${tGone - tExpired} ms after auth:expired`);
    assert.ok(node.logs.some((l) => /user exp-1: token expired .*disconnecting/.test(l)), "the disconnect is logged");

    // The client comes back through its auth callback, with a fresh token.
    const back = next(sock, "connect");
    sock.connect();
    await back;
    assert.equal(tokens, 2, "the auth callback ran again");
    const ev = jobEvent("exp-1");
    await produce(node.bootstrap, "jobs.events", "JobEvent", [ev]);
    await waitFor(() => got(sock, ev.event_id), { what: "an event after the reconnect" });
    sock.close();
  });

  test("a token that expires in the far future (exp 1e16, past any millisecond clock) is accepted and lives", async () => {
    // exp * 1000 is past INT64_MAX: the server saturates the deadline
    // instead of overflowing (UBSan aborts the ASan build on an overflow).
    const sock = await connect(node.url, { auth: { token: token("exp-far", { exp: 1e16 }) } });
    const ev = jobEvent("exp-far");
    await produce(node.bootstrap, "jobs.events", "JobEvent", [ev]);
    await waitFor(() => got(sock, ev.event_id), { what: "an event on the far-future token's connection" });
    assert.ok(sock.connected);
    sock.close();
  });

  test("refresh during the grace period: ack {ok:true, exp}, stays connected, keeps receiving", async () => {
    const sock = await connect(node.url, { auth: { token: token("ref-1", { exp: now() + 2 }) } });
    const [, tExpired] = await next(sock, "auth:expired");
    const newExp = now() + 600;
    const ack = await emitAck(sock, "auth:refresh", { token: token("ref-1", { exp: newExp }) });
    assert.deepEqual(ack, { ok: true, exp: newExp });
    let disconnected = false;
    sock.on("disconnect", () => { disconnected = true; });
    await sleep(Math.max(0, tExpired + GRACE + 700 - Date.now()));
    assert.ok(sock.connected && !disconnected, "still connected after the grace period");
    const ev = jobEvent("ref-1");
    await produce(node.bootstrap, "jobs.events", "JobEvent", [ev]);
    await waitFor(() => got(sock, ev.event_id), { what: "an event after the refresh" });
    assert.equal(sock.received.filter((e) => e.event === "auth:expired").length, 1);
    sock.close();
  });

  test("refresh before expiry moves the expiry", async () => {
    const sock = await connect(node.url, { auth: { token: token("early-1", { exp: now() + 2 }) } });
    const t0 = Date.now();
    const newExp = now() + 4;
    const ack = await emitAck(sock, "auth:refresh", token("early-1", { exp: newExp })); // the token as a plain string
    assert.deepEqual(ack, { ok: true, exp: newExp });
    const [payload, t] = await next(sock, "auth:expired");
    assert.deepEqual(payload, { exp: newExp, graceMs: GRACE }, "the refreshed token's exp");
    assert.ok(t >= newExp * 1000 - 5 && t - t0 >= 2500, `auth:expired ${t - t0} ms after connecting`);
    // A refresh without exp: no expiry at all.
    const ack2 = await emitAck(sock, "auth:refresh", { token: jwt.sign({ sub: "early-1" }, "integration-test-secret", { algorithm: "HS256" }) });
    assert.deepEqual(ack2, { ok: true, exp: null });
    await sleep(GRACE + 500);
    assert.ok(sock.connected, "a token without exp keeps the socket");
    sock.close();
  });

  test("refresh with another sub, a bad or an expired token is refused; the grace period keeps running", async () => {
    const failuresBefore = await metric(node.url, "roomcast_auth_failures_total");
    const sock = await connect(node.url, { auth: { token: token("bad-1", { exp: now() + 2 }) } });
    const gone = new Promise((resolve) => sock.once("disconnect", (reason) => resolve([reason, Date.now()])));
    const [, tExpired] = await next(sock, "auth:expired");
    const refusals = [
      [{ token: token("someone-else") }, "FORBIDDEN"],
      [{ token: "abc.def.ghi" }, "TOKEN_INVALID"],
      [{ token: token("bad-1", {}, { secret: "wrong-secret" }) }, "TOKEN_INVALID"],
      [{ token: token("bad-1", { exp: now() - 30 }) }, "TOKEN_EXPIRED"],
      [{ token: "" }, "TOKEN_MISSING"],
      [{ nothing: true }, "INVALID_ARGUMENT"],
    ];
    for (const [arg, code] of refusals) {
      const ack = await emitAck(sock, "auth:refresh", arg);
      assert.equal(ack.ok, false, code);
      assert.equal(ack.error.code, code);
    }
    // Without an ack id, the refusal comes as an "error" event.
    const err = next(sock, "error");
    sock.emit("auth:refresh", { token: token("someone-else") });
    assert.equal((await err)[0].error.code, "FORBIDDEN");
    const [reason, tGone] = await gone;
    assert.equal(reason, "io server disconnect");
    assert.ok(tGone - tExpired >= GRACE - 60 && tGone - tExpired < GRACE + 1500, `disconnected ${tGone - tExpired} ms after auth:expired`);
    assert.equal(await metric(node.url, "roomcast_auth_failures_total") - failuresBefore, 6, "refused token refreshes are counted");
    for (const [arg] of refusals) if (arg.token && arg.token.length > 20) assert.ok(!node.logs.some((l) => l.includes(arg.token)), "no token in the log");
  });

  test("a refreshed programs claim replaces the old one", async () => {
    const sock = await connect(node.url, { auth: { token: token("claims-1", { programs: ["pa", "pb"] }) } });
    const witness = await connect(node.url, { auth: { token: token("claims-w", { programs: ["pa", "pb", "pc"] }) } });
    const ack = await emitAck(sock, "auth:refresh", { token: token("claims-1", { programs: ["pb", "pc"] }) });
    assert.equal(ack.ok, true);
    const evs = ["pa", "pb", "pc"].map(request);
    await produce(node.bootstrap, "requests.mutations", "RequestMutation", evs);
    await waitFor(() => evs.every((e) => got(witness, e.event_id)), { what: "the witness gets all three" });
    await waitFor(() => got(sock, evs[1].event_id) && got(sock, evs[2].event_id), { what: "pb and pc" });
    await sleep(200);
    assert.ok(!got(sock, evs[0].event_id), "pa, granted only by the old claim, is left");
    assert.deepEqual(await emitAck(sock, "join:program", "pa"), { ok: false, error: { code: "FORBIDDEN" } });
    assert.deepEqual(await emitAck(sock, "join:program", "pc"), { ok: true });
    sock.close();
    witness.close();
  });
});

describe("SIGHUP reloads the keys (RS256, JWKS file)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rc-hup-"));
  const jwksFile = path.join(dir, "jwks.json");
  const pair = (kid) => {
    const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    return { kid, privateKey, jwk: { ...publicKey.export({ format: "jwk" }), kid, use: "sig", alg: "RS256" } };
  };
  const k1 = pair("k1"), k2 = pair("k2");
  const writeJwks = (...keys) => {
    // Written aside and renamed, as a refresh job does.
    fs.writeFileSync(`${jwksFile}.new`, JSON.stringify({ keys: keys.map((k) => k.jwk) }));
    fs.renameSync(`${jwksFile}.new`, jwksFile);
  };
  const rs = (sub, k) => jwt.sign({ sub, exp: now() + 600 }, k.privateKey, { algorithm: "RS256", keyid: k.kid });
  let node;

  before(async () => {
    writeJwks(k1);
    node = await startRoomcast(["--jwt-alg", "RS256", "--jwt-jwks", jwksFile]);
  });
  after(async () => {
    const exit = await node?.stop();
    assert.equal(exit?.code, 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const hup = async (pattern) => {
    const from = node.logs.length;
    node.proc.kill("SIGHUP");
    await waitFor(() => node.logs.slice(from).some((l) => pattern.test(l)), { what: `log line ${pattern}`, detail: () => node.logs.slice(from).join("\n") });
  };

  test("a key added to the JWKS is accepted after SIGHUP; connected sockets stay", async () => {
    const old = await connect(node.url, { auth: { token: rs("hup-1", k1) } });
    let drops = 0;
    old.on("disconnect", () => drops++);
    const before = await connectError(node.url, { auth: { token: rs("hup-2", k2) } });
    assert.deepEqual(before.data, { code: "TOKEN_INVALID" }, "k2 unknown before the reload");

    writeJwks(k1, k2);
    await hup(/SIGHUP: keys reloaded: RS256 with 2 keys: k1, k2/);
    const fresh = await connect(node.url, { auth: { token: rs("hup-2", k2) } });
    assert.ok(fresh.connected, "a token of the new key connects");

    // A bad file: logged, and the keys in force stay.
    fs.writeFileSync(jwksFile, "{ not json");
    await hup(/SIGHUP: keys not reloaded, the previous keys stay in force: .*jwks\.json/);
    const still = await connect(node.url, { auth: { token: rs("hup-3", k2) } });
    still.close();

    // The old key removed: no new connection with it, the old socket stays.
    writeJwks(k2);
    await hup(/SIGHUP: keys reloaded: RS256 with 1 key/);
    const refused = await connectError(node.url, { auth: { token: rs("hup-4", k1) } });
    assert.deepEqual(refused.data, { code: "TOKEN_INVALID" });

    assert.ok(old.connected && drops === 0, "the socket connected before the reloads is untouched");
    const ev = jobEvent("hup-1");
    await produce(node.bootstrap, "jobs.events", "JobEvent", [ev]);
    await waitFor(() => got(old, ev.event_id), { what: "an event for the old socket" });
    assert.equal(await metric(node.url, "roomcast_sockets"), 2);
    old.close();
    fresh.close();
  });
});

describe("connection limits", () => {
  let node;
  before(async () => {
    node = await startRoomcast(["--max-connections-per-user", "2", "--max-connections-per-ip", "3"]);
  });
  after(async () => {
    const exit = await node?.stop();
    assert.equal(exit?.code, 0);
  });

  test("per user: the third socket of one sub is refused with TOO_MANY_CONNECTIONS", async () => {
    const errorsBefore = await metric(node.url, "roomcast_client_errors_total");
    const userLimitBefore = await metric(node.url, "roomcast_client_errors_total", { reason: "user_connection_limit" });
    // From distinct addresses, so that the per-address limit stays out of the way.
    const a = await connect(node.url, { auth: { token: token("lim-u") }, agent: agentFrom(11) });
    const b = await connect(node.url, { auth: { token: token("lim-u") }, agent: agentFrom(12), transports: ["polling"] });
    const err = await connectError(node.url, { auth: { token: token("lim-u") }, agent: agentFrom(13) });
    assert.equal(err.message, "Connection limit");
    assert.deepEqual(err.data, { code: "TOO_MANY_CONNECTIONS" });
    assert.equal(await metric(node.url, "roomcast_client_errors_total") - errorsBefore, 1);
    assert.equal(await metric(node.url, "roomcast_client_errors_total", { reason: "user_connection_limit" }) - userLimitBefore, 1);
    assert.ok(node.logs.some((l) => /TOO_MANY_CONNECTIONS \(user lim-u has 2 sockets/.test(l)), "logged with the user");
    // Another user is not affected.
    const other = await connect(node.url, { auth: { token: token("lim-v") }, agent: agentFrom(13) });
    // A socket that goes frees its place.
    a.close();
    await waitFor(async () => (await metric(node.url, "roomcast_sockets")) === 2, { what: "the closed socket gone" });
    const c = await connect(node.url, { auth: { token: token("lim-u") }, agent: agentFrom(13) });
    assert.ok(c.connected);
    for (const s of [b, c, other]) s.close();
  });

  // One Engine.IO polling handshake from a given local address.
  const handshake = (n) => new Promise((resolve, reject) => {
    const req = http.get(`${node.url}/socket.io/?EIO=4&transport=polling`, { localAddress: `127.0.0.${n}` }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, type: res.headers["content-type"], body }));
    });
    req.on("error", reject);
  });
  const closeSession = (n, sid) => new Promise((resolve, reject) => {
    const req = http.request(`${node.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`,
      { method: "POST", localAddress: `127.0.0.${n}`, headers: { "content-type": "text/plain" } }, (res) => { res.resume(); res.on("end", resolve); });
    req.on("error", reject);
    req.end("1");
  });

  test("per address: the fourth session gets HTTP 429, the WebSocket upgrade is refused", async () => {
    const errorsBefore = await metric(node.url, "roomcast_client_errors_total");
    const ipLimitBefore = await metric(node.url, "roomcast_client_errors_total", { reason: "ip_connection_limit" });
    const sids = [];
    for (let i = 0; i < 3; i++) {
      const r = await handshake(21);
      assert.equal(r.status, 200, r.body);
      sids.push(JSON.parse(r.body.slice(1)).sid);
    }
    const refused = await handshake(21);
    assert.equal(refused.status, 429);
    assert.match(refused.type, /application\/json/);
    assert.deepEqual(JSON.parse(refused.body), { code: 3, message: "Too many connections from this address" });

    const ws = new WebSocket(`${node.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`, { localAddress: "127.0.0.21" });
    const status = await new Promise((resolve) => {
      ws.on("unexpected-response", (req, res) => resolve(res.statusCode));
      ws.on("open", () => resolve("open"));
      ws.on("error", () => resolve("error"));
    });
    assert.equal(status, 429, "the upgrade is answered 429");
    ws.terminate();

    // socket.io-client from that address fails too; from another it connects.
    const sio = io(node.url, { transports: ["polling"], reconnection: false, forceNew: true, agent: agentFrom(21), auth: { token: token("ip-1") } });
    await new Promise((resolve) => sio.once("connect_error", resolve));
    sio.close();
    const elsewhere = await connect(node.url, { auth: { token: token("ip-2") }, agent: agentFrom(22) });

    assert.ok(await metric(node.url, "roomcast_client_errors_total") - errorsBefore >= 3, "refusals are counted");
    assert.ok(await metric(node.url, "roomcast_client_errors_total", { reason: "ip_connection_limit" }) - ipLimitBefore >= 3,
      "as refusals for the address");
    assert.ok(node.logs.some((l) => /handshake from 127\.0\.0\.21 refused/.test(l)), "logged with the address");

    // A session that closes frees its place.
    await closeSession(21, sids[0]);
    await waitFor(async () => (await handshake(21)).status === 200, { what: "a handshake after a close" });
    elsewhere.close();
  });
});
