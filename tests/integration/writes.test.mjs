// The WebSocket write path as the kernel sees it. strace follows the
// server's sendto() calls: lws writes with send(), and the only other
// network user in the process, librdkafka (the broker is a standalone
// process here), writes with sendmsg(). So every sendto() below is a write
// to a client.
//  * A large event goes to the kernel in one send(), not in pieces of the
//    receive buffer's size (lws' default cap on a send) one loop turn apart.
//  * Frames queued for one client (a catch-up replay) are framed back to
//    back and written together: a few send()s, not one per event.
// What the client receives (every event once, in order, intact) is checked
// as well, so the coalesced frames are also proven well formed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";
import { connect, produce, startRoomcast, token, waitFor } from "./lib/fixtures.mjs";
import { startBroker } from "./lib/cluster.mjs";

let broker, node, strace;
let lines = [];

before(async () => {
  broker = await startBroker();
  node = await startRoomcast(["--kafka-brokers", broker.bootstrap, "--history-max", "1000"]);
  strace = spawn("strace", ["-f", "-s", "0", "-e", "trace=sendto", "-e", "signal=none", "-p", String(node.proc.pid)],
    { stdio: ["ignore", "ignore", "pipe"] });
  let buf = "";
  let attached = false;
  strace.stderr.on("data", (d) => {
    buf += d;
    const parts = buf.split("\n");
    buf = parts.pop();
    for (const l of parts) {
      if (/attached/.test(l)) attached = true;
      lines.push(l);
    }
  });
  await waitFor(() => attached || strace.exitCode !== null, { what: "strace attached" });
  assert.equal(strace.exitCode, null, `strace could not attach: ${lines.join("\n")}`);
});

after(async () => {
  strace?.kill("SIGINT");
  if (node && !node.exited) assert.equal((await node.stop()).code, 0);
  await broker?.stop();
});

// The sendto() calls seen since mark: {fd, len, ret}.
function sendsSince(mark) {
  const out = [];
  for (const l of lines.slice(mark)) {
    const m = /sendto\((\d+), .*?, (\d+), [^)]*\) += (-?\d+)/.exec(l);
    if (m) out.push({ fd: +m[1], len: +m[2], ret: +m[3] });
  }
  return out;
}

const records = (program, count, titleBytes = 8) => Array.from({ length: count }, (_, i) => ({
  event_id: `w-${program}-${i}-${process.pid}`, occurred_at: Date.now(), performed_by: { user_id: "u0", name: null },
  action: "CREATED", program_id: program, request_id: `r${i}`, title: `${i}-` + "t".repeat(titleBytes),
}));
const got = (s, program) => s.received
  .filter((e) => e.event === "request:created" && e.args[0].programId === program);

test("a 20 KB event goes to the kernel in one send()", async () => {
  const s = await connect(node.url, { auth: { token: token("u-big", { programs: ["pbig"] }) } });
  const mark = lines.length;
  const [rec] = records("pbig", 1, 20000);
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation", [rec]);
  await waitFor(() => got(s, "pbig").length === 1, { what: "the large event" });
  const title = got(s, "pbig")[0].args[0].data?.title;
  assert.ok(title === rec.title, `the title arrived intact (${title?.length} characters)`);
  await waitFor(() => sendsSince(mark).some((c) => c.len > 20000), {
    what: "a send() with the whole frame", detail: () => JSON.stringify(sendsSince(mark)),
  });
  const calls = sendsSince(mark);
  assert.equal(calls.filter((c) => c.len > 20000).length, 1, "one send() carries the whole frame");
  assert.ok(calls.length <= 2, `sendto() calls for one event: ${JSON.stringify(calls)}`);
  s.close();
});

test("a catch-up of 96 events is written in a few send()s, every event once, in order", async () => {
  const program = "pmany";
  const w = await connect(node.url, { auth: { token: token("u-w", { programs: [program] }) } });
  const recs = records(program, 97);
  await produce(broker.bootstrap, "requests.mutations", "RequestMutation", recs);
  await waitFor(() => got(w, program).length === 97, { what: "the witness's events" });
  const first = got(w, program)[0].args[1];

  const mark = lines.length;
  const s = await connect(node.url, { auth: { token: token("u-c", { programs: [program] }), lastOffset: first } });
  await waitFor(() => s.received.some((e) => e.event === "catchup:complete"), { what: "catchup:complete" });
  assert.deepEqual(got(s, program).map((e) => e.args[0].eventId), recs.slice(1).map((r) => r.event_id),
    "the 96 events after lastOffset, once, in order");
  assert.deepEqual(s.received.at(-1).args, [{ replayed: 96, truncated: false }]);

  await waitFor(() => {
    const bytes = sendsSince(mark).reduce((n, c) => n + c.ret, 0);
    return bytes >= 96 * 100;
  }, { what: "the replay's send()s", detail: () => JSON.stringify(sendsSince(mark)) });
  const calls = sendsSince(mark);
  // The handshake (open packet, CONNECT reply) and catchup:complete are a
  // few more; one send() per event would be over 96.
  assert.ok(calls.length <= 12, `sendto() calls for a 96-event catch-up: ${calls.length}: ${JSON.stringify(calls)}`);
  w.close();
  s.close();
});
