// deploy/k8s: the Kubernetes manifests are checked against the code they
// deploy. Every YAML document parses (as Kubernetes parses it: YAML 1.1) and
// type-checks against the Kubernetes API types (kubernetes-types, with
// TypeScript's excess-property check, so a misspelled field fails); labels
// and selectors agree; probes name real routes on the container port with
// the semantics routes.c gives them; every flag, environment variable and
// config-file key is one of build/roomcast's settings; every file path is on
// a mounted volume and names a key of it; no secret is on the command line;
// the grace period covers preStop plus roomcast's shutdown bound. Last, the
// container's command, environment and Secret file start the real binary,
// which answers the probes and exits 0 on SIGTERM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { BUILD_DIR, SOURCE_DIR, waitFor } from "./lib/fixtures.mjs";
import { freePort, startRedis } from "./lib/cluster.mjs";
import { stopTimed } from "./lib/lifecycle.mjs";

const K8S = path.join(SOURCE_DIR, "deploy/k8s");
const TSC = path.join(SOURCE_DIR, "tests/node_modules/.bin/tsc");

// ---- loading ----

function parseFile(file) {
  const text = fs.readFileSync(path.join(K8S, file), "utf8");
  // Kubernetes reads manifests with a YAML 1.1 parser (0440 is octal there).
  const docs = parseAllDocuments(text, { version: "1.1", uniqueKeys: true, prettyErrors: true });
  return docs.map((d, i) => {
    assert.deepEqual(d.errors.map(String), [], `${file} document ${i + 1} does not parse`);
    assert.deepEqual(d.warnings.map(String), [], `${file} document ${i + 1} has YAML warnings`);
    return { file, index: i, obj: d.toJS() };
  }).filter((d) => d.obj !== null);
}

const kustomization = parseFile("kustomization.yaml")[0].obj;
const docs = kustomization.resources.flatMap((f) => parseFile(f));
const objs = docs.map((d) => d.obj);
const one = (kind) => {
  const found = objs.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind} in deploy/k8s`);
  return found[0];
};
const deployment = one("Deployment");
const service = one("Service");
const pdb = one("PodDisruptionBudget");
const hpa = one("HorizontalPodAutoscaler");
const configMap = one("ConfigMap");
const secret = one("Secret");
const pod = deployment.spec.template.spec;
const podLabels = deployment.spec.template.metadata.labels;
assert.equal(pod.containers.length, 1, "one container in the pod");
const container = pod.containers[0];

// The Secret's and ConfigMap's files and values, stringData or base64 data.
function dataOf(o) {
  const out = { ...(o.stringData ?? {}) };
  for (const [k, v] of Object.entries(o.data ?? {}))
    out[k] = o.kind === "Secret" ? Buffer.from(v, "base64").toString("utf8") : v;
  return out;
}

// `name = value` lines of a roomcast config file (core/config.c load_file).
function configLines(text) {
  return text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")).map((l) => {
    const eq = l.indexOf("=");
    assert.ok(eq > 0, `config line '${l}' is not \`name = value\``);
    return { key: l.slice(0, eq).trim(), value: l.slice(eq + 1).trim() };
  });
}

// What this build of roomcast accepts: its --help.
function roomcastSettings() {
  const help = execFileSync(path.join(BUILD_DIR, "roomcast"), ["--help"], { encoding: "utf8" });
  const flags = new Set([...help.matchAll(/^ {2}--([a-z0-9-]+)/gm)].map((m) => m[1]));
  const envs = new Set([...help.matchAll(/\[env (ROOMCAST_[A-Z0-9_]+)\]/g)].map((m) => m[1]));
  assert.ok(flags.has("listen") && flags.has("config") && envs.has("ROOMCAST_CONFIG"), "roomcast --help lists its settings");
  assert.match(help, /-X, --kafka PROPERTY=VALUE/, "roomcast --help documents -X");
  return { flags, envs };
}

// The container's arguments after the shell wrapper: [flag, value, ...].
function roomcastArgs() {
  const args = container.args ?? [];
  const out = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-X" || a === "--kafka") out.push({ kind: "kafka", value: args[++i] });
    else if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      out.push({ kind: "flag", name: eq > 0 ? a.slice(2, eq) : a.slice(2), value: eq > 0 ? a.slice(eq + 1) : args[++i] });
    } else assert.fail(`container argument '${a}' is neither a --flag nor -X`);
  }
  return out;
}

function containerPort(ref) {
  const p = container.ports.find((x) => x.name === ref || x.containerPort === ref);
  assert.ok(p, `port ${ref} is one of the container's ports`);
  return p.containerPort;
}

