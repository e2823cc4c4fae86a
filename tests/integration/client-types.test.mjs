// docs/client.md cannot drift: its TypeScript blocks (```ts file=NAME) are
// extracted and compiled with strict TypeScript against socket.io-client's
// and React's types and the generated schemas/roomcast-events.d.ts; a
// misspelled event name, a wrong payload field, or a declaration missing
// from the .d.ts fails the compilation (checked by mutating a copy). Then
// the guide's client module (roomcast.ts), compiled to JavaScript, runs
// against the real roomcast: recovery, the "could not recover" signal, a
// refused expired token, and a token refreshed on auth:expired.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { SOURCE_DIR, startRoomcast, produce, token, waitFor, sleep, metric } from "./lib/fixtures.mjs";

const TSC = path.join(SOURCE_DIR, "tests/node_modules/.bin/tsc");
const GUIDE = path.join(SOURCE_DIR, "docs/client.md");
const DTS = path.join(SOURCE_DIR, "schemas/roomcast-events.d.ts");

// The guide's compiled blocks: {name: source}.
function guideFiles() {
  const text = fs.readFileSync(GUIDE, "utf8");
  const fences = [...text.matchAll(/^```(ts|tsx|typescript)\b(.*)$/gm)];
  assert.ok(fences.length >= 5, "docs/client.md has TypeScript blocks");
  for (const f of fences) assert.match(f[2], /^ file=\S+$/, `every TypeScript block is compiled: \`\`\`${f[1]}${f[2]} needs file=NAME`);
  const files = {};
  for (const m of text.matchAll(/^```(?:ts|tsx) file=(\S+)\n([\s\S]*?)^```$/gm)) {
    assert.equal(files[m[1]], undefined, `file=${m[1]} appears once`);
    files[m[1]] = m[2];
  }
  assert.equal(Object.keys(files).length, fences.length, "every block was extracted");
  return files;
}

const tmpRoot = path.join(SOURCE_DIR, "tests/.tmp");

// Writes files (plus the declarations) to a fresh directory under tests/
// (so that tests/node_modules resolves) and runs tsc; returns its output,
// "" on success.
function compile(files, { dts = fs.readFileSync(DTS, "utf8"), emit = null } = {}) {
  fs.mkdirSync(tmpRoot, { recursive: true });
  const dir = fs.mkdtempSync(path.join(tmpRoot, "client-ts-"));
  try {
    fs.mkdirSync(path.join(dir, "src"));
    for (const [name, src] of Object.entries(files)) fs.writeFileSync(path.join(dir, "src", name), src);
    fs.writeFileSync(path.join(dir, "src/roomcast-events.d.ts"), dts);
    const compilerOptions = {
      strict: true, target: "es2022", module: "esnext", moduleResolution: "bundler",
      lib: ["es2022", "dom"], jsx: "react-jsx", types: [], skipLibCheck: false,
      ...(emit ? { outDir: emit, rootDir: path.join(dir, "src"), noEmit: false } : { noEmit: true }),
    };
    fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, include: ["src"] }));
    const r = spawnSync(TSC, ["-p", dir], { encoding: "utf8" });
    return r.status === 0 ? "" : `${r.stdout}${r.stderr}` || `tsc exited ${r.status}`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("the guide's TypeScript compiles with strict types", () => {
  const files = guideFiles();
  for (const name of ["roomcast.ts", "useRoomcast.tsx"]) assert.ok(files[name], `the guide has ${name}`);
  assert.equal(compile(files), "");
});

test("drift fails the compilation: event names, payload fields, declarations", () => {
  const files = guideFiles();
  const mutate = (name, from, to) => {
    assert.ok(files[name].includes(from), `${name} contains ${from}`);
    return { ...files, [name]: files[name].replace(from, to) };
  };
  const cases = [
    ["a misspelled server event", mutate("refresh.ts", 'socket.on("auth:expired"', 'socket.on("auth:expird"'), undefined],
    ["a misspelled client event", mutate("programs.ts", 'socket.emit("join:program"', 'socket.emit("join:programs"'), undefined],
    ["a misspelled payload field", mutate("basics.ts", "event.data.assigneeId", "event.data.assigneId"), undefined],
    ["a misspelled event in the React hook", mutate("RequestList.tsx", '"request:created"', '"request:creatd"'), undefined],
    ["an ack field that does not exist", mutate("roomcast.ts", "ack.error.code", "ack.error.reason"), undefined],
  ];
  // The declarations drifting away from the guide: an event the guide uses
  // is no longer declared.
  const dts = fs.readFileSync(DTS, "utf8");
  const line = /^ {2}"catchup:complete": .*\n/m;
  assert.match(dts, line);
  cases.push(["catchup:complete missing from the declarations", files, dts.replace(line, "")]);
  for (const [what, f, d] of cases) {
    const out = compile(f, d === undefined ? {} : { dts: d });
    assert.match(out, /error TS\d+/, `${what} must fail the compilation`);
  }
});

// ---- the client module on the real server ----

let node, client, clientDir;
before(async () => {
  // A small window (3 events per room) to make recovery fail on purpose;
  // no leeway and a short grace to see token expiry within the test.
  node = await startRoomcast(["--history-max", "3", "--jwt-leeway", "0", "--auth-grace", "4000"]);
  fs.mkdirSync(tmpRoot, { recursive: true }); // a fresh checkout has none yet
  const out = fs.mkdtempSync(path.join(tmpRoot, "client-js-"));
  fs.writeFileSync(path.join(out, "package.json"), '{"type":"module"}');
  assert.equal(compile({ "roomcast.ts": guideFiles()["roomcast.ts"] }, { emit: out }), "");
  clientDir = out;
  client = await import(pathToFileURL(path.join(out, "roomcast.js")).href);
});
after(async () => {
  await node?.stop();
  if (clientDir) fs.rmSync(clientDir, { recursive: true, force: true });
});

