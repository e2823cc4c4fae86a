// The README against the real thing: its quick-start produce command, as
// written, reaches a demo user's socket on `roomcast --demo` (what
// deploy/demo.sh runs); its table of demo users and programs is what the
// demo's memberships allow; /demo/token works as it says; deploy/demo.sh
// prints the URL its --listen gives.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { BUILD_DIR, SOURCE_DIR, connect, startLogged, waitFor } from "./lib/fixtures.mjs";

const README = fs.readFileSync(path.join(SOURCE_DIR, "README.md"), "utf8");

// The first ```sh block that runs roomcast-produce.
function produceBlock() {
  for (const m of README.matchAll(/```sh\n([\s\S]*?)```/g))
    if (m[1].includes("roomcast-produce")) return m[1];
  throw new Error("README has no sh block with roomcast-produce");
}

// The demo users' table: user -> programs.
function demoUsers() {
  const users = {};
  for (const m of README.matchAll(/^\| `(\w+)` \| ((?:`[\w-]+`(?:, )?)+) \|/gm))
    users[m[1]] = [...m[2].matchAll(/`([\w-]+)`/g)].map((x) => x[1]);
  return users;
}

function sh(script, env = {}) {
  return new Promise((resolve) => {
    const child = execFile("bash", ["-c", script], { cwd: SOURCE_DIR, env: { ...process.env, ...env }, timeout: 30000 },
      (err, stdout, stderr) => resolve({ code: child.exitCode ?? err?.code, stdout, stderr }));
  });
}

let node;
const sockets = [];

before(async () => {
  // Exactly what deploy/demo.sh starts: --demo and nothing else (no key:
  // the demo's development secret signs /demo/token's tokens).
  const env = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith("ROOMCAST_")).map((k) => [k, ""]));
  node = await startLogged("roomcast", ["--demo", "--listen", "127.0.0.1:0"], {
    env,
    onLine: (n, msg) => {
      const m = /embedded Kafka broker listening on (\S+)/.exec(msg);
      if (m) n.bootstrap = m[1];
    },
    isReady: (n) => n.port && n.bootstrap && n.logs.some((l) => /roomcast started on port/.test(l)),
  });
});

after(async () => {
  for (const s of sockets) s.close();
  const exit = await node?.stop();
  assert.equal(exit?.code, 0);
});

async function demoSocket(sub) {
  const res = await fetch(`${node.url}/demo/token?sub=${encodeURIComponent(sub)}`);
  assert.equal(res.status, 200);
  const { token } = await res.json();
  const s = await connect(node.url, { auth: { token } });
  sockets.push(s);
  return s;
}

const join = (s, program) => s.timeout(5000).emitWithAck("join:program", program);

// Waits until user's socket may join program: memberships arrive as the
// demo's member:added records are consumed. Slow enough for the client
// event limit (100 a minute, burst 20).
async function joined(s, user, program) {
  for (let i = 0; i < 30; i++) {
    if ((await join(s, program)).ok) return;
    await new Promise((r) => setTimeout(r, 700));
  }
  throw new Error(`${user} never got into ${program}`);
}

describe("the README's demo", () => {
  test("the demo users belong to the programs the README lists, and to no other", async () => {
    const users = demoUsers();
    assert.deepEqual(Object.keys(users).sort(), ["alice", "bob", "carol"]);
    const all = [...new Set(Object.values(users).flat())];
    for (const [user, programs] of Object.entries(users)) {
      const s = await demoSocket(user);
      // memberships arrive as the demo's member:added records are consumed
      for (const p of programs) await joined(s, user, p);
      // bob joins p1 now and then (the README says so): not checked as absent
      for (const p of all.filter((x) => !programs.includes(x) && !(user === "bob" && x === "p1")))
        assert.deepEqual(await join(s, p), { ok: false, error: { code: "FORBIDDEN" } }, `${user} not in ${p}`);
    }
  });

  test("/demo/token needs a sub", async () => {
    const res = await fetch(`${node.url}/demo/token`);
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: "query parameter sub is required" });
  });

  test("the quick-start produce command, as written, reaches a demo user's socket", async () => {
    const block = produceBlock();
    const record = JSON.parse(/echo '([^']+)'/.exec(block)[1]);
    const users = demoUsers();
    const reached = Object.keys(users).filter((u) => users[u].includes(record.program_id));
    assert.ok(reached.length > 0, `program ${record.program_id} of the README's record has no demo user`);
    const user = reached[0];
    const s = await demoSocket(user);
    await joined(s, user, record.program_id);

    assert.match(block, /build\/roomcast-produce --brokers 127\.0\.0\.1:PORT /);
    const script = block.replaceAll("127.0.0.1:PORT", node.bootstrap).replaceAll("build/", `${path.resolve(BUILD_DIR)}/`);
    const r = await sh(`set -euo pipefail\n${script}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /produced 1 records to requests\.mutations/);

    const got = await waitFor(() => s.received.find((e) => e.args[0]?.data?.title === record.title),
      { what: `the README's event on ${user}'s socket`, timeoutMs: 20000 });
    assert.equal(got.event, "request:created");
    assert.equal(got.args[0].programId, record.program_id);
    assert.equal(got.args[0].requestId, record.request_id);
    assert.deepEqual(got.args[0].performedBy, { userId: record.performed_by.user_id, name: record.performed_by.name });
    assert.match(got.args[1], /^[0-9a-f]+-\d+$/, "a stored event carries its offset");
  });
});

describe("deploy/demo.sh", () => {
  test("prints the URL of the --listen it is given", async () => {
    const cases = [
      [[], {}, "http://localhost:8080/"],
      [["--listen", "127.0.0.1:9000"], {}, "http://127.0.0.1:9000/"],
      [["--listen=[::1]:9001"], {}, "http://[::1]:9001/"],
      [["--listen", "0.0.0.0:8081", "--listen", ":8082"], {}, "http://localhost:8082/"],
      [["--listen", "127.0.0.1:9443", "--tls-cert", "c.pem", "--tls-key", "k.pem"], {}, "https://127.0.0.1:9443/"],
      [[], { ROOMCAST_LISTEN: "127.0.0.2:7000" }, "http://127.0.0.2:7000/"],
    ];
    for (const [args, env, want] of cases) {
      const r = await sh(`deploy/demo.sh --print-url ${args.map((a) => `'${a}'`).join(" ")}`, { ROOMCAST_LISTEN: "", ROOMCAST_TLS_CERT: "", ...env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), want, args.join(" "));
    }
  });
});
