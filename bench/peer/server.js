// The reference peer: roomcast's job done the usual way in Node.
//
// kafkajs consumes the catalog's topics in its own consumer group, avsc
// decodes the records (Confluent, single-object or bare framing), the event
// catalog (schemas/catalog.json) maps each record to an event with the same
// name, rooms and payload as roomcast, and socket.io 4 broadcasts it to the
// rooms, with connection state recovery on (offsets appended to stored
// events, as roomcast does). JWT HS256 at CONNECT with jsonwebtoken; the
// socket joins user:{sub} and program:{id} for each id of the `programs`
// claim and each membership. Tuned as socket.io's performance guide says:
// WebSocket without permessage-deflate, the bufferutil and utf-8-validate
// add-ons, the HTTP request dropped once the socket is connected.
//
// With --redis URL, Redis the usual way for several nodes: ioredis and
// socket.io's Redis streams adapter (@socket.io/redis-streams-adapter), the
// adapter that supports connection state recovery across nodes. Every
// broadcast is appended to one Redis stream (XADD, MAXLEN ~10000) whose
// entry id is the event's offset, and read back by every node (XREAD); a
// disconnected socket's session is stored under sio:session:<pid>, and a
// recovery takes it and reads the stream after the client's offset. The
// broadcast counter then counts a broadcast once the adapter has appended it
// to the stream and delivered it locally (the application's emit() does not
// wait for that). The dedupe set stays in memory.
//
// Not done (roomcast does them): rate limits on client events, connection
// limits per IP and per user, a DLQ with error headers (undecodable records
// are logged and counted); without --redis, a Redis history (single node,
// in memory).
//
// usage: node server.js --listen 127.0.0.1:PORT --brokers HOST:PORT
//          --jwt-secret S [--schemas-dir DIR] [--group-id G]
//          [--fetch-wait-ms N] [--ping-interval MS] [--ping-timeout MS]
//          [--recovery-window MS] [--redis redis://HOST:PORT]
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import jwt from "jsonwebtoken";
import { Kafka, logLevel } from "kafkajs";
import { Server } from "socket.io";
import { Redis } from "ioredis";
import { createAdapter } from "@socket.io/redis-streams-adapter";
import { loadSchemas, makeDecoder } from "./avro.js";

const here = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    listen: { type: "string", default: "127.0.0.1:8081" },
    brokers: { type: "string" },
    "jwt-secret": { type: "string" },
    "jwt-leeway": { type: "string", default: "30" },
    "schemas-dir": { type: "string", default: join(here, "..", "..", "schemas") },
    "group-id": { type: "string", default: "roomcast-peer" },
    "fetch-wait-ms": { type: "string", default: "500" },
    "ping-interval": { type: "string", default: "25000" },
    "ping-timeout": { type: "string", default: "20000" },
    "recovery-window": { type: "string", default: "120000" },
    "dedupe-max": { type: "string", default: "100000" },
    redis: { type: "string" },
  },
});
if (!opt.brokers || !opt["jwt-secret"]) {
  console.error("usage: node server.js --listen HOST:PORT --brokers LIST --jwt-secret S [...]");
  process.exit(2);
}
const log = (level, msg) =>
  process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level, mod: "peer", msg }) + "\n");

// ---- catalog: record -> event ----
const schemas = loadSchemas(opt["schemas-dir"]);
const decode = makeDecoder(schemas);

function getter(path) {
  const parts = path.split(".");
  return (rec) => {
    let v = rec;
    for (const p of parts) {
      if (v === null || v === undefined) return null;
      v = v[p];
    }
    return v === undefined ? null : v;
  };
}
function dataBuilder(spec) {
  const keys = Object.keys(spec).map((k) => [
    k,
    typeof spec[k] === "string" ? getter(spec[k]) : dataBuilder(spec[k]),
  ]);
  return (rec) => {
    const o = {};
    for (const [k, g] of keys) o[k] = g(rec);
    return o;
  };
}
function roomBuilder(tpl) {
  const m = /^(.*)\{([^}]+)\}(.*)$/.exec(tpl);
  if (!m) return () => tpl;
  const g = getter(m[2]);
  return (rec) => {
    const v = g(rec);
    return v === null || v === "" ? null : `${m[1]}${v}${m[3]}`;
  };
}
const mappers = new Map(); // topic -> record => event
for (const rec of schemas.catalog.records) {
  const eventId = getter(rec.eventId);
  const ts = getter(rec.timestamp);
  const action = getter(rec.action);
  const ids = Object.entries(rec.ids || {}).map(([k, f]) => [k, getter(f)]);
  const by = rec.performedBy ? dataBuilder(rec.performedBy) : null;
  const events = {};
  for (const [sym, e] of Object.entries(rec.events)) {
    events[sym] = {
      name: e.event,
      rooms: e.rooms.map(roomBuilder),
      data: dataBuilder(e.data),
      transient: !!e.transient,
      membership: e.membership
        ? { op: e.membership.op, user: getter(e.membership.user), program: getter(e.membership.program) }
        : null,
    };
  }
  const recordName = rec.record.split(".").pop();
  mappers.set(rec.topic, {
    recordName: rec.record,
    map(r) {
      const e = events[action(r)];
      if (!e) throw new Error(`no event for ${recordName} ${action(r)}`);
      const payload = { eventId: eventId(r), event: e.name };
      for (const [k, g] of ids) {
        const v = g(r);
        if (v !== null) payload[k] = String(v);
      }
      payload.data = e.data(r);
      if (by) payload.performedBy = by(r);
      payload.timestamp = new Date(Number(ts(r))).toISOString();
      const rooms = [];
      for (const rb of e.rooms) {
        const room = rb(r);
        if (room !== null) rooms.push(room);
      }
      return { e, payload, rooms, record: r };
    },
  });
}