const routes = () => {
  const src = fs.readFileSync(path.join(SOURCE_DIR, "gateway/roomcast/routes.c"), "utf8");
  return new Set([...src.matchAll(/strcmp\(path, "([^"]+)"\) == 0/g)].map((m) => m[1]));
};

const shutdownBoundS = () => {
  const src = fs.readFileSync(path.join(SOURCE_DIR, "gateway/roomcast/roomcast_main.c"), "utf8");
  const m = /#define SHUTDOWN_BOUND_MS (\d+)/.exec(src);
  assert.ok(m, "SHUTDOWN_BOUND_MS in roomcast_main.c");
  return Number(m[1]) / 1000;
};

// ---- static checks ----

test("kustomization lists every manifest, and every document names itself", () => {
  const listed = new Set(kustomization.resources);
  const files = fs.readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml");
  assert.deepEqual([...files].sort(), [...listed].sort(), "kustomization.yaml resources = the YAML files of deploy/k8s");
  assert.equal(kustomization.kind, "Kustomization");
  assert.ok(kustomization.namespace, "kustomization sets the namespace");
  assert.ok(kustomization.images.some((i) => i.name === container.image), "kustomization's images entry names the container image");
  for (const { file, index, obj } of docs) {
    const where = `${file} document ${index + 1}`;
    assert.equal(typeof obj.apiVersion, "string", `${where}: apiVersion`);
    assert.equal(typeof obj.kind, "string", `${where}: kind`);
    assert.match(obj.metadata?.name ?? "", /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `${where}: metadata.name`);
  }
});

// kind -> where its TypeScript type is in kubernetes-types.
const TYPES = {
  "v1/Namespace": ["core/v1", "Namespace"], "v1/ConfigMap": ["core/v1", "ConfigMap"],
  "v1/Secret": ["core/v1", "Secret"], "v1/Service": ["core/v1", "Service"],
  "apps/v1/Deployment": ["apps/v1", "Deployment"],
  "policy/v1/PodDisruptionBudget": ["policy/v1", "PodDisruptionBudget"],
  "autoscaling/v2/HorizontalPodAutoscaler": ["autoscaling/v2", "HorizontalPodAutoscaler"],
};

// Compiles the documents as typed object literals; returns tsc's output
// ("" when they type-check).
function typecheck(objects) {
  const dir = fs.mkdtempSync(path.join(SOURCE_DIR, "tests/.tmp/k8s-types-"));
  try {
    const imports = new Set(), lines = [];
    objects.forEach((o, i) => {
      const t = TYPES[`${o.apiVersion}/${o.kind}`];
      assert.ok(t, `${o.apiVersion} ${o.kind}: no type known to this test (add it to TYPES)`);
      imports.add(`import type { ${t[1]} } from "kubernetes-types/${t[0]}";`);
      lines.push(`export const doc${i}: ${t[1]} = ${JSON.stringify(o, null, 2)};`);
    });
    fs.writeFileSync(path.join(dir, "manifests.ts"), [...imports, ...lines].join("\n") + "\n");
    fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, target: "es2022", module: "esnext", moduleResolution: "bundler", types: [] },
      files: ["manifests.ts"],
    }));
    const r = spawnSync(TSC, ["-p", dir], { encoding: "utf8" });
    return r.status === 0 ? "" : `${r.stdout}${r.stderr}` || `tsc exited ${r.status}`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("every document type-checks against the Kubernetes API types", () => {
  assert.equal(typecheck(objs), "");
  // The check is live: a misspelled field and a wrong type are refused.
  const bad = structuredClone(objs);
  const c = bad.find((o) => o.kind === "Deployment").spec.template.spec.containers[0];
  c.readinesProbe = c.readinessProbe;
  delete c.readinessProbe;
  assert.match(typecheck(bad), /readinesProbe/);
  const bad2 = structuredClone(objs);
  bad2.find((o) => o.kind === "Service").spec.ports[0].port = "80";
  assert.match(typecheck(bad2), /error TS/);
});

