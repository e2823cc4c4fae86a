// End to end on the embedded default: records of every kind go in through
// roomcast-produce and through kafkajs+avsc (a producer roomcast did not
// write), and real socket.io-clients must receive exactly the events of
// their rooms, with the exact payload of the contract.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Kafka, Partitioners, logLevel } from "kafkajs";
import { connect, connectError, loadJSON, metric, produce, startRoomcast, token, waitFor, sleep } from "./lib/fixtures.mjs";
import { encode, loadType } from "./lib/avro.mjs";

const T0 = Date.parse("2026-11-21T10:00:00.000Z");
const iso = (ms) => new Date(ms).toISOString();
const actor = (user_id, name) => ({ user_id, name });
let seq = 0;
const eid = (tag) => `evt-${tag}-${++seq}-${process.pid}`;

let node;
let kafka;

before(async () => {
  node = await startRoomcast();
  kafka = new Kafka({ clientId: "roomcast-it", brokers: [node.bootstrap], logLevel: logLevel.NOTHING });
});

after(async () => {
  const exit = await node?.stop();
  assert.equal(exit?.code, 0, "roomcast exits 0 on SIGTERM");
});

function expectedPayload(name, r, { programId = r.program_id, requestId = r.request_id, data, performedBy = true }) {
  const p = { eventId: r.event_id, event: name };
  if (programId != null) p.programId = programId;
  if (requestId != null) p.requestId = requestId;
  p.data = data;
  if (performedBy) p.performedBy = { userId: r.performed_by.user_id, name: r.performed_by.name ?? null };
  p.timestamp = iso(r.occurred_at);
  return p;
}

test("healthz reports the embedded broker", async () => {
  const res = await fetch(`${node.url}/healthz`);
  assert.equal(res.status, 200);
  const h = await res.json();
  assert.equal(h.status, "ok");
  assert.equal(h.kafka.embedded, true);
  assert.equal(h.kafka.bootstrap, node.bootstrap);
});

test("a connect without a valid token is refused with the contract's codes", async () => {
  const cases = [
    [{}, "TOKEN_MISSING"],
    [{ auth: { token: "" } }, "TOKEN_MISSING"],
    [{ auth: { token: "not.a.jwt" } }, "TOKEN_INVALID"],
    [{ auth: { token: token("alice", {}, { secret: "wrong-secret" }) } }, "TOKEN_INVALID"],
    [{ auth: { token: token("alice", { exp: Math.floor(Date.now() / 1000) - 3600 }) } }, "TOKEN_EXPIRED"],
  ];
  for (const [opts, code] of cases) {
    const err = await connectError(node.url, opts);
    assert.equal(err.message, "Authentication error", `${code}: message`);
    assert.deepEqual(err.data, { code }, `${code}: data`);
  }
});