// ---- memberships (user -> programs), from member:added / member:removed ----
const memberships = new Map();
const isMember = (user, program) => memberships.get(user)?.has(program) ?? false;

// ---- Socket.IO ----
const httpServer = createServer();
const recoveryWindow = Number(opt["recovery-window"]);
const redis = opt.redis ? new Redis(opt.redis, { lazyConnect: false }) : null;
redis?.on("error", (e) => log("warn", `redis: ${e.message}`));
const io = new Server(httpServer, {
  serveClient: false,
  transports: ["websocket", "polling"],
  perMessageDeflate: false,
  httpCompression: false,
  pingInterval: Number(opt["ping-interval"]),
  pingTimeout: Number(opt["ping-timeout"]),
  maxHttpBufferSize: 1e6,
  cors: { origin: "*" },
  connectionStateRecovery: recoveryWindow > 0 ? { maxDisconnectionDuration: recoveryWindow, skipMiddlewares: false } : undefined,
  adapter: redis ? createAdapter(redis) : undefined,
});
const counters = { consumed: 0, invalid: 0, duplicate: 0, broadcast: 0, recovered: 0, notRecovered: 0 };
if (redis) {
  // A broadcast is done once the adapter has appended it to the stream (the
  // offset) and delivered it to this node's sockets.
  const adapter = io.of("/").adapter;
  const broadcast = adapter.broadcast.bind(adapter);
  adapter.broadcast = (packet, opts) => broadcast(packet, opts).then(() => void counters.broadcast++);
}
const secret = opt["jwt-secret"];
const leeway = Number(opt["jwt-leeway"]);
let handshakes = 0;
let authFailures = 0;

function authError(code) {
  const err = new Error("Authentication error");
  err.data = { code };
  authFailures++;
  return err;
}
io.use((socket, next) => {
  const auth = socket.handshake.auth || {};
  let token = auth.token;
  if (token === undefined || token === null) {
    const h = socket.handshake.headers.authorization;
    if (typeof h === "string" && h.startsWith("Bearer ")) token = h.slice(7);
  }
  if (token === undefined || token === null || token === "") return next(authError("TOKEN_MISSING"));
  if (typeof token !== "string" || token.length > 8192) return next(authError("TOKEN_INVALID"));
  let claims;
  try {
    claims = jwt.verify(token, secret, { algorithms: ["HS256"], clockTolerance: leeway });
  } catch (e) {
    return next(authError(e.name === "TokenExpiredError" ? "TOKEN_EXPIRED" : "TOKEN_INVALID"));
  }
  if (typeof claims.sub !== "string" || !claims.sub) return next(authError("TOKEN_INVALID"));
  const programs = claims.programs ?? [];
  if (!Array.isArray(programs)) return next(authError("TOKEN_INVALID"));
  socket.data.sub = claims.sub;
  socket.data.programs = programs.map(String);
  next();
});

