// Confluent Schema Registry support. No Confluent registry can be installed
// on these machines, so the registry here is a small registry-compatible
// HTTP server written in this file (node:http): POST
// /subjects/{subject}/versions registers a schema and hands out an id (from
// 100023 up, as a registry that has seen other schemas would), GET
// /schemas/ids/{id} answers it or 404 with error_code 40403, and every
// request must carry basic auth. Producers write Confluent-framed records
// with registry ids (roomcast-produce --schema-id/--writer-schema, and
// kafkajs+avsc), through the standalone broker, and socket.io-clients
// check what arrives: an evolved writer schema read as the current record,
// an unknown id and an unreadable schema in the DLQ with their reasons, a
// registry outage that loses nothing and sends nothing to the DLQ, the
// membership rebuild resolving ids too, and an https registry with its CA.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { Kafka, Partitioners, logLevel } from "kafkajs";
import avro from "avsc";
import { BUILD_DIR, connect, loadJSON, metric, produce, startRoomcast, token, waitFor, sleep } from "./lib/fixtures.mjs";
import { freePort, startBroker } from "./lib/cluster.mjs";
import { encode } from "./lib/avro.mjs";

const USER = "roomcast", PASSWORD = "s3cr:et pw";
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;
const T0 = Date.parse("2026-11-21T12:00:00.000Z");
let seq = 0;
const eid = (t) => `sr-${t}-${++seq}-${process.pid}`;
const actor = { user_id: "u1", name: "Ada" };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rc-registry-"));
const secretFile = path.join(dir, "jwt-secret"), passwordFile = path.join(dir, "registry-password");
fs.writeFileSync(secretFile, "0123456789abcdef0123456789abcdef\n");
fs.writeFileSync(passwordFile, `${PASSWORD}\n`);

// The registry-compatible server. reg.stop() closes it (connections too),
// reg.start() listens again on the same port with the same schemas.
async function startRegistry({ tls, firstId = 100023 } = {}) {
  const port = await freePort();
  const reg = { port, url: `${tls ? "https" : "http"}://127.0.0.1:${port}`, schemas: new Map(), requests: [], server: null, nextId: firstId };
  const send = (res, status, body) => {
    res.writeHead(status, { "content-type": "application/vnd.schemaregistry.v1+json" });
    res.end(JSON.stringify(body));
  };
  const handler = (req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      reg.requests.push({ method: req.method, url: req.url, auth: req.headers.authorization, accept: req.headers.accept });
      if (req.headers.authorization !== BASIC) return send(res, 401, { error_code: 401, message: "Unauthorized" });
      let m;
      if (req.method === "POST" && (m = /^\/subjects\/([^/]+)\/versions$/.exec(req.url))) {
        const { schema } = JSON.parse(body);
        for (const [id, s] of reg.schemas) if (s.schema === schema) return send(res, 200, { id });
        const id = reg.nextId++;
        reg.schemas.set(id, { subject: decodeURIComponent(m[1]), schema });
        return send(res, 200, { id });
      }
      if (req.method === "GET" && (m = /^\/schemas\/ids\/(\d+)$/.exec(req.url))) {
        const s = reg.schemas.get(Number(m[1]));
        return s ? send(res, 200, { schema: s.schema }) : send(res, 404, { error_code: 40403, message: `Schema ${m[1]} not found` });
      }
      send(res, 404, { error_code: 404, message: "HTTP 404 Not Found" });
    });
  };
  reg.start = async () => {
    reg.server = tls ? https.createServer(tls, handler) : http.createServer(handler);
    await new Promise((resolve, reject) => reg.server.once("error", reject).listen(port, "127.0.0.1", resolve));
  };
  reg.stop = async () => {
    const closed = new Promise((resolve) => reg.server.close(resolve));
    reg.server.closeAllConnections();
    await closed;
  };
  // Registers a schema (an object) as a producer's serializer would.
  reg.register = async (subject, schema) => {
    const res = await new Promise((resolve, reject) => {
      const req = (tls ? https : http).request(`${reg.url}/subjects/${encodeURIComponent(subject)}/versions`, {
        method: "POST", ca: tls?.cert, headers: { "content-type": "application/vnd.schemaregistry.v1+json", authorization: BASIC },
      }, resolve);
      req.on("error", reject);
      req.end(JSON.stringify({ schema: JSON.stringify(schema) }));
    });
    let body = "";
    for await (const d of res) body += d;
    assert.equal(res.statusCode, 200, body);
    return JSON.parse(body).id;
  };
  reg.gets = (id) => reg.requests.filter((r) => r.method === "GET" && r.url === `/schemas/ids/${id}`);
  await reg.start();
  return reg;
}

