// Every way in is checked: a table of bad tokens against roomcast configured
// for RS256 with two keys (rotation, selected by kid), an issuer and an
// audience. Each gets CONNECT_ERROR with the contract's code and reaches no
// room; the good tokens (either key, with or without kid, via auth.token or
// an Authorization header) connect and receive their events.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import jwt from "jsonwebtoken";
import { connect, connectError, metric, produce, startRoomcast, waitFor, sleep } from "./lib/fixtures.mjs";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rc-auth-"));
const key = (name) => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  fs.writeFileSync(path.join(dir, `${name}.pem`), publicKey.export({ type: "spki", format: "pem" }));
  return { privateKey, publicPem: publicKey.export({ type: "spki", format: "pem" }) };
};
const k2026a = key("2026-a"), k2026b = key("2026-b"), stranger = key("stranger");
fs.rmSync(path.join(dir, "stranger.pem"));
const ISS = "https://id.example.com/", AUD = "roomcast";
const now = () => Math.floor(Date.now() / 1000);

function rs(claims, { k = k2026a, kid = "2026-a", iss = ISS, aud = AUD, ...opts } = {}) {
  const payload = { iss, aud, iat: now(), exp: now() + 600, ...claims };
  // null leaves a claim out (undefined would take the default above).
  for (const [k2, v] of Object.entries(payload)) if (v === null) delete payload[k2];
  return jwt.sign(payload, k.privateKey, { algorithm: "RS256", ...(kid ? { keyid: kid } : {}), ...opts });
}
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");

let node;
before(async () => {
  node = await startRoomcast(["--jwt-alg", "RS256",
    "--jwt-public-key", `${path.join(dir, "2026-a.pem")},${path.join(dir, "2026-b.pem")}`,
    "--jwt-issuer", ISS, "--jwt-audience", AUD, "--jwt-leeway", "5"]);
});
after(async () => {
  await node?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const bad = [
  ["missing", undefined, "TOKEN_MISSING"],
  ["empty", "", "TOKEN_MISSING"],
  ["malformed", "abc.def", "TOKEN_INVALID"],
  ["garbage base64", "!!!.???.***", "TOKEN_INVALID"],
  ["bad signature", rs({ sub: "mallory" }).replace(/.{4}$/, "AAAA"), "TOKEN_INVALID"],
  ["signed by an unknown key", rs({ sub: "mallory" }, { k: stranger, kid: null }), "TOKEN_INVALID"],
  ["alg none", `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "mallory", iss: ISS, aud: AUD, exp: now() + 600 })}.`, "TOKEN_INVALID"],
  ["HS256 signed with the RSA public key (key confusion)", jwt.sign({ sub: "mallory", iss: ISS, aud: AUD }, k2026a.publicPem, { algorithm: "HS256", expiresIn: 600 }), "TOKEN_INVALID"],
  ["header naming another algorithm (RS512)", jwt.sign({ sub: "mallory", iss: ISS, aud: AUD }, k2026a.privateKey, { algorithm: "RS512", expiresIn: 600, keyid: "2026-a" }), "TOKEN_INVALID"],
  ["wrong kid (another key's)", rs({ sub: "mallory" }, { kid: "2026-b" }), "TOKEN_INVALID"],
  ["unknown kid", rs({ sub: "mallory" }, { kid: "2025-z" }), "TOKEN_INVALID"],
  ["expired", rs({ sub: "mallory", exp: now() - 60 }), "TOKEN_EXPIRED"],
  ["not yet valid", rs({ sub: "mallory", nbf: now() + 120 }), "TOKEN_INVALID"],
  ["wrong issuer", rs({ sub: "mallory" }, { iss: "https://evil.example.com/" }), "TOKEN_INVALID"],
  ["no issuer", rs({ sub: "mallory" }, { iss: null }), "TOKEN_INVALID"],
  ["no audience", rs({ sub: "mallory" }, { aud: null }), "TOKEN_INVALID"],
  ["wrong audience", rs({ sub: "mallory" }, { aud: "someone-else" }), "TOKEN_INVALID"],
  ["no sub", rs({}), "TOKEN_INVALID"],
  ["empty sub", rs({ sub: "" }), "TOKEN_INVALID"],
  ["programs not an array", rs({ sub: "mallory", programs: "p1" }), "TOKEN_INVALID"],
];

test("each bad token is refused with the right code and reaches no room", async () => {
  const failuresBefore = await metric(node.url, "roomcast_auth_failures_total");
  for (const [name, tok, code] of bad) {
    const err = await connectError(node.url, tok === undefined ? {} : { auth: { token: tok } }).catch((e) => { throw new Error(`${name}: ${e.message}`); });
    assert.equal(err.message, "Authentication error", `${name}: message`);
    assert.deepEqual(err.data, { code }, `${name}: code`);
    // The same through the Authorization header of the handshake.
    if (tok) {
      const err2 = await connectError(node.url, { extraHeaders: { authorization: `Bearer ${tok}` } });
      assert.deepEqual(err2.data, { code }, `${name} (Authorization header): code`);
    }
  }
  assert.equal(await metric(node.url, "roomcast_auth_failures_total") - failuresBefore,
    bad.length * 2 - 2, "every refusal is counted");
  assert.equal(await metric(node.url, "roomcast_sockets"), 0, "no refused socket is connected");
  // Tokens are never logged.
  for (const [, tok] of bad) if (tok && tok.length > 20) assert.ok(!node.logs.some((l) => l.includes(tok)), "token not in the log");

  // An event for mallory's user room and a claimed program reaches only a
  // legitimate client.
  const good = await connect(node.url, { auth: { token: rs({ sub: "mallory", programs: ["p1"] }) } });
  const ev = { event_id: `auth-${process.pid}`, occurred_at: Date.now(), state: "STARTED", job_id: "j", user_id: "mallory", program_id: null, progress: 0, message: null };
  await produce(node.bootstrap, "jobs.events", "JobEvent", [ev]);
  await waitFor(() => good.received.some((e) => e.args[0]?.eventId === ev.event_id), { what: "the job event" });
  await sleep(200);
  assert.equal(good.received.filter((e) => e.args[0]?.eventId === ev.event_id).length, 1);
  good.close();
});

test("good tokens: either key, with or without kid, token or header", async () => {
  const cases = [
    ["key a by kid", rs({ sub: "u1" })],
    ["key b by kid", rs({ sub: "u2" }, { k: k2026b, kid: "2026-b" })],
    ["key b without kid", rs({ sub: "u3" }, { k: k2026b, kid: null })],
    ["expired within leeway", rs({ sub: "u4", exp: now() - 2 })],
    ["audience in an array", rs({ sub: "u5" }, { aud: ["other", AUD] })],
  ];
  for (const [name, tok] of cases) {
    const s = await connect(node.url, { auth: { token: tok } });
    assert.ok(s.connected, name);
    s.close();
  }
  const h = await connect(node.url, { extraHeaders: { authorization: `Bearer ${rs({ sub: "u6" })}` } });
  assert.ok(h.connected, "Authorization: Bearer on the handshake");
  h.close();
});