test("labels and selectors agree between Deployment, Service, PDB, HPA", () => {
  const subset = (sel, what) => {
    assert.ok(sel && Object.keys(sel).length > 0, `${what} selects something`);
    for (const [k, v] of Object.entries(sel)) assert.equal(podLabels[k], v, `${what}: ${k}=${v} is a pod label`);
  };
  subset(deployment.spec.selector.matchLabels, "Deployment selector");
  subset(service.spec.selector, "Service selector");
  subset(pdb.spec.selector.matchLabels, "PodDisruptionBudget selector");
  for (const t of pod.topologySpreadConstraints ?? []) subset(t.labelSelector.matchLabels, "topologySpreadConstraints");
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: deployment.apiVersion, kind: "Deployment", name: deployment.metadata.name });
  assert.equal(deployment.spec.replicas, undefined, "no replicas in the Deployment: the HPA owns the count");
  assert.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas >= hpa.spec.minReplicas);
  assert.ok(hpa.spec.metrics.some((m) => m.type === "Resource" && m.resource.name === "cpu"), "HPA scales on CPU");
  assert.ok(container.resources.requests.cpu, "CPU request set (HPA utilization is relative to it)");
  // The objects the pod refers to are in the manifests.
  assert.ok(container.envFrom.some((e) => e.configMapRef?.name === configMap.metadata.name));
  assert.ok(pod.volumes.some((v) => v.secret?.secretName === secret.metadata.name));
});

test("probes use real routes on the container port, with their meaning", () => {
  const known = routes();
  assert.ok(known.has("/healthz") && known.has("/readyz"), "routes.c serves /healthz and /readyz");
  const listen = configMap.data.ROOMCAST_LISTEN;
  const port = Number(/:(\d+)$/.exec(listen)?.[1]);
  assert.equal(port, containerPort("http"), "ROOMCAST_LISTEN's port is the container port");
  assert.equal(containerPort(service.spec.ports[0].targetPort), port, "the Service targets the container port");
  for (const kind of ["startupProbe", "livenessProbe", "readinessProbe"]) {
    const p = container[kind];
    assert.ok(p?.httpGet, `${kind} is an HTTP probe`);
    assert.ok(known.has(p.httpGet.path), `${kind} path ${p.httpGet.path} is a route of routes.c`);
    assert.equal(containerPort(p.httpGet.port), port, `${kind} probes the container port`);
  }
  // /readyz fails while Redis refuses appends and after SIGTERM: right for
  // taking traffic, wrong for liveness (every pod would restart in an outage).
  assert.equal(container.readinessProbe.httpGet.path, "/readyz");
  assert.equal(container.livenessProbe.httpGet.path, "/healthz");
  assert.equal(container.startupProbe.httpGet.path, "/healthz");
  const ann = deployment.spec.template.metadata.annotations ?? {};
  if (ann["prometheus.io/port"]) assert.equal(Number(ann["prometheus.io/port"]), port);
  if (ann["prometheus.io/path"]) assert.ok(known.has(ann["prometheus.io/path"]));
});

test("every flag, variable and config key is a roomcast setting; no secret on the command line", () => {
  const { flags, envs } = roomcastSettings();
  for (const a of roomcastArgs()) {
    if (a.kind === "flag") assert.ok(flags.has(a.name), `--${a.name} is a roomcast flag`);
    else assert.match(a.value, /^[a-z][a-z0-9._]*=./, `-X ${a.value} is PROPERTY=VALUE`);
  }
  const cmdline = [...(container.command ?? []), ...(container.args ?? [])].join(" ");
  assert.doesNotMatch(cmdline, /jwt-secret|password|sasl\.oauthbearer\.client\.secret|redis:\/\/[^@\s]*:[^@\s]*@/,
    "no secret on the command line (it shows in ps and in the pod spec)");
  for (const k of Object.keys(configMap.data)) assert.ok(envs.has(k), `ConfigMap key ${k} is a roomcast variable`);
  assert.equal(configMap.data.ROOMCAST_JWT_SECRET, undefined, "the JWT secret is not in the ConfigMap");
  assert.doesNotMatch(configMap.data.ROOMCAST_REDIS ?? "", /@/, "no Redis password in the ConfigMap");
  for (const e of container.env ?? [])
    if (e.name.startsWith("ROOMCAST_")) assert.ok(envs.has(e.name), `env ${e.name} is a roomcast variable`);
  const secretFile = configLines(dataOf(secret)["roomcast.conf"]);
  for (const { key } of secretFile) {
    if (key.startsWith("kafka.")) continue;
    assert.ok(flags.has(key) && key !== "config", `config-file key ${key} is a roomcast setting`);
  }
  const keys = secretFile.map((l) => l.key);
  assert.ok(keys.includes("jwt-secret") && keys.includes("kafka.sasl.password"), "the Secret's file holds the secrets");
});

