// Checks the source tree against the layering rules of docs/architecture.md:
// who may include whom, no include cycle between modules, private headers
// kept to their folder, each .c file exporting only functions of its own
// prefix, and no source file over 1,200 lines. Prints every violation and
// exits 1 when there is one.
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import path from "node:path";

const root = process.argv[2] ?? path.resolve(import.meta.dirname, "../..");
const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard"], { cwd: root, encoding: "utf8" })
  .split("\n").filter((f) => f && !f.startsWith("tests/node_modules/"));
const problems = [];
const MAX_LINES = 1200;

// Folder -> folders whose headers it may include. Program entry points
// (*_main.c) and tests may include anything.
const layers = [
  ["core/", ["core/"]],
  ["consumer/", ["core/", "consumer/"]],
  ["gateway/server/", ["core/", "gateway/server/"]],
  ["gateway/roomcast/", ["core/", "gateway/server/", "gateway/roomcast/"]],
  ["gateway/conformance/", ["core/", "gateway/server/"]],
];
// The server library knows nothing of roomcast's configuration, events,
// history or metric families, though they sit in the shared layer: it
// counts in its own gw_counters, with core/prom.h's primitives.
const forbidden = {
  "gateway/server/": ["core/config.h", "core/event.h", "core/history.h", "core/history_private.h", "core/metrics.h"],
};

// The prefix every exported function of a .c file starts with.
function prefixes(file) {
  const dir = path.dirname(file) + "/", base = path.basename(file, ".c");
  if (dir === "gateway/server/") {
    const own = { eio: ["eio_"], sio: ["sio_"], websocket: ["gw_ws_"], server: ["gw_server_", "gw_post"] };
    return own[base] ?? [`gw_${base}`];
  }
  if (dir === "gateway/roomcast/") return [`rc_${base}`];
  if (dir === "core/" && base === "hmap") return ["hmap_"];
  if (dir === "core/" || dir === "consumer/") return ["rc_"];
  return null;
}

const isSource = (f) => /\.(c|h|mjs|js|cmake)$/.test(f) || f.endsWith("CMakeLists.txt");
const isC = (f) => /\.(c|h)$/.test(f);
const moduleOf = (f) => f.replace(/\.(c|h)$/, "");
const edges = new Map();

for (const f of files) {
  if (!isSource(f) || f.startsWith("schemas/")) continue;
  let text;
  try { text = readFileSync(path.join(root, f), "utf8"); } catch { continue; }
  const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
  if (lines > MAX_LINES) problems.push(`${f}: ${lines} lines (at most ${MAX_LINES})`);
  if (!isC(f)) continue;

  const dir = path.dirname(f) + "/";
  const program = f.endsWith("_main.c") || f.startsWith("tests/");
  const layer = layers.find(([d]) => dir === d);
  for (const m of text.matchAll(/^#include "([^"]+)"/gm)) {
    let inc = m[1];
    if (!inc.includes("/")) inc = dir + inc; // same folder
    if (inc.startsWith("../")) problems.push(`${f}: includes "${m[1]}": include project headers from the root`);
    inc = path.normalize(inc);
    if (!files.includes(inc) && !inc.startsWith("build")) continue; // generated or system
    if (/_private\.h$/.test(inc) && path.dirname(inc) + "/" !== dir && !f.startsWith("tests/"))
      problems.push(`${f}: includes private header ${inc} of another folder`);
    if (!program && layer && !layer[1].some((d) => inc.startsWith(d)))
      problems.push(`${f}: includes ${inc}, above its layer (${dir} may include ${layer[1].join(", ")})`);
    if (!program && (forbidden[dir] ?? []).includes(inc))
      problems.push(`${f}: includes ${inc}, which the server library must not know`);
    // A private header declares the internals of its folder's modules and
    // includes their public headers; only edges into it count for cycles.
    if (!f.startsWith("tests/") && !/_private\.h$/.test(f) && moduleOf(inc) !== moduleOf(f)) {
      if (!edges.has(moduleOf(f))) edges.set(moduleOf(f), new Set());
      edges.get(moduleOf(f)).add(moduleOf(inc));
    }
  }
  if (f.endsWith(".c") && !program) {
    const want = prefixes(f);
    if (!want) continue;
    const defs = text.matchAll(/^(?!static\b|typedef\b|extern\b|#)[A-Za-z_][\w \t*]*?\b([A-Za-z_]\w*)\([^;{]*?\)\s*\n\{/gm);
    for (const d of defs)
      if (!want.some((p) => d[1].startsWith(p)))
        problems.push(`${f}: defines ${d[1]}(), not of its prefix ${want.join(" or ")}`);
  }
}

// No cycle between modules (a module is name.h + name.c; a private header
// is a node of its own).
const state = new Map();
const stack = [];
function visit(m) {
  state.set(m, 1);
  stack.push(m);
  for (const n of edges.get(m) ?? []) {
    if (state.get(n) === 1) problems.push(`include cycle: ${[...stack.slice(stack.indexOf(n)), n].join(" -> ")}`);
    else if (!state.has(n)) visit(n);
  }
  stack.pop();
  state.set(m, 2);
}
for (const m of edges.keys()) if (!state.has(m)) visit(m);

for (const p of problems) console.log(p);
console.log(`layering: ${files.filter(isC).length} C files checked, ${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);