// Schemas as newer producers write them: one field the reader does not
// know (dropped), one reader field left out (the reader's default, null).
const requestReader = loadJSON("schemas/request_mutation.avsc");
const requestEvolved = { ...requestReader, fields: [...requestReader.fields.filter((f) => f.name !== "changed_fields"), { name: "channel", type: "string", default: "web" }] };
const membershipReader = loadJSON("schemas/program_membership.avsc");
const membershipEvolved = { ...membershipReader, fields: [...membershipReader.fields, { name: "source", type: "string", default: "hr" }] };
const schemaFile = (name, schema) => {
  const file = path.join(dir, `${name}.avsc`);
  fs.writeFileSync(file, JSON.stringify(schema));
  return file;
};

// Produces records in Confluent framing under id, written with schema.
const produceAs = (topic, record, id, schema, records) =>
  produce(broker.bootstrap, topic, record, records, "confluent", ["--schema-id", String(id), "--writer-schema", schemaFile(`w${id}`, schema)]);

const request = (program, extra = {}) => ({ event_id: eid("r"), occurred_at: T0 + seq, performed_by: actor, action: "CREATED",
  program_id: program, request_id: `r${seq}`, title: `Request ${seq}`, channel: "mobile", ...extra });
const createdPayload = (r) => ({ eventId: r.event_id, event: "request:created", programId: r.program_id, requestId: r.request_id,
  data: { title: r.title }, performedBy: { userId: "u1", name: "Ada" }, timestamp: new Date(r.occurred_at).toISOString() });
const gotIds = (sock) => sock.received.map((e) => e.args[0]?.eventId).filter(Boolean);

let broker, reg, node, kafka;
const tail = () => node.logs.slice(-20).join("\n");
const health = async () => (await fetch(`${node.url}/healthz`)).json();
const args = () => ["--kafka-brokers", broker.bootstrap, "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
  "--schema-registry", reg.url, "--schema-registry-user", USER];
const env = { ROOMCAST_SCHEMA_REGISTRY_PASSWORD: PASSWORD };