test("every file path the manifests name is on a mounted volume, and names one of its keys", () => {
  const mounts = container.volumeMounts ?? [];
  const volume = (name) => pod.volumes.find((v) => v.name === name);
  const paths = [];
  const consider = (where, v) => { if (typeof v === "string" && v.startsWith("/")) paths.push({ where, p: v }); };
  for (const e of container.env ?? []) consider(`env ${e.name}`, e.value);
  for (const [k, v] of Object.entries(configMap.data)) consider(`ConfigMap ${k}`, v);
  for (const a of roomcastArgs()) consider(a.kind === "flag" ? `--${a.name}` : `-X ${a.value}`, a.kind === "flag" ? a.value : a.value.slice(a.value.indexOf("=") + 1));
  for (const f of Object.values(dataOf(secret))) for (const l of configLines(f)) consider(`Secret file ${l.key}`, l.value);
  assert.ok(paths.some((x) => x.where === "env ROOMCAST_CONFIG"), "the config file is named by ROOMCAST_CONFIG");
  for (const { where, p } of paths) {
    const m = mounts.find((x) => p === x.mountPath || p.startsWith(x.mountPath.replace(/\/?$/, "/")));
    assert.ok(m, `${where} = ${p} is under a volumeMount`);
    const v = volume(m.name);
    assert.ok(v, `volume ${m.name} exists`);
    const rel = path.posix.relative(m.mountPath, p);
    const src = v.secret ? objs.find((o) => o.kind === "Secret" && o.metadata.name === v.secret.secretName)
      : v.configMap ? objs.find((o) => o.kind === "ConfigMap" && o.metadata.name === v.configMap.name) : null;
    if (src) {
      const items = (v.secret ?? v.configMap).items;
      const names = items ? items.map((i) => i.path) : Object.keys(dataOf(src));
      assert.ok(names.includes(rel), `${where} = ${p}: ${rel} is a key of ${src.kind} ${src.metadata.name}`);
      assert.equal(m.subPath, undefined, `${m.mountPath}: no subPath (updates would not reach the file)`);
      const mode = (v.secret ?? v.configMap).defaultMode ?? 0o644;
      const readable = (mode & 0o004) || ((mode & 0o040) && pod.securityContext?.fsGroup !== undefined);
      assert.ok(readable, `${m.mountPath}: files readable by the non-root user (mode ${mode.toString(8)})`);
    }
  }
});

test("shutdown: preStop sleep plus roomcast's bound fit in the grace period", () => {
  const cmd = container.lifecycle.preStop.exec.command;
  assert.equal(path.posix.basename(cmd[0]), "sleep");
  const sleepS = Number(cmd[1]);
  assert.ok(sleepS >= 2 && sleepS <= 15, "preStop sleeps a few seconds");
  const bound = shutdownBoundS();
  assert.ok(pod.terminationGracePeriodSeconds >= sleepS + bound + 2,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} >= preStop ${sleepS} s + shutdown bound ${bound} s + 2 s`);
  // The image is Debian (deploy/Dockerfile's runtime stage): the binaries the
  // pod runs besides roomcast are from Essential packages, always in it.
  const dockerfile = fs.readFileSync(path.join(SOURCE_DIR, "deploy/Dockerfile"), "utf8");
  const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  assert.match(froms.at(-1), /^debian:/, "the runtime image is Debian");
  for (const bin of [cmd[0], container.command[0]]) {
    // `dpkg -S /bin/sh` also prints dash's diversion lines.
    const owner = execFileSync("dpkg", ["-S", bin], { encoding: "utf8" }).split("\n").find((l) => !l.startsWith("diversion"));
    const pkg = owner.split(":")[0];
    const essential = execFileSync("dpkg-query", ["-W", "-f=${Essential}", pkg], { encoding: "utf8" });
    assert.equal(essential, "yes", `${bin} comes from ${pkg}, an Essential package`);
  }
  // The wrapper execs the binary the image installs and its ENTRYPOINT runs.
  const entry = JSON.parse(/^ENTRYPOINT (\[.*\])/m.exec(dockerfile)[1])[0];
  assert.match(container.command.join(" "), new RegExp(`exec ${entry} "\\$@"`));
});

test("the pod is locked down", () => {
  const sc = container.securityContext, psc = pod.securityContext;
  assert.equal(psc.runAsNonRoot, true);
  assert.ok(Number.isInteger(psc.runAsUser) && psc.runAsUser > 0, "a numeric non-root user");
  assert.equal(psc.seccompProfile.type, "RuntimeDefault");
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.deepEqual(sc.capabilities.drop, ["ALL"]);
  assert.equal(sc.capabilities.add, undefined);
  assert.equal(pod.automountServiceAccountToken, false);
  assert.equal(pod.enableServiceLinks, false, "no Service variables next to the ROOMCAST_* settings");
  for (const k of ["cpu", "memory"]) {
    assert.ok(container.resources.requests[k] && container.resources.limits[k], `${k} request and limit`);
  }
});

// ---- the manifests' configuration on the real binary ----

// Runs argv (the container's command) with env; resolves once roomcast logs
// its port, rejects if it exits first.
async function startContainer(argv, env) {
  const proc = spawn(argv[0], argv.slice(1), { env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const node = { proc, logs: [], url: null, exited: null };
  node.exit = once(proc, "exit").then(([code, signal]) => (node.exited = { code, signal }));
  let buf = "";
  proc.stderr.on("data", (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      node.logs.push(line);
      const m = /listening on http:\/\/[\d.]+:(\d+)/.exec(line);
      if (m) node.url = `http://127.0.0.1:${m[1]}`;
    }
  });
  await waitFor(() => node.url || node.exited, { what: "roomcast listening", detail: () => node.logs.join("\n") });
  if (!node.url) throw new Error(`roomcast exited ${JSON.stringify(node.exited)}:\n${node.logs.join("\n")}`);
  return node;
}