test("events reach exactly the sockets of their rooms, with the contract's payload", async () => {
  const bs = node.bootstrap;
  // Memberships first (roomcast-produce, single-object framing).
  const memberships = [
    { event_id: eid("m"), occurred_at: T0, performed_by: actor("admin", "Admin"), action: "ADDED", program_id: "p1", user_id: "alice", role: "editor" },
    { event_id: eid("m"), occurred_at: T0, performed_by: actor("admin", "Admin"), action: "ADDED", program_id: "p2", user_id: "bob", role: null },
  ];
  const before0 = await metric(node.url, "roomcast_events_appended_total");
  await produce(bs, "program.memberships", "ProgramMembership", memberships, "single-object");
  await waitFor(async () => (await metric(node.url, "roomcast_events_appended_total")) >= before0 + 2, { what: "memberships consumed" });

  // alice: member of p1 by the topic; bob: p2 by the topic; carol: p1 by her
  // token's programs claim; dave: no program at all.
  const alice = await connect(node.url, { auth: { token: token("alice", { name: "Alice" }) } });
  const bob = await connect(node.url, { auth: { token: token("bob") } });
  const carol = await connect(node.url, { auth: { token: token("carol", { programs: ["p1"] }) } });
  const dave = await connect(node.url, { auth: { token: token("dave") } });
  const clients = { alice, bob, carol, dave };

  const expected = { alice: [], bob: [], carol: [], dave: [] };
  const to = (users, name, payload, stored = true) => {
    for (const u of users) expected[u].push({ name, payload, stored });
  };
  const p1 = ["alice", "carol"];
  const p2 = ["bob"];

  // Requests: roomcast-produce, bare and confluent framings.
  const reqs = [
    { r: { event_id: eid("r"), occurred_at: T0 + 1, performed_by: actor("u1", "Ada"), action: "CREATED", program_id: "p1", request_id: "r1", title: "Broken login", changed_fields: null, from_status: null, to_status: null, assignee_id: null, previous_assignee_id: null },
      name: "request:created", rooms: p1, data: { title: "Broken login" } },
    { r: { event_id: eid("r"), occurred_at: T0 + 2, performed_by: actor("u1", null), action: "UPDATED", program_id: "p1", request_id: "r1", title: "Broken login page", changed_fields: ["title", "priority"] },
      name: "request:updated", rooms: p1, data: { title: "Broken login page", changedFields: ["title", "priority"] } },
    { r: { event_id: eid("r"), occurred_at: T0 + 3, performed_by: actor("u1", "Ada"), action: "STATUS_CHANGED", program_id: "p2", request_id: "r9", from_status: "open", to_status: "done" },
      name: "request:status_changed", rooms: p2, data: { from: "open", to: "done" } },
    { r: { event_id: eid("r"), occurred_at: T0 + 4, performed_by: actor("u1", "Ada"), action: "ASSIGNED", program_id: "p1", request_id: "r1", assignee_id: "bob", previous_assignee_id: null },
      name: "request:assigned", rooms: [...p1, "bob"], data: { assigneeId: "bob", previousAssigneeId: null } },
  ];
  for (const { r, name, rooms, data } of reqs) to(rooms, name, expectedPayload(name, r, { data }));
  await produce(bs, "requests.mutations", "RequestMutation", reqs.slice(0, 2).map((x) => x.r), "bare");
  await produce(bs, "requests.mutations", "RequestMutation", reqs.slice(2).map((x) => x.r), "confluent");

  // Comments, attachments and jobs: kafkajs + avsc, all three framings.
  const registry = loadJSON("schemas/registry.json");
  const idOf = (file) => registry.schemas.find((s) => s.file === file)?.id;
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const send = async (topic, type, framing, schemaFile, records) => {
    await producer.send({ topic, messages: records.map((r) => ({ key: r.program_id ?? r.user_id, value: encode(type, r, framing, idOf(schemaFile)) })) });
  };
  const commentT = loadType("comment_mutation.avsc");
  const comments = [
    { event_id: eid("c"), occurred_at: T0 + 5, performed_by: actor("u2", "Grace"), action: "ADDED", program_id: "p1", request_id: "r1", comment_id: "c1", body_preview: "Looks like a cookie issue" },
    { event_id: eid("c"), occurred_at: T0 + 6, performed_by: actor("u2", "Grace"), action: "DELETED", program_id: "p2", request_id: "r9", comment_id: "c7", body_preview: null },
  ];
  to(p1, "comment:added", expectedPayload("comment:added", comments[0], { data: { commentId: "c1", bodyPreview: "Looks like a cookie issue" } }));
  to(p2, "comment:deleted", expectedPayload("comment:deleted", comments[1], { data: { commentId: "c7" } }));
  await send("comments.mutations", commentT, "confluent", "comment_mutation.avsc", comments);

  const attT = loadType("attachment_mutation.avsc");
  const atts = [
    { event_id: eid("a"), occurred_at: T0 + 7, performed_by: actor("u2", "Grace"), action: "UPLOADED", program_id: "p1", request_id: "r1", attachment_id: "a1", file_name: "trace.har", content_type: "application/json", size_bytes: 1234567 },
    { event_id: eid("a"), occurred_at: T0 + 8, performed_by: actor("u2", "Grace"), action: "DELETED", program_id: "p1", request_id: "r1", attachment_id: "a0", file_name: null, content_type: null, size_bytes: null },
  ];
  to(p1, "attachment:uploaded", expectedPayload("attachment:uploaded", atts[0], { data: { attachmentId: "a1", fileName: "trace.har", contentType: "application/json", sizeBytes: 1234567 } }));
  to(p1, "attachment:deleted", expectedPayload("attachment:deleted", atts[1], { data: { attachmentId: "a0" } }));
  await send("attachments.mutations", attT, "single-object", "attachment_mutation.avsc", atts);

  const jobT = loadType("job_event.avsc");
  const jobs = [
    { event_id: eid("j"), occurred_at: T0 + 9, state: "STARTED", job_id: "j1", user_id: "alice", program_id: "p1", progress: 0, message: "export started" },
    { event_id: eid("j"), occurred_at: T0 + 10, state: "PROGRESS", job_id: "j1", user_id: "alice", program_id: "p1", progress: 50, message: null },
    { event_id: eid("j"), occurred_at: T0 + 11, state: "COMPLETED", job_id: "j1", user_id: "alice", program_id: "p1", progress: 100, message: "done" },
    { event_id: eid("j"), occurred_at: T0 + 12, state: "FAILED", job_id: "j2", user_id: "dave", program_id: null, progress: null, message: "disk full" },
  ];
  const jobEv = { STARTED: "job:started", PROGRESS: "job:progress", COMPLETED: "job:completed", FAILED: "job:failed" };
  for (const j of jobs) {
    const name = jobEv[j.state];
    to([j.user_id], name, expectedPayload(name, j, { performedBy: false, requestId: null, data: { jobId: j.job_id, progress: j.progress, message: j.message } }), name !== "job:progress");
  }
  await send("jobs.events", jobT, "bare", "job_event.avsc", jobs);

  const total = (u) => expected[u].length;
  const arrived = () => Object.keys(clients).every((u) => clients[u].received.length >= total(u));
  const progress = () => Object.keys(clients).map((u) => `${u} ${clients[u].received.length}/${total(u)}: ${clients[u].received.map((e) => e.event).join(",")}`).join("\n");
  await waitFor(arrived, { what: "every expected event", detail: progress });

  // A new membership while connected: carol joins p2 live (member:added goes
  // to program:p2 and user:carol), and p2's next event reaches her.
  const m3 = { event_id: eid("m"), occurred_at: T0 + 13, performed_by: actor("admin", "Admin"), action: "ADDED", program_id: "p2", user_id: "carol", role: "viewer" };
  to([...p2, "carol"], "member:added", expectedPayload("member:added", m3, { requestId: null, data: { userId: "carol", role: "viewer" } }));
  await producer.send({ topic: "program.memberships", messages: [{ key: "p2", value: encode(loadType("program_membership.avsc"), m3, "bare") }] });
  await waitFor(arrived, { what: "member:added" });
  const c9 = { event_id: eid("c"), occurred_at: T0 + 14, performed_by: actor("u2", "Grace"), action: "ADDED", program_id: "p2", request_id: "r9", comment_id: "c9", body_preview: "welcome" };
  to([...p2, "carol"], "comment:added", expectedPayload("comment:added", c9, { data: { commentId: "c9", bodyPreview: "welcome" } }));
  await send("comments.mutations", commentT, "bare", "comment_mutation.avsc", [c9]);
  await producer.disconnect();
  await waitFor(arrived, { what: "p2's comment after carol joined" });
  await sleep(500); // anything extra would show up now

  for (const [u, sock] of Object.entries(clients)) {
    const got = sock.received.map(({ event, args }) => ({ event, payload: args[0], offset: args[1], n: args.length }));
    const key = (e) => e.payload?.eventId ?? e.eventId;
    const exp = [...expected[u]].sort((a, b) => key(a.payload).localeCompare(key(b.payload)));
    const act = [...got].sort((a, b) => key(a).localeCompare(key(b)));
    assert.deepEqual(act.map((e) => `${e.event} ${key(e)}`), exp.map((e) => `${e.name} ${e.payload.eventId}`), `${u} receives exactly the events of its rooms`);
    for (let i = 0; i < exp.length; i++) {
      // Compare serialisations: the key order is part of the contract.
      assert.equal(JSON.stringify(act[i].payload), JSON.stringify(exp[i].payload), `${u}: payload of ${exp[i].name}`);
      if (exp[i].stored) {
        assert.equal(act[i].n, 2, `${u}: ${exp[i].name} carries its offset`);
        assert.match(act[i].offset, /^[0-9a-f]+-\d+$/, `${u}: offset of ${exp[i].name}`);
      } else {
        assert.equal(act[i].n, 1, `${u}: transient ${exp[i].name} carries no offset`);
      }
    }
  }
  // p1's events never reached bob except the assignment addressed to him.
  assert.ok(!bob.received.some((e) => e.args[0].programId === "p1" && e.event !== "request:assigned"));
  for (const s of Object.values(clients)) s.close();
});