before(async () => {
  broker = await startBroker();
  reg = await startRegistry();
  kafka = new Kafka({ clientId: "roomcast-sr-it", brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  // A membership written with a registry id before the node starts: the
  // in-memory node's rebuild must resolve it through the registry.
  const id = await reg.register("program.memberships-value", membershipEvolved);
  await produceAs("program.memberships", "ProgramMembership", id, membershipEvolved, [
    { event_id: eid("m"), occurred_at: T0, performed_by: actor, action: "ADDED", program_id: "p-rebuilt", user_id: "mia", role: "viewer", source: "sso" },
  ]);
  node = await startRoomcast(args(), { env });
});

after(async () => {
  const exit = await node?.stop();
  await reg?.stop().catch(() => {});
  await broker?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(exit?.code, 0, "roomcast exits 0 on SIGTERM");
});

// The DLQ records matching each predicate (one group join for all).
async function readDlq(preds, what) {
  const consumer = kafka.consumer({ groupId: `sr-dlq-${++seq}-${process.pid}` });
  await consumer.connect();
  await consumer.subscribe({ topic: "roomcast.dlq", fromBeginning: true });
  const dead = [];
  await consumer.run({ eachMessage: async ({ message }) => { dead.push(message); } });
  try {
    await waitFor(() => preds.every((p) => dead.find(p)), { what });
    return preds.map((p) => dead.find(p));
  } finally {
    await consumer.disconnect();
  }
}
const header = (m, k) => m.headers[k]?.toString();

test("the membership rebuild resolves a registry id", async () => {
  await waitFor(() => node.logs.some((l) => /membership rebuilt from \d+ partition\(s\): 1 record\(s\), 1 change\(s\)/.test(l)),
    { what: "the rebuild's log line", detail: tail });
  assert.equal(reg.gets(100023).length >= 1, true, "the rebuild asked the registry for the id");
  const mia = await connect(node.url, { auth: { token: token("mia") } });
  const r = request("p-rebuilt");
  delete r.channel;
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation", [r]);
  await waitFor(() => gotIds(mia).includes(r.event_id), { what: "mia, a member from the rebuild, gets p-rebuilt's event", detail: tail });
  mia.close();
});

test("an evolved writer schema under a new registry id is fetched with basic auth and read as the current record", async () => {
  const id = await reg.register("requests.mutations-value", requestEvolved);
  assert.ok(id > 100023);
  const sock = await connect(node.url, { auth: { token: token("ann", { programs: ["p-sr1"] }) } });
  const created = request("p-sr1");
  const updated = request("p-sr1", { action: "UPDATED", title: "Renamed" });
  await produceAs("requests.mutations", "RequestMutation", id, requestEvolved, [created, updated]);
  await waitFor(() => gotIds(sock).length >= 2, { what: "two events", detail: tail });
  // One more from an encoder that is not roomcast's: avsc, same writer.
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const third = request("p-sr1");
  await producer.send({ topic: "requests.mutations", messages: [{ key: "p-sr1", value: encode(avro.Type.forSchema(requestEvolved), third, "confluent", id) }] });
  await producer.disconnect();

  await waitFor(() => gotIds(sock).length >= 3, { what: "three events", detail: tail });
  const events = sock.received.map((e) => [e.event, JSON.stringify(e.args[0])]);
  assert.deepEqual(events, [
    ["request:created", JSON.stringify(createdPayload(created))],
    ["request:updated", JSON.stringify({ ...createdPayload(updated), event: "request:updated", data: { title: "Renamed", changedFields: null } })],
    ["request:created", JSON.stringify(createdPayload(third))],
  ], "the events carry the reader's shape: changedFields from its default, channel dropped");

  const gets = reg.gets(id);
  assert.equal(gets.length, 1, "the schema was fetched once and cached");
  assert.equal(gets[0].auth, BASIC, "basic auth is sent");
  assert.match(gets[0].accept, /application\/vnd\.schemaregistry\.v1\+json/);
  assert.ok(!node.logs.some((l) => l.includes(PASSWORD)), "the password is never logged");
  sock.close();
});

test("an id the registry does not have, and a schema that cannot be read, go to the DLQ with the reason", async () => {
  const sock = await connect(node.url, { auth: { token: token("bo", { programs: ["p-sr2"] }) } });
  const dlqBefore = await metric(node.url, "roomcast_records_dlq_total");
  // A writer without request_id, which the reader needs and has no default for.
  const broken = { ...requestReader, fields: requestReader.fields.filter((f) => f.name !== "request_id") };
  const brokenId = await reg.register("requests.mutations-value", broken);
  const missing = request("p-sr2");
  const unreadable = request("p-sr2");
  delete unreadable.request_id;
  const good = request("p-sr2");
  delete missing.channel, delete unreadable.channel, delete good.channel;
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation", [missing], "confluent", ["--schema-id", "424242"]);
  await produceAs("requests.mutations", "RequestMutation", brokenId, broken, [unreadable]);
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation", [good], "confluent");
  await waitFor(() => gotIds(sock).includes(good.event_id), { what: "the good record behind the bad ones", detail: tail });
  assert.deepEqual(gotIds(sock), [good.event_id], "only the good record became an event");
  assert.equal(await metric(node.url, "roomcast_records_dlq_total"), dlqBefore + 2);
  const [notFound, cannot] = await readDlq([
    (m) => /424242/.test(header(m, "roomcast.error") ?? ""),
    (m) => (header(m, "roomcast.error") ?? "").includes(`registry id ${brokenId}`),
  ], "the DLQ records of the unknown id and of the unreadable schema");
  assert.equal(header(notFound, "roomcast.error"), "undecodable: schema id 424242 not found in the registry");
  assert.equal(header(notFound, "roomcast.topic"), "requests.mutations");
  const head = Buffer.alloc(5);
  head.writeUInt32BE(424242, 1);
  assert.deepEqual(notFound.value.subarray(0, 5), head, "the value is kept as it was");
  assert.match(header(cannot, "roomcast.error"), /field 'request_id': not in the writer and no default in the reader/);
  sock.close();
});

test("while the registry is down, records wait in order, nothing goes to the DLQ, other partitions go on", async () => {
  const evolved2 = { ...requestEvolved, fields: [...requestEvolved.fields, { name: "origin", type: ["null", "string"], default: null }] };
  const id = await reg.register("requests.mutations-value", evolved2);
  const sock = await connect(node.url, { auth: { token: token("cy", { programs: ["p-down"] }) } });
  const dlqBefore = await metric(node.url, "roomcast_records_dlq_total");
  const failuresBefore = await metric(node.url, "roomcast_schema_registry_failures_total");
  await reg.stop();

  const batch = Array.from({ length: 5 }, () => request("p-down", { origin: "import" }));
  await produceAs("requests.mutations", "RequestMutation", id, evolved2, batch);
  await waitFor(() => node.logs.some((l) => l.includes("pausing requests.mutations") && l.includes(`schema id ${id}`) && l.includes("schema registry is unavailable")),
    { what: "the pause warning", detail: tail });
  assert.equal((await health()).kafka.schema_waits, 1, "one partition waits");
  assert.equal(await metric(node.url, "roomcast_schema_waits"), 1);
  // Another partition (another topic, a local schema id) goes on meanwhile.
  const comment = { event_id: eid("c"), occurred_at: T0, performed_by: actor, action: "ADDED", program_id: "p-down", request_id: "r1", comment_id: "c1", body_preview: "meanwhile" };
  await produce(broker.bootstrap, "comments.mutations", "CommentMutation", [comment], "confluent");
  await waitFor(() => gotIds(sock).includes(comment.event_id), { what: "a record of another partition during the outage", detail: tail });
  // A while later: still waiting, warned about again, nothing lost or sent to the DLQ.
  await waitFor(() => node.logs.some((l) => l.includes("the schema registry is still unavailable") && l.includes(`schema id ${id}`)),
    { what: "the periodic warning", timeoutMs: 12000, detail: tail });
  assert.deepEqual(gotIds(sock), [comment.event_id], "no request event while the registry is down");
  assert.equal(await metric(node.url, "roomcast_records_dlq_total"), dlqBefore);
  assert.ok(await metric(node.url, "roomcast_schema_registry_failures_total") > failuresBefore);
  assert.equal((await fetch(`${node.url}/readyz`)).status, 200, "a registry outage does not take the node out of the load balancer");

  await reg.start();
  await waitFor(() => gotIds(sock).length === 1 + batch.length, { what: "the waiting records after the registry came back", timeoutMs: 20000, detail: tail });
  assert.deepEqual(gotIds(sock).slice(1), batch.map((r) => r.event_id), "in the order they were produced");
  assert.equal(await metric(node.url, "roomcast_records_dlq_total"), dlqBefore, "nothing went to the DLQ");
  assert.equal((await health()).kafka.schema_waits, 0);
  assert.ok(node.logs.some((l) => l.includes(`schema id ${id} resolved through the schema registry`)));
  sock.close();
});

test("an https registry verified with --schema-registry-ca, credentials in the URL redacted from the logs", async () => {
  const cert = path.join(dir, "registry.crt"), key = path.join(dir, "registry.key");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], { stdio: "pipe" });
  // Ids of its own: the ids of the records already on the topics are not
  // found there, and those records go to the DLQ as this node reads them.
  const secure = await startRegistry({ tls: { key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, firstId: 200001 });
  const second = await startRoomcast(["--kafka-brokers", broker.bootstrap, "--group-id", `sr-tls-${process.pid}`,
    "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
    "--schema-registry", `https://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${secure.port}`, "--schema-registry-ca", cert]);
  try {
    await waitFor(async () => (await (await fetch(`${second.url}/healthz`)).json()).kafka.assigned > 0, { what: "the second node's partitions" });
    const id = await secure.register("requests.mutations-value", requestEvolved);
    const sock = await connect(second.url, { auth: { token: token("dee", { programs: ["p-tls"] }) } });
    const r = request("p-tls");
    await produceAs("requests.mutations", "RequestMutation", id, requestEvolved, [r]);
    await waitFor(() => gotIds(sock).includes(r.event_id), { what: "the event through the https registry", detail: () => second.logs.slice(-20).join("\n") });
    assert.equal(secure.gets(id)[0]?.auth, BASIC, "the URL's user info became basic auth");
    assert.ok(second.logs.some((l) => l.includes(`https://${USER}:***@127.0.0.1:${secure.port}`)), "the URL is logged redacted");
    assert.ok(!second.logs.some((l) => l.includes(encodeURIComponent(PASSWORD)) || l.includes(PASSWORD)), "the password is never logged");
    sock.close();
  } finally {
    const exit = await second.stop();
    await secure.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, "the second node exits 0 on SIGTERM");
  }
});

