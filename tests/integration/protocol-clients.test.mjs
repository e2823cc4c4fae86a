// The real socket.io-client (npm) against roomcast over each transport
// configuration: long-polling only, WebSocket only, and the default
// (polling, then the upgrade to WebSocket). Connect with a JWT, receive
// broadcasts of records produced to Kafka, emit with acks, join and leave
// programs (allowed and forbidden), and the error event.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect, connectError, produce, startRoomcast, token, waitFor } from "./lib/fixtures.mjs";

let node;
let seq = 0;

before(async () => {
  node = await startRoomcast();
});

after(async () => {
  const exit = await node?.stop();
  assert.equal(exit?.code, 0);
});

const actor = { user_id: "u9", name: "Grace" };
const eid = (tag) => `proto-${tag}-${process.pid}-${++seq}`;

async function comment(program) {
  const r = {
    event_id: eid("c"), occurred_at: Date.now(), performed_by: actor, action: "ADDED",
    program_id: program, request_id: "r1", comment_id: `c${seq}`, body_preview: "hello",
  };
  await produce(node.bootstrap, "comments.mutations", "CommentMutation", [r], "bare");
  return r.event_id;
}

async function job(user) {
  const r = {
    event_id: eid("j"), occurred_at: Date.now(), state: "COMPLETED", job_id: `j${seq}`,
    user_id: user, program_id: null, progress: 100, message: "done",
  };
  await produce(node.bootstrap, "jobs.events", "JobEvent", [r], "bare");
  return r.event_id;
}

const has = (sock, id) => sock.received.some((e) => e.args[0]?.eventId === id);

for (const [label, transports] of [["polling only", ["polling"]], ["websocket only", ["websocket"]], ["default (polling then upgrade)", undefined]]) {
  describe(`socket.io-client, ${label}`, () => {
    const opts = (auth) => ({ auth, ...(transports ? { transports } : { transports: ["polling", "websocket"] }) });
    const user = `user-${label.split(" ")[0]}`;
    const program = `prog-${label.split(" ")[0]}`;

    test("a bad token is refused with the contract's error", async () => {
      const err = await connectError(node.url, opts({ token: token(user, {}, { secret: "wrong" }) }));
      assert.equal(err.message, "Authentication error");
      assert.deepEqual(err.data, { code: "TOKEN_INVALID" });
    });

    test("connects, receives broadcasts, joins and leaves programs with acks", async () => {
      const sock = await connect(node.url, opts({ token: token(user, { programs: [program] }) }));
      try {
        const engine = sock.io.engine;
        if (!transports) {
          if (engine.transport.name !== "websocket")
            await new Promise((resolve) => engine.once("upgrade", resolve));
          assert.equal(engine.transport.name, "websocket", "upgraded");
        } else {
          assert.equal(engine.transport.name, transports[0]);
        }

        // a broadcast to a program of the token's claim
        const c1 = await comment(program);
        await waitFor(() => has(sock, c1), { what: "the comment broadcast" });
        const got = sock.received.find((e) => e.args[0]?.eventId === c1);
        assert.equal(got.event, "comment:added");
        assert.equal(got.args[0].programId, program);
        assert.match(got.args[1], /^[0-9a-f]+-\d+$/, "stored events carry their offset");

        // acks: allowed, forbidden, malformed, unknown
        assert.deepEqual(await sock.timeout(5000).emitWithAck("join:program", program), { ok: true });
        assert.deepEqual(await sock.timeout(5000).emitWithAck("join:program", "not-mine"),
          { ok: false, error: { code: "FORBIDDEN" } });
        assert.deepEqual(await sock.timeout(5000).emitWithAck("join:program", { nope: 1 }),
          { ok: false, error: { code: "INVALID_ARGUMENT" } });
        assert.deepEqual(await sock.timeout(5000).emitWithAck("make:coffee"),
          { ok: false, error: { code: "INVALID_ARGUMENT", message: "unknown event" } });
        sock.emit("make:tea");
        await waitFor(() => sock.received.some((e) => e.event === "error"), { what: "the error event" });
        assert.deepEqual(sock.received.find((e) => e.event === "error").args,
          [{ ok: false, error: { code: "INVALID_ARGUMENT", message: "unknown event" } }]);

        // after leave:program the program's events stop; the user room stays
        assert.deepEqual(await sock.timeout(5000).emitWithAck("leave:program", program), { ok: true });
        const c2 = await comment(program);
        const j1 = await job(user);
        await waitFor(() => has(sock, j1), { what: "the job event in the user's room" });
        assert.ok(!has(sock, c2), "a program left sends nothing");
        // joining again brings them back
        assert.deepEqual(await sock.timeout(5000).emitWithAck("join:program", program), { ok: true });
        const c3 = await comment(program);
        await waitFor(() => has(sock, c3), { what: "the comment after joining again" });
        assert.ok(!has(sock, c2));
        assert.equal(sock.io.engine.transport.name, transports ? transports[0] : "websocket");
      } finally {
        sock.close();
      }
    });
  });
}
