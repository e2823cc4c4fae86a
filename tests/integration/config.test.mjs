// The process interface around the configuration, against the real
// binaries: --version, --check-config, exit status 2 for every
// configuration error (with a message that names the option and the fix)
// and 1 for a port in use; secrets from files and the environment
// (--jwt-secret-file, ROOMCAST_KAFKA_<PROPERTY>, -X PROPERTY=@FILE), never
// printed; the warnings about a short HS256 secret and a secret on the
// command line; roomcast-produce's record/topic check.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { startBroker } from "./lib/cluster.mjs";
import { BUILD_DIR, connect, startLogged, token } from "./lib/fixtures.mjs";

const LONG_SECRET = "config-test-secret-0123456789abcdef-0123456789";
let dir;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "roomcast-config-"));
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

// The environment without any ROOMCAST_* variable of the caller's.
function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("ROOMCAST_")) env[k] = v;
  return { ...env, ...extra };
}

// Runs one of this build's binaries to its end: {code, stdout, stderr}.
function run(name, args, { env = {}, input, timeoutMs = 20000 } = {}) {
  return new Promise((resolve) => {
    const child = execFile(path.join(BUILD_DIR, name), args, { env: cleanEnv(env), timeout: timeoutMs },
      (err, stdout, stderr) => resolve({ code: child.exitCode ?? err?.code, signal: child.signalCode, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
  });
}

function file(name, text, mode = 0o600) {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text, { mode });
  return p;
}

describe("--version", () => {
  test("roomcast names its version and its libraries', and exits 0", async () => {
    const r = await run("roomcast", ["--version"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0], /^roomcast \d+\.\d+\.\d+$/);
    for (const lib of ["librdkafka", "libwebsockets", "avro-c", "hiredis", "libjwt"])
      assert.ok(lines.some((l) => new RegExp(`^${lib} \\d+\\.\\d+`).test(l)), `${lib} in\n${r.stdout}`);
    const version = lines[0].split(" ")[1];
    for (const prog of ["roomcast-produce", "roomcast-broker"]) {
      const p = await run(prog, ["--version"]);
      assert.equal(p.code, 0, p.stderr);
      assert.equal(p.stdout.split("\n")[0], `${prog} ${version}`);
      assert.match(p.stdout, /^librdkafka \d+\.\d+\.\d+/m);
    }
  });
});

describe("--check-config", () => {
  test("a good configuration: one line on stdout, exit 0, nothing started", async () => {
    const r = await run("roomcast", ["--check-config", "--listen", "127.0.0.1:1"],
      { env: { ROOMCAST_JWT_SECRET: LONG_SECRET } });
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout.trim().split("\n");
    assert.equal(out.length, 1);
    assert.match(out[0], /^roomcast \S+: configuration OK: listen http:\/\/127\.0\.0\.1:1, kafka embedded, .*tokens HS256/);
    assert.doesNotMatch(r.stderr, /listening on|embedded Kafka broker listening/);
  });

  test("the port is not probed: a running node's configuration checks OK", async () => {
    const held = net.createServer();
    await new Promise((resolve) => held.listen(0, "127.0.0.1", resolve));
    try {
      const r = await run("roomcast", ["--check-config", "--listen", `127.0.0.1:${held.address().port}`],
        { env: { ROOMCAST_JWT_SECRET: LONG_SECRET } });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      held.close();
    }
  });

  // Each case: the arguments, extra environment, and what the message says.
  const secretEnv = { ROOMCAST_JWT_SECRET: LONG_SECRET };
  const cases = () => [
    [["-X", "foo.bar=1"], secretEnv, /kafka property foo\.bar: No such configuration property.*-X, ROOMCAST_KAFKA_<PROPERTY> or kafka\.\*/],
    [[], { ...secretEnv, ROOMCAST_KAFKA_FOO_BAR: "1" }, /kafka property foo\.bar: No such configuration property/],
    [["--topics", "Foo=bar"], secretEnv, /--topics 'Foo=bar': .*unknown record "Foo"/],
    [["--listen", "foo"], secretEnv, /--listen 'foo' is not HOST:PORT, e\.g\. 0\.0\.0\.0:8080/],
    [["--listen", "::1:80"], secretEnv, /--listen '::1:80': an IPv6 address goes in brackets/],
    [["--jwt-alg", "hs256"], secretEnv, /jwt-alg "hs256" not supported: did you mean HS256\?/],
    [["--jwt-alg", "RS256"], secretEnv, /jwt-public-key or jwt-jwks is required for RS256/],
    [["--history-max", "0"], secretEnv, /--history-max 0: keep at least 1 event per room/],
    [["--ping-interval", "0"], secretEnv, /ping-interval must be positive, got 0/],
    [["--tls-cert", "/nonexistent/cert.pem"], secretEnv, /tls-cert and tls-key go together/],
    [["--redis", "redis://h:99999"], secretEnv, /--redis: redis url: bad port/],
    [["--no-such-option"], secretEnv, /unknown option '--no-such-option' \(see --help\)/],
    [["--jwt-secret-file", file("jwt-a", `${LONG_SECRET}\n`)], secretEnv, /--jwt-secret and --jwt-secret-file are both set: keep one/],
    [["--jwt-secret-file", path.join(dir, "missing")], {}, /--jwt-secret-file: cannot open jwt-secret file .*missing: No such file or directory/],
    [["-X", `sasl.password=@${path.join(dir, "missing-pw")}`], secretEnv, /-X: cannot open kafka property sasl\.password file .*missing-pw: No such file/],
    [["--log-level", "loud"], secretEnv, /--log-level 'loud': expected debug, info, warn or error/],
  ];

  test("every configuration error exits 2 with a message naming the option and the fix", async () => {
    for (const [args, env, re] of cases()) {
      const r = await run("roomcast", ["--check-config", ...args], { env });
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(" "));
      assert.equal(r.stdout, "", args.join(" "));
    }
  });

  test("a normal start refuses the same configurations with exit 2, before starting anything", async () => {
    for (const [args, env, re] of cases()) {
      const r = await run("roomcast", ["--listen", "127.0.0.1:0", ...args], { env });
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(" "));
      assert.doesNotMatch(r.stderr, /embedded Kafka broker listening|listening on http/, args.join(" "));
    }
  });

  test("no JWT key at all: the message lists every way to give one", async () => {
    for (const args of [[], ["--check-config"]]) {
      const r = await run("roomcast", ["--listen", "127.0.0.1:0", ...args]);
      assert.equal(r.code, 2, r.stderr);
      for (const opt of ["--jwt-secret-file", "ROOMCAST_JWT_SECRET", "--jwt-secret ", "--jwt-public-key", "--jwt-jwks", "--demo"])
        assert.ok(r.stderr.includes(opt), `${opt} in ${r.stderr}`);
    }
  });

  test("a port in use: exit 1, 'address already in use' with the address and the option", async () => {
    const held = net.createServer();
    await new Promise((resolve) => held.listen(0, "127.0.0.1", resolve));
    const addr = `127.0.0.1:${held.address().port}`;
    try {
      const r = await run("roomcast", ["--listen", addr], { env: { ROOMCAST_JWT_SECRET: LONG_SECRET } });
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.stderr.includes(`--listen ${addr}: address already in use`), r.stderr);
      assert.doesNotMatch(r.stderr, /ERROR on binding/);
    } finally {
      held.close();
    }
  });
});

