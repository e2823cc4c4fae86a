// /metrics under real traffic: one node on roomcast-broker and Redis, real
// socket.io-clients over both transports, records produced with
// roomcast-produce and kafkajs, bad tokens, bad records, client errors and
// catch-ups. The page must parse as Prometheus text (lib/prom.mjs, strict),
// follow the naming rules, and count each of these under the right labels;
// the lag gauges must follow the assignment and reach 0 once caught up;
// roomcast_ready must say what /readyz says.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Kafka, Partitioners, logLevel } from "kafkajs";
import { connect, connectError, loadJSON, produce, startRoomcast, token, waitFor } from "./lib/fixtures.mjs";
import { startBroker, startRedis } from "./lib/cluster.mjs";
import { parseExposition, select, sum } from "./lib/prom.mjs";

const PARTITIONS = 2;
const T0 = Date.parse("2026-11-21T10:00:00.000Z");
const actor = { user_id: "u1", name: "Ada" };
let seq = 0;
const eid = (tag) => `met-${tag}-${++seq}-${process.pid}`;
const topics = loadJSON("schemas/catalog.json").records.map((r) => r.topic);
const eventNames = loadJSON("schemas/catalog.json").records.flatMap((r) => Object.values(r.events).map((e) => e.event));

let broker, redis, node, kafka;

const args = () => ["--kafka-brokers", broker.bootstrap, "--redis", redis.url,
  "--client-events-per-minute", "60", "--client-event-burst", "5",
  "-X", "statistics.interval.ms=250", "-X", "fetch.wait.max.ms=5",
  "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"];

async function scrape(n = node) {
  const res = await fetch(`${n.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
  const page = parseExposition(await res.text());
  page.v = (name, match = {}) => sum(page.samples, name, match);
  return page;
}

// The (topic, partition) pairs of a per-partition family, as "topic/p".
const partitionsOf = (page, name) => select(page.samples, name).map((s) => `${s.labels.topic}/${s.labels.partition}`).sort();

before(async () => {
  broker = await startBroker({ partitions: PARTITIONS });
  redis = await startRedis();
  node = await startRoomcast(args());
  kafka = new Kafka({ clientId: "roomcast-metrics-it", brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  await waitFor(async () => (await scrape()).v("roomcast_kafka_assigned_partitions") === topics.length * PARTITIONS,
    { what: "every partition assigned", timeoutMs: 30000 });
});

after(async () => {
  const exit = await node?.stop();
  assert.equal(exit?.code, 0, "roomcast exits 0 on SIGTERM");
  await redis?.destroy();
  await broker?.stop();
});

test("the page parses as Prometheus text and follows the naming rules", async () => {
  const page = await scrape();
  for (const [name, f] of page.families) {
    assert.match(name, /^(roomcast|process)_[a-z0-9_]+$/, `${name}: snake_case, prefixed`);
    assert.ok(f.help.length > 10, `${name}: a HELP text`);
    if (f.type === "counter") assert.match(name, /_total$/, `counter ${name} ends in _total`);
    else assert.doesNotMatch(name, /_total$/, `${f.type} ${name} does not end in _total`);
    assert.doesNotMatch(name, /_(ms|us|milliseconds|microseconds|minutes|hours|kb|mb|kilobytes|megabytes|percent)(_|$)/,
      `${name}: base units only`);
    if (f.type === "histogram") assert.match(name, /_seconds$/, `histogram ${name} is in seconds`);
  }
  // One family per metric, labels instead of separate names.
  const labels = (name, label) => [...new Set(select(page.samples, name).map((s) => s.labels[label]))].sort();
  assert.deepEqual(labels("roomcast_connections", "transport"), ["polling", "websocket"]);
  assert.deepEqual(labels("roomcast_handshakes_total", "transport"), ["polling", "websocket"]);
  assert.deepEqual(labels("roomcast_deliveries_total", "outcome"), ["dropped", "written"]);
  assert.deepEqual(labels("roomcast_recoveries_total", "outcome"), ["catchup", "catchup_truncated", "not_recovered", "recovered"]);
  assert.deepEqual(labels("roomcast_auth_failures_total", "code"), ["FORBIDDEN", "TOKEN_EXPIRED", "TOKEN_INVALID", "TOKEN_MISSING"]);
  assert.deepEqual(labels("roomcast_records_dlq_total", "reason"), ["empty", "undecodable", "unknown_schema", "unknown_topic", "unmappable"]);
  assert.deepEqual(labels("roomcast_records_consumed_total", "topic"), [...topics].sort());
  for (const f of ["roomcast_events_appended_total", "roomcast_events_duplicate_total", "roomcast_events_broadcast_total"])
    assert.deepEqual(labels(f, "event"), [...eventNames].sort(), `${f}: the catalog's ${eventNames.length} events`);
  assert.equal(eventNames.length, 14);
  assert.deepEqual(labels("roomcast_replay_duration_seconds_count", "kind"), ["catchup", "recovery"]);
  for (const r of ["malformed", "too_large", "protocol", "ip_connection_limit", "rate_limited", "flood", "timeout",
    "unknown_event", "invalid_argument", "forbidden", "user_connection_limit"])
    assert.ok(select(page.samples, "roomcast_client_errors_total", { reason: r }).length === 1, `client error reason ${r}`);
  for (const g of ["roomcast_sockets", "roomcast_rooms", "roomcast_ready", "roomcast_kafka_assigned_partitions",
    "roomcast_kafka_consumer_paused", "roomcast_slow_disconnects_total", "roomcast_rate_limited_clients_total",
    "roomcast_events_replayed_total", "roomcast_transport_upgrades_total"])
    assert.equal(select(page.samples, g).length, 1, `${g}: one unlabelled series`);
});