test("registry settings are checked before anything starts", () => {
  const run = (extra, env = {}) => spawnSync(path.join(BUILD_DIR, "roomcast"), ["--check-config", "--jwt-secret-file", secretFile, ...extra],
    { env: { ...process.env, ...env }, encoding: "utf8", timeout: 10000 });
  const reg = ["--schema-registry", "http://127.0.0.1:1", "--schema-registry-user", "ops"];
  let r = run([...reg, "--schema-registry-password-file", passwordFile]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /configuration OK: .*schema registry/);
  r = run(reg);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--schema-registry-user needs a password: set --schema-registry-password-file or ROOMCAST_SCHEMA_REGISTRY_PASSWORD/);
  r = run([...reg, "--schema-registry-password-file", passwordFile], { ROOMCAST_SCHEMA_REGISTRY_PASSWORD: "hunter2" });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--schema-registry-password and --schema-registry-password-file are both set/);
  assert.doesNotMatch(r.stderr, /hunter2/);
  // As a flag it works, with a warning that names it and not its value.
  r = run([...reg, "--schema-registry-password", "hunter2"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /secret given on the command line.*--schema-registry-password/);
  assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);
  r = run(["--schema-registry", "ftp://127.0.0.1:1"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /'ftp:\/\/127\.0\.0\.1:1' is not an http:\/\/ or https:\/\/ URL/);
  r = run(["--schema-registry-user", "ops"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--schema-registry-user is set but --schema-registry is not/);
});