test("an undecodable record goes to the DLQ with its coordinates and does not block its partition", async () => {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const good = { event_id: eid("c"), occurred_at: T0, performed_by: actor("u2", "Grace"), action: "ADDED", program_id: "p7", request_id: "r1", comment_id: "c1", body_preview: "after the bad one" };
  const sock = await connect(node.url, { auth: { token: token("erin", { programs: ["p7"] }) } });
  const dlqBefore = await metric(node.url, "roomcast_records_dlq_total");
  // Same key, so the same partition: the good record sits behind the bad ones.
  const { partition, baseOffset } = (await producer.send({
    topic: "comments.mutations",
    messages: [
      { key: "p7", value: Buffer.from([0x00, 0x00, 0x00, 0x30, 0x39, 0x02]) }, // Confluent id 12345: unknown
      { key: "p7", value: Buffer.from("not avro at all") },
    ],
  }))[0];
  await producer.send({ topic: "comments.mutations", messages: [{ key: "p7", value: encode(loadType("comment_mutation.avsc"), good, "single-object") }] });
  await producer.disconnect();

  await waitFor(() => sock.received.some((e) => e.args[0].eventId === good.event_id), { what: "the good record behind the bad ones" });
  assert.equal(await metric(node.url, "roomcast_records_dlq_total"), dlqBefore + 2);

  const consumer = kafka.consumer({ groupId: `dlq-reader-${process.pid}` });
  await consumer.connect();
  await consumer.subscribe({ topic: "roomcast.dlq", fromBeginning: true });
  const dead = [];
  await consumer.run({ eachMessage: async ({ message }) => { dead.push(message); } });
  await waitFor(() => dead.length >= 2, { what: "two DLQ records" });
  await consumer.disconnect();
  const h = (m, k) => m.headers[k]?.toString();
  const first = dead.find((m) => h(m, "roomcast.offset") === String(baseOffset));
  assert.ok(first, "the first bad record is in the DLQ with its offset");
  assert.equal(h(first, "roomcast.topic"), "comments.mutations");
  assert.equal(h(first, "roomcast.partition"), String(partition));
  assert.match(h(first, "roomcast.error"), /12345/);
  assert.deepEqual(first.value, Buffer.from([0x00, 0x00, 0x00, 0x30, 0x39, 0x02]), "the value is kept as it was");
  assert.equal(first.key.toString(), "p7");
  assert.ok(node.logs.some((l) => l.includes("bad record comments.mutations") && l.includes(`offset ${baseOffset}:`) && l.includes("roomcast.dlq")), "the bad record is logged");
  sock.close();
});