test("the container's command, environment and Secret file run roomcast", { timeout: 60000 }, async () => {
  const redis = await startRedis();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "rc-k8s-"));
  let node;
  try {
    // The Secret's files where its volume is mounted, under root.
    const remap = (p) => path.join(root, p);
    for (const m of container.volumeMounts) {
      const v = pod.volumes.find((x) => x.name === m.name);
      const src = objs.find((o) => o.kind === "Secret" && o.metadata.name === v.secret?.secretName);
      fs.mkdirSync(remap(m.mountPath), { recursive: true });
      for (const [k, val] of Object.entries(src ? dataOf(src) : {})) fs.writeFileSync(path.join(remap(m.mountPath), k), val);
    }
    const env = { ...configMap.data };
    for (const e of container.env) env[e.name] = e.value.startsWith("/") ? remap(e.value) : e.value;
    // Kafka is not reachable (a closed port): the start, the liveness probe
    // and the shutdown must not depend on it. Redis is a real one. Flags win over
    // the ConfigMap's variables.
    const nokafka = await freePort();
    const script = container.command[2].replace(/\/usr\/bin\/roomcast/, path.join(BUILD_DIR, "roomcast"));
    node = await startContainer([container.command[0], container.command[1], script, ...container.command.slice(3),
      ...container.args, "--listen", "127.0.0.1:0", "--kafka-brokers", `127.0.0.1:${nokafka}`, "--redis", redis.url], env);
    // The shell exec'd roomcast (it is the process that gets SIGTERM) with
    // its soft open-files limit raised to the hard one.
    const exe = fs.readlinkSync(`/proc/${node.proc.pid}/exe`);
    assert.equal(path.basename(exe), "roomcast");
    const limits = fs.readFileSync(`/proc/${node.proc.pid}/limits`, "utf8");
    const [, soft, hard] = /Max open files\s+(\S+)\s+(\S+)/.exec(limits);
    assert.equal(soft, hard, "soft open-files limit raised to the hard limit");
    assert.ok(node.logs.some((l) => /tokens:? HS256/.test(l)), "the JWT secret came from the Secret's file");
    for (const kind of ["startupProbe", "livenessProbe"]) {
      const p = container[kind].httpGet.path;
      await waitFor(async () => (await fetch(`${node.url}${p}`)).status === 200, { what: `${kind} ${p} answering 200` });
    }
    // Ready needs the consumer in its group: with Kafka unreachable the
    // readiness probe fails, saying why, while the liveness probe passes.
    const p = container.readinessProbe.httpGet.path;
    let last;
    await waitFor(async () => {
      const r = await fetch(`${node.url}${p}`);
      last = { status: r.status, body: await r.json() };
      return last.body.reasons?.some((x) => x.startsWith("kafka: waiting for the consumer group"));
    }, { what: "the readiness probe naming the consumer group", detail: () => JSON.stringify(last) });
    assert.equal(last.status, 503, `readinessProbe ${p}`);
    const { code, ms } = await stopTimed(node);
    assert.equal(code, 0, "exit 0 on SIGTERM");
    assert.ok(ms < shutdownBoundS() * 1000 + 1000, `exited within the bound (${ms} ms)`);
    assert.ok(!node.logs.some((l) => /"level":"error","mod":"(main|config)"/.test(l)), node.logs.join("\n"));
  } finally {
    if (node && !node.exited) node.proc.kill("SIGKILL");
    await redis.destroy();
    fs.rmSync(root, { recursive: true, force: true });
  }
});