// Starts roomcast with exactly these arguments and environment.
function start(args, env) {
  return startLogged("roomcast", ["--listen", "127.0.0.1:0", ...args], {
    env: { ...Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith("ROOMCAST_")).map((k) => [k, ""])), ...env },
    isReady: (node) => node.port && node.logs.some((l) => /roomcast started on port/.test(l)),
  });
}

const warnings = (node, re) => node.logs.filter((l) => /"level":"warn"/.test(l) && re.test(l));

describe("secrets", () => {
  test("--jwt-secret-file: the file's secret (newline stripped) signs tokens; no secret in the log", async () => {
    const secretFile = file("jwt-secret", `${LONG_SECRET}\n`);
    const kafkaPw = file("kafka-pw", "kafka-pw-value-77\n");
    const node = await start(["--jwt-secret-file", secretFile, "-X", `sasl.password=@${kafkaPw}`],
      { ROOMCAST_KAFKA_SASL_USERNAME: "user-from-env", ROOMCAST_KAFKA_SSL_KEY_PASSWORD: "ssl-pw-value-88" });
    try {
      const s = await connect(node.url, { auth: { token: token("file-user", {}, { secret: LONG_SECRET }) } });
      s.close();
      const err = await connect(node.url, { auth: { token: token("file-user", {}, { secret: `${LONG_SECRET}\n` }) } })
        .then((x) => { x.close(); return null; }, (e) => e);
      assert.ok(err, "the newline is not part of the secret");
      assert.deepEqual(warnings(node, /command line|HS256 secret is/), []);
    } finally {
      assert.equal((await node.stop()).code, 0);
    }
    const all = node.logs.join("\n");
    for (const secret of [LONG_SECRET, "kafka-pw-value-77", "ssl-pw-value-88"]) assert.ok(!all.includes(secret), secret);
  });

  test("a secret on the command line, and a short one, are warned about once, without the value", async () => {
    const node = await start(["--jwt-secret", "short-secret", "-X", "sasl.password=cmdline-pw-99"], {});
    try {
      const cmdline = warnings(node, /secret given on the command line/);
      assert.equal(cmdline.length, 1, node.logs.join("\n"));
      assert.match(cmdline[0], /--jwt-secret, -X sasl\.password; use --jwt-secret-file or ROOMCAST_JWT_SECRET/);
      const short = warnings(node, /the HS256 secret is 12 bytes long, shorter than 32/);
      assert.equal(short.length, 1, node.logs.join("\n"));
    } finally {
      assert.equal((await node.stop()).code, 0);
    }
    const all = node.logs.join("\n");
    assert.ok(!all.includes("short-secret") && !all.includes("cmdline-pw-99"));
  });

  test("a 32-byte secret from the environment draws no warning", async () => {
    const node = await start([], { ROOMCAST_JWT_SECRET: "x".repeat(32) });
    try {
      assert.deepEqual(warnings(node, /HS256 secret is|command line/), []);
    } finally {
      assert.equal((await node.stop()).code, 0);
    }
  });
});

