// Without Redis, memberships live in memory. A restarted node resumes the
// group at its committed offsets, so the membership records it consumed
// before are not delivered again: it must rebuild the table from the
// membership topic at start, adds and removes in order.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connect, metric, produce, startRoomcast, token, waitFor, sleep } from "./lib/fixtures.mjs";
import { startBroker } from "./lib/cluster.mjs";

let broker;
before(async () => { broker = await startBroker(); });
after(async () => { await broker?.stop(); });

const T0 = Date.parse("2026-11-21T12:00:00.000Z");
const m = (id, action, user, program) => ({ event_id: `rb-${id}-${process.pid}`, occurred_at: T0, performed_by: { user_id: "admin", name: null }, action, program_id: program, user_id: user, role: null });

test("a restarted in-memory node knows the members from the topic", async () => {
  // The embedded broker's group coordinator waits for a departed member's
  // session to time out before it rebalances: keep that short.
  const args = ["--kafka-brokers", broker.bootstrap, "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"];
  const first = await startRoomcast(args);
  await produce(broker.bootstrap, "program.memberships", "ProgramMembership", [
    m(1, "ADDED", "alice", "p1"), m(2, "ADDED", "bob", "p1"), m(3, "REMOVED", "bob", "p1"), m(4, "ADDED", "carol", "p2"),
  ]);
  await waitFor(async () => (await metric(first.url, "roomcast_events_appended_total")) >= 4, { what: "memberships consumed" });
  assert.equal((await first.stop()).code, 0); // commits the group's offsets

  const second = await startRoomcast(args);
  try {
    await waitFor(() => second.logs.some((l) => /membership rebuilt from \d+ partition\(s\): 4 record\(s\), 4 change\(s\)/.test(l)),
      { what: "the rebuild's log line" });
    const alice = await connect(second.url, { auth: { token: token("alice") } });
    const bob = await connect(second.url, { auth: { token: token("bob") } });
    const r = { event_id: `rb-r-${process.pid}`, occurred_at: T0, performed_by: { user_id: "u", name: null }, action: "CREATED", program_id: "p1", request_id: "r1", title: "x" };
    await produce(broker.bootstrap, "requests.mutations", "RequestMutation", [r]);
    await waitFor(() => alice.received.some((e) => e.args[0]?.eventId === r.event_id),
      { what: "alice, a member of p1, gets p1's event", detail: () => second.logs.slice(-15).join("\n") });
    await sleep(300);
    assert.ok(!bob.received.some((e) => e.args[0]?.eventId === r.event_id), "bob, removed from p1, does not");
    // The group did not hand the old membership records to the new process.
    assert.equal(await metric(second.url, "roomcast_records_consumed_total"), 1);
    alice.close();
    bob.close();
  } finally {
    assert.equal((await second.stop()).code, 0);
  }
});