io.on("connection", (socket) => {
  handshakes++;
  if (socket.handshake.auth?.pid !== undefined) socket.recovered ? counters.recovered++ : counters.notRecovered++;
  socket.conn.request = null; // socket.io's guide: keep no reference to the HTTP request
  const sub = socket.data.sub;
  if (!socket.recovered) {
    const rooms = [`user:${sub}`];
    for (const p of socket.data.programs) rooms.push(`program:${p}`);
    for (const p of memberships.get(sub) ?? []) rooms.push(`program:${p}`);
    socket.join(rooms);
  }
  const answer = (ack, body) => {
    if (typeof ack === "function") ack(body);
    else if (!body.ok) socket.emit("error", body);
  };
  const checkId = (id) => (typeof id === "string" && id.length > 0 && id.length <= 256) || Number.isInteger(id);
  socket.on("join:program", (id, ack) => {
    if (!checkId(id)) return answer(ack, { ok: false, error: { code: "INVALID_ARGUMENT" } });
    id = String(id);
    if (!socket.data.programs.includes(id) && !isMember(sub, id))
      return answer(ack, { ok: false, error: { code: "FORBIDDEN" } });
    socket.join(`program:${id}`);
    answer(ack, { ok: true });
  });
  socket.on("leave:program", (id, ack) => {
    if (!checkId(id)) return answer(ack, { ok: false, error: { code: "INVALID_ARGUMENT" } });
    socket.leave(`program:${String(id)}`);
    answer(ack, { ok: true });
  });
});

// ---- Kafka ----
const [host, port] = [opt.listen.slice(0, opt.listen.lastIndexOf(":")), Number(opt.listen.slice(opt.listen.lastIndexOf(":") + 1))];
const kafka = new Kafka({ clientId: "roomcast-peer", brokers: opt.brokers.split(","), logLevel: logLevel.WARN });
const consumer = kafka.consumer({
  groupId: opt["group-id"],
  maxWaitTimeInMs: Number(opt["fetch-wait-ms"]),
  minBytes: 1,
});
const seen = new Set(); // event ids, insertion order: the oldest go first
const dedupeMax = Number(opt["dedupe-max"]);
let ready = false;

function handle(topic, value) {
  counters.consumed++;
  const mapper = mappers.get(topic);
  let ev;
  try {
    ev = mapper.map(decode(value, mapper.recordName));
  } catch (e) {
    counters.invalid++;
    log("warn", `${topic}: record not mapped: ${e.message}`);
    return;
  }
  const id = ev.payload.eventId;
  if (seen.has(id)) {
    counters.duplicate++;
    return;
  }
  seen.add(id);
  if (seen.size > dedupeMax) seen.delete(seen.values().next().value);
  const m = ev.e.membership;
  if (m) {
    const user = m.user(ev.record), program = m.program(ev.record);
    let set = memberships.get(user);
    if (m.op === "add") {
      if (!set) memberships.set(user, (set = new Set()));
      set.add(program);
      io.in(`user:${user}`).socketsJoin(`program:${program}`);
    } else {
      set?.delete(program);
      io.in(`user:${user}`).socketsLeave(`program:${program}`);
    }
  }
  if (ev.rooms.length === 0) return;
  const op = io.to(ev.rooms);
  (ev.e.transient ? op.volatile : op).emit(ev.payload.event, ev.payload);
  if (!redis) counters.broadcast++;
}

httpServer.on("request", (req, res) => {
  if (req.url.startsWith("/socket.io/")) return; // socket.io answers
  if (req.url === "/readyz" || req.url === "/healthz") {
    const ok = ready && (!redis || redis.status === "ready");
    res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
    return res.end(JSON.stringify({ status: ok ? "ready" : "not ready" }));
  }
  if (req.url === "/metrics") {
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    return res.end(
      `roomcast_records_consumed_total ${counters.consumed}\n` +
        `roomcast_records_invalid_total ${counters.invalid}\n` +
        `roomcast_events_duplicate_total ${counters.duplicate}\n` +
        `roomcast_events_broadcast_total ${counters.broadcast}\n` +
        `roomcast_sockets ${io.of("/").sockets.size}\n` +
        `roomcast_handshakes_total ${handshakes}\n` +
        `roomcast_auth_failures_total ${authFailures}\n` +
        `roomcast_recoveries_total{outcome="recovered"} ${counters.recovered}\n` +
        `roomcast_recoveries_total{outcome="not_recovered"} ${counters.notRecovered}\n`
    );
  }
  res.writeHead(404).end();
});

async function main() {
  await new Promise((resolve) => httpServer.listen(port, host, resolve));
  consumer.on(consumer.events.GROUP_JOIN, () => {
    ready = true;
    log("info", "consumer joined its group");
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [...mappers.keys()], fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      for (const msg of batch.messages) {
        if (msg.value) handle(batch.topic, msg.value);
        resolveOffset(msg.offset);
      }
      await heartbeat();
    },
  });
  log("info", `peer ready on ${opt.listen} (kafka ${opt.brokers}${redis ? `, redis ${opt.redis}` : ""})`);
}

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  ready = false;
  try {
    await consumer.disconnect();
  } catch {}
  io.close();
  if (redis) redis.disconnect();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
main().catch((e) => {
  log("error", e.stack || String(e));
  process.exit(1);
});