test("traffic is counted under the right labels", async () => {
  const before0 = await scrape();
  const delta = (page, name, match = {}) => page.v(name, match) - before0.v(name, match);

  // Two clients in program p1, one per transport.
  const ws = await connect(node.url, { auth: { token: token("met-alice", { programs: ["p1"] }) } });
  const lp = await connect(node.url, { auth: { token: token("met-bob", { programs: ["p1"] }) }, transports: ["polling"] });
  let page = await scrape();
  assert.equal(delta(page, "roomcast_connections", { transport: "websocket" }), 1);
  assert.equal(delta(page, "roomcast_connections", { transport: "polling" }), 1);
  assert.equal(delta(page, "roomcast_handshakes_total", { transport: "websocket" }), 1);
  assert.equal(delta(page, "roomcast_handshakes_total", { transport: "polling" }), 1);
  assert.equal(page.v("roomcast_sockets"), 2);
  assert.equal(page.v("roomcast_rooms"), 3, "user:met-alice, user:met-bob, program:p1");

  // 5 requests created and 2 comments added in p1, one request again.
  const reqs = Array.from({ length: 5 }, (_, i) => ({ event_id: eid("r"), occurred_at: T0 + i, performed_by: actor,
    action: "CREATED", program_id: "p1", request_id: `r${i}`, title: `t${i}` }));
  const comments = Array.from({ length: 2 }, (_, i) => ({ event_id: eid("c"), occurred_at: T0 + 10 + i, performed_by: actor,
    action: "ADDED", program_id: "p1", request_id: "r0", comment_id: `c${i}`, body_preview: "hi" }));
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation", reqs, "bare");
  await produce(broker.bootstrap, "comments.mutations", "CommentMutation", comments, "confluent");
  const got = (s) => s.received.filter((e) => e.args[0]?.eventId?.startsWith("met-")).length;
  await waitFor(() => got(ws) === 7 && got(lp) === 7, { what: "7 events on both transports" });
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation", [reqs[0]], "single-object");
  await waitFor(async () => delta(await scrape(), "roomcast_events_duplicate_total", { event: "request:created" }) === 1,
    { what: "the duplicate counted" });

  page = await scrape();
  assert.equal(delta(page, "roomcast_records_consumed_total", { topic: "requests.mutations" }), 6);
  assert.equal(delta(page, "roomcast_records_consumed_total", { topic: "comments.mutations" }), 2);
  assert.equal(delta(page, "roomcast_records_consumed_total"), 8);
  assert.equal(delta(page, "roomcast_events_appended_total", { event: "request:created" }), 5);
  assert.equal(delta(page, "roomcast_events_appended_total", { event: "comment:added" }), 2);
  assert.equal(delta(page, "roomcast_events_appended_total"), 7);
  assert.equal(delta(page, "roomcast_events_duplicate_total"), 1);
  assert.equal(delta(page, "roomcast_events_broadcast_total", { event: "request:created" }), 5);
  assert.equal(delta(page, "roomcast_events_broadcast_total", { event: "comment:added" }), 2);
  assert.equal(delta(page, "roomcast_events_broadcast_total"), 7);
  // Written: each of the 7 frames to each of the 2 clients, polling included.
  assert.equal(delta(page, "roomcast_deliveries_total", { outcome: "written" }), 14);
  assert.equal(delta(page, "roomcast_deliveries_total", { outcome: "dropped" }), 0);
  // Every delivery written is observed once, from its Kafka timestamp.
  assert.equal(page.v("roomcast_delivery_latency_seconds_count"), page.v("roomcast_deliveries_total", { outcome: "written" }));
  assert.equal(delta(page, "roomcast_delivery_latency_seconds_count"), 14);
  assert.ok(delta(page, "roomcast_delivery_latency_seconds_sum") < 14 * 10, "latencies of seconds, not of hours");
  assert.ok(page.v("roomcast_history_append_duration_seconds_count") >=
    page.v("roomcast_events_appended_total") + page.v("roomcast_events_duplicate_total"), "every append is timed");
  assert.equal(delta(page, "roomcast_history_append_duration_seconds_count"), 8);

  // Bad tokens, by code.
  await connectError(node.url, { auth: { token: "not.a.jwt" } });
  await connectError(node.url, {});
  await connectError(node.url, { auth: { token: token("met-x", { exp: Math.floor(Date.now() / 1000) - 3600 }) } });
  page = await scrape();
  assert.equal(delta(page, "roomcast_auth_failures_total", { code: "TOKEN_INVALID" }), 1);
  assert.equal(delta(page, "roomcast_auth_failures_total", { code: "TOKEN_MISSING" }), 1);
  assert.equal(delta(page, "roomcast_auth_failures_total", { code: "TOKEN_EXPIRED" }), 1);
  assert.equal(delta(page, "roomcast_auth_failures_total"), 3);

  // Client errors the application decides on, and the rate limit.
  const acked = (s, ev, arg) => new Promise((resolve) => s.emit(ev, arg, resolve));
  assert.equal((await acked(ws, "no:such:event", {})).error.code, "INVALID_ARGUMENT");
  assert.equal((await acked(ws, "join:program", {})).error.code, "INVALID_ARGUMENT");
  assert.equal((await acked(ws, "join:program", "p-not-mine")).error.code, "FORBIDDEN");
  const flood = await connect(node.url, { auth: { token: token("met-flood") } });
  const answers = await Promise.all(Array.from({ length: 9 }, () => acked(flood, "no:such:event", {})));
  const limited = answers.filter((a) => a.error.code === "RATE_LIMITED").length;
  assert.ok(limited >= 2, `the burst of 5 lets 9 events through at most 7 times (${limited} refused)`);
  page = await scrape();
  assert.equal(delta(page, "roomcast_client_errors_total", { reason: "unknown_event" }), 1 + 9 - limited);
  assert.equal(delta(page, "roomcast_client_errors_total", { reason: "invalid_argument" }), 1);
  assert.equal(delta(page, "roomcast_client_errors_total", { reason: "forbidden" }), 1);
  assert.equal(delta(page, "roomcast_client_errors_total", { reason: "rate_limited" }), limited);
  assert.equal(delta(page, "roomcast_client_errors_total", { reason: "flood" }), 0);
  assert.equal(delta(page, "roomcast_rate_limited_clients_total"), 1, "one socket, counted once");

  // Bad records, by reason: each one in the DLQ and skipped.
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({ topic: "comments.mutations", messages: [
    { key: "p1", value: Buffer.from([0x00, 0x00, 0x00, 0x30, 0x39, 0x02]) }, // Confluent id 12345
    { key: "p1", value: Buffer.from("not avro at all") },
  ] });
  await producer.disconnect();
  // An event id no event can have (single-object framing: bare Avro
  // starting with an empty string's 0x00 would read as Confluent).
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation",
    [{ ...reqs[1], event_id: "", request_id: "r-bad" }], "single-object");
  await waitFor(async () => delta(await scrape(), "roomcast_records_dlq_total") === 3, { what: "3 records in the DLQ" });
  page = await scrape();
  for (const reason of ["unknown_schema", "undecodable", "unmappable"]) {
    assert.equal(delta(page, "roomcast_records_dlq_total", { reason }), 1, `dlq ${reason}`);
    assert.equal(delta(page, "roomcast_records_invalid_total", { reason }), 1, `invalid ${reason}`);
  }
  assert.equal(delta(page, "roomcast_records_consumed_total"), 11);

  // A reconnect asking for a session that does not exist.
  const stale = await connect(node.url, { auth: { token: token("met-alice", { programs: ["p1"] }), pid: "0".repeat(32), offset: "x-1" } });
  assert.equal(stale.recovered, false);
  page = await scrape();
  assert.equal(delta(page, "roomcast_recoveries_total", { outcome: "not_recovered" }), 1);

  for (const s of [ws, lp, flood, stale]) s.close();
  await waitFor(async () => (await scrape()).v("roomcast_sockets") === 0, { what: "the sockets gone" });
  page = await scrape();
  assert.equal(page.v("roomcast_connections"), 0);
  assert.equal(page.v("roomcast_rooms"), 0);
});