describe("roomcast-produce", () => {
  const line = JSON.stringify({ performed_by: { user_id: "u1", name: null }, action: "ADDED", program_id: "p1", request_id: "r1", comment_id: "c1" });

  test("a record the topic's catalog entry does not expect is refused (exit 2) unless --force", async () => {
    const r = await run("roomcast-produce", ["--brokers", "127.0.0.1:1", "--topic", "requests.mutations", "--record", "CommentMutation"],
      { input: `${line}\n` });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--topic requests\.mutations --record CommentMutation: topic requests\.mutations carries RequestMutation records .*produce CommentMutation records to comments\.mutations.*--force/);
    // with --topics overrides as roomcast has them
    const o = await run("roomcast-produce", ["--brokers", "127.0.0.1:1", "--topic", "prod.comments", "--record", "RequestMutation",
      "--topics", "CommentMutation=prod.comments"], { input: `${line}\n` });
    assert.equal(o.code, 2, o.stderr);
    assert.match(o.stderr, /topic prod\.comments carries CommentMutation records/);
  });

  test("--force produces anyway, with a warning", async () => {
    const b = await startBroker();
    try {
      const r = await run("roomcast-produce", ["--brokers", b.bootstrap, "--topic", "requests.mutations", "--record", "CommentMutation",
        "--force", "--framing", "bare"], { input: `${line}\n` });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /warning \(--force\): topic requests\.mutations carries RequestMutation records/);
      assert.match(r.stderr, /produced 1 records to requests\.mutations/);
    } finally {
      await b.stop();
    }
  });
});