let seq = 0;
const record = (program) => ({
  performed_by: { user_id: "u0", name: "Ada" }, action: "CREATED", program_id: program,
  request_id: `r${++seq}`, title: `t${seq}`,
});

// A connectRoomcast() client that records what the application sees.
async function start(sub, program, extra = {}) {
  const seen = { events: [], offsets: [], resyncs: 0, failures: [], disconnects: [], catchups: [] };
  const socket = client.connectRoomcast({
    url: node.url,
    getToken: async () => token(sub, { programs: [program] }),
    onResync: () => seen.resyncs++,
    onAuthFailure: (code) => seen.failures.push(code),
    onOffset: (o) => seen.offsets.push(o),
    io: { transports: ["websocket"], forceNew: true },
    ...extra,
  });
  socket.on("request:created", (ev) => seen.events.push(ev.data.title));
  socket.on("disconnect", (reason) => seen.disconnects.push(reason));
  socket.on("catchup:complete", (c) => seen.catchups.push(c));
  await waitFor(() => socket.connected || seen.failures.length, { what: `${sub} connected` });
  return { socket, seen };
}

// Produces records and waits until roomcast has stored them.
async function produceStored(records) {
  const before = await metric(node.url, "roomcast_events_appended_total");
  await produce(node.bootstrap, "requests.mutations", "RequestMutation", records);
  await waitFor(async () => (await metric(node.url, "roomcast_events_appended_total")) >= before + records.length,
    { what: "the records stored" });
}

// Cuts the transport without a Socket.IO DISCONNECT (a network drop), runs
// fn while the client is away, then lets it reconnect.
async function dropWhile(socket, fn) {
  socket.io.reconnection(false);
  socket.io.engine.close();
  await waitFor(() => !socket.connected, { what: "the drop" });
  await fn();
  socket.io.reconnection(true);
  socket.connect();
  await waitFor(() => socket.connected, { what: "the reconnection" });
}

test("a dropped client recovers the events it missed, without a resync", async () => {
  const { socket, seen } = await start("u1", "p1");
  try {
    const title1 = record("p1");
    await produce(node.bootstrap, "requests.mutations", "RequestMutation", [title1]);
    await waitFor(() => seen.events.includes(title1.title), { what: "the live event" });
    assert.equal(seen.offsets.length, 1, "the stored event's offset reached onOffset");
    const id = socket.id;
    const missed = record("p1");
    await dropWhile(socket, async () => {
      await produceStored([missed]);
    });
    await waitFor(() => seen.events.includes(missed.title), { what: "the missed event" });
    assert.equal(socket.recovered, true);
    assert.equal(socket.id, id, "same socket id after recovery");
    assert.equal(seen.resyncs, 0, "no resync after a recovery");
    assert.deepEqual(seen.catchups, [], "no explicit catch-up after a recovery");
    assert.deepEqual(seen.failures, []);
  } finally {
    socket.disconnect();
  }
});

test("a gap beyond the history window is the could-not-recover signal: onResync", async () => {
  const { socket, seen } = await start("u2", "p2");
  try {
    const first = record("p2");
    await produce(node.bootstrap, "requests.mutations", "RequestMutation", [first]);
    await waitFor(() => seen.events.includes(first.title), { what: "the live event" });
    await dropWhile(socket, async () => {
      // More than --history-max 3 events of the room while away.
      await produceStored([1, 2, 3, 4, 5].map(() => record("p2")));
    });
    await waitFor(() => seen.resyncs > 0, { what: "onResync" });
    assert.equal(socket.recovered, false);
    // The module also sent lastOffset: the catch-up fallback said truncated.
    assert.deepEqual(seen.catchups, [{ replayed: 0, truncated: true }]);
    assert.equal(seen.resyncs, 1);
    assert.equal(seen.events.length, 1, "nothing partial was replayed");
  } finally {
    socket.disconnect();
  }
});

test("an expired token at connect is retried with a fresh one", async () => {
  let calls = 0;
  const { socket, seen } = await start("u3", "p3", {
    getToken: async () => (++calls === 1 ? token("u3", { exp: Math.floor(Date.now() / 1000) - 60 }) : token("u3")),
  });
  try {
    assert.equal(socket.connected, true);
    assert.ok(calls >= 2, "a second token was fetched");
    assert.deepEqual(seen.failures, []);
  } finally {
    socket.disconnect();
  }
});

test("auth:expired is answered with auth:refresh: the socket stays", async () => {
  let calls = 0;
  const exp = Math.floor(Date.now() / 1000) + 2;
  const { socket, seen } = await start("u4", "p4", {
    getToken: async () => (++calls === 1 ? token("u4", { exp }) : token("u4")),
  });
  try {
    const expired = [];
    socket.on("auth:expired", (p) => expired.push(p));
    await waitFor(() => expired.length > 0, { what: "auth:expired", timeoutMs: 6000 });
    assert.equal(expired[0].exp, exp);
    // Past the grace period (4 s) the socket is still there.
    await sleep(5000);
    assert.equal(socket.connected, true);
    assert.deepEqual(seen.disconnects, []);
    assert.deepEqual(seen.failures, []);
    assert.equal(calls, 2, "one new token, sent with auth:refresh");
  } finally {
    socket.disconnect();
  }
});