test("catch-ups are counted by outcome, with their replay's duration", async () => {
  const before0 = await scrape();
  const delta = (page, name, match = {}) => page.v(name, match) - before0.v(name, match);
  const watcher = await connect(node.url, { auth: { token: token("met-w", { programs: ["p3"] }) } });
  const reqs = Array.from({ length: 4 }, (_, i) => ({ event_id: eid("cu"), occurred_at: T0 + i, performed_by: actor,
    action: "CREATED", program_id: "p3", request_id: `r${i}`, title: `t${i}` }));
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation", reqs, "bare");
  await waitFor(() => watcher.received.filter((e) => e.event === "request:created").length === 4, { what: "4 events" });
  const offsets = watcher.received.filter((e) => e.event === "request:created").map((e) => e.args.at(-1));
  watcher.close();

  const complete = (s) => waitFor(() => s.received.find((e) => e.event === "catchup:complete")?.args[0], { what: "catchup:complete" });
  const late = await connect(node.url, { auth: { token: token("met-w", { programs: ["p3"] }), lastOffset: offsets[0] } });
  assert.deepEqual(await complete(late), { replayed: 3, truncated: false });
  const lost = await connect(node.url, { auth: { token: token("met-w", { programs: ["p3"] }), lastOffset: "nosuchepoch-1" } });
  assert.deepEqual(await complete(lost), { replayed: 0, truncated: true });

  const page = await scrape();
  assert.equal(delta(page, "roomcast_recoveries_total", { outcome: "catchup" }), 1);
  assert.equal(delta(page, "roomcast_recoveries_total", { outcome: "catchup_truncated" }), 1);
  assert.equal(delta(page, "roomcast_events_replayed_total"), 3);
  assert.equal(delta(page, "roomcast_replay_duration_seconds_count", { kind: "catchup" }), 2);
  assert.ok(delta(page, "roomcast_replay_duration_seconds_sum", { kind: "catchup" }) < 10);
  late.close();
  lost.close();
});

test("process_* and build info are sane", async () => {
  const page = await scrape();
  const now = Date.now() / 1000;
  const start = page.v("process_start_time_seconds");
  assert.ok(start > now - 600 && start <= now + 1, `start time ${start} is a few minutes ago at most`);
  const cpu = page.v("process_cpu_seconds_total");
  assert.ok(cpu > 0 && cpu < (now - start + 1) * 4, `CPU time ${cpu} within the lifetime of the process`);
  const rss = page.v("process_resident_memory_bytes");
  assert.ok(rss > 1e6 && rss < 2e9, `resident memory ${rss}`);
  assert.ok(page.v("process_virtual_memory_bytes") > rss);
  const fds = page.v("process_open_fds"), max = page.v("process_max_fds");
  assert.ok(fds >= 5 && fds < max, `open fds ${fds} of ${max}`);
  const info = select(page.samples, "roomcast_build_info");
  assert.equal(info.length, 1);
  assert.equal(info[0].value, 1);
  assert.match(info[0].labels.version, /^\d+\.\d+\.\d+$/);
  assert.match(info[0].labels.librdkafka, /^\d+\.\d+\.\d+/);
  assert.match(info[0].labels.libwebsockets, /^\d+\.\d+\.\d+$/);
});

test("lag: a series per assigned partition, 0 once caught up; ready follows /readyz through a history outage", async () => {
  const all = topics.flatMap((t) => Array.from({ length: PARTITIONS }, (_, p) => `${t}/${p}`)).sort();
  const readyz = async () => (await fetch(`${node.url}/readyz`)).status === 200 ? 1 : 0;
  await waitFor(async () => {
    const page = await scrape();
    return JSON.stringify(partitionsOf(page, "roomcast_kafka_consumer_lag")) === JSON.stringify(all) &&
      select(page.samples, "roomcast_kafka_consumer_lag").every((s) => s.value === 0);
  }, { what: "a lag of 0 for every assigned partition", timeoutMs: 20000 });
  let page = await scrape();
  assert.deepEqual(partitionsOf(page, "roomcast_kafka_partition_fetching"), all);
  assert.ok(select(page.samples, "roomcast_kafka_partition_fetching").every((s) => s.value === 1), "every partition fetched");
  assert.equal(page.v("roomcast_ready"), 1);
  assert.equal(await readyz(), 1);

  // The history goes away: appends fail, the consumer holds its partitions
  // back, records wait in Kafka.
  await redis.stop();
  const reqs = Array.from({ length: 3 }, (_, i) => ({ event_id: eid("lag"), occurred_at: T0 + i, performed_by: actor,
    action: "CREATED", program_id: "p-lag", request_id: `r${i}`, title: "x" }));
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation", reqs, "bare");
  await waitFor(async () => {
    const p = await scrape();
    return p.v("roomcast_kafka_consumer_paused") === 1 && p.v("roomcast_kafka_consumer_lag", { topic: "requests.mutations" }) >= 1;
  }, { what: "the consumer paused, with lag", timeoutMs: 20000 });
  page = await scrape();
  assert.equal(page.v("roomcast_ready"), 0, "not ready while the history refuses appends");
  assert.equal(await readyz(), 0);
  assert.equal(page.v("roomcast_kafka_consumer_lag") - page.v("roomcast_kafka_consumer_lag", { topic: "requests.mutations" }), 0,
    "only the partition written to is behind");

  await redis.start();
  await waitFor(async () => {
    const p = await scrape();
    return p.v("roomcast_ready") === 1 && p.v("roomcast_kafka_consumer_paused") === 0 && p.v("roomcast_kafka_consumer_lag") === 0;
  }, { what: "caught up and ready again", timeoutMs: 30000 });
  assert.equal(await readyz(), 1);
  page = await scrape();
  assert.deepEqual(partitionsOf(page, "roomcast_kafka_consumer_lag"), all);
});

test("partitions revoked by a rebalance lose their series", async () => {
  const second = await startRoomcast(args());
  try {
    const split = async () => {
      const pages = [await scrape(), await scrape(second)];
      const sets = pages.map((p) => partitionsOf(p, "roomcast_kafka_consumer_lag"));
      const ok = pages.every((p, i) => p.v("roomcast_kafka_assigned_partitions") > 0 &&
        sets[i].length === p.v("roomcast_kafka_assigned_partitions") &&
        JSON.stringify(partitionsOf(p, "roomcast_kafka_partition_fetching")) === JSON.stringify(sets[i]));
      return ok && sets[0].length + sets[1].length === topics.length * PARTITIONS && { sets };
    };
    const { sets } = await waitFor(split, { what: "the partitions split, each node with the series of its own", timeoutMs: 60000 });
    assert.ok(!sets[0].some((tp) => sets[1].includes(tp)), "no partition has series on both nodes");
  } finally {
    const exit = await second.stop();
    assert.equal(exit.code, 0);
  }
  await waitFor(async () => partitionsOf(await scrape(), "roomcast_kafka_consumer_lag").length === topics.length * PARTITIONS,
    { what: "every partition back on the first node", timeoutMs: 60000 });
});
