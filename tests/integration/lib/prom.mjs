// A strict parser of the Prometheus text exposition format (0.0.4), as
// /metrics must write it: every family announced by one HELP and one TYPE
// line before its samples, its samples together, names and label names of
// the format's grammar, label values escaped, no series twice, and each
// histogram's buckets cumulative, in le order, ending at +Inf == _count.
// It throws on the first line that breaks a rule, naming the line.

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(s, where) {
  if (s === "NaN") return NaN;
  if (s === "+Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`${where}: bad value "${s}"`);
  return Number(s);
}

// {a="x",b="y"} starting at text[i] (the "{"): [labels, index after "}"].
function parseLabels(text, i, where) {
  const labels = {};
  i++; // "{"
  for (;;) {
    if (text[i] === "}") return [labels, i + 1];
    const eq = text.indexOf("=", i);
    if (eq < 0) throw new Error(`${where}: label without "="`);
    const name = text.slice(i, eq);
    if (!LABEL.test(name) || name.startsWith("__")) throw new Error(`${where}: bad label name "${name}"`);
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    if (text[eq + 1] !== '"') throw new Error(`${where}: label ${name}'s value is not quoted`);
    let v = "";
    let j = eq + 2;
    for (;; j++) {
      const c = text[j];
      if (c === undefined) throw new Error(`${where}: unterminated label value`);
      if (c === '"') break;
      if (c === "\n") throw new Error(`${where}: raw newline in a label value`);
      if (c === "\\") {
        const n = text[++j];
        if (n === "\\") v += "\\";
        else if (n === '"') v += '"';
        else if (n === "n") v += "\n";
        else throw new Error(`${where}: bad escape \\${n} in a label value`);
      } else {
        v += c;
      }
    }
    labels[name] = v;
    i = j + 1;
    if (text[i] === ",") i++;
    else if (text[i] !== "}") throw new Error(`${where}: expected "," or "}" after label ${name}`);
  }
}

// The family a sample name belongs to, given the declared types.
function familyOf(name, types) {
  if (types.has(name)) return name;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    const base = name.endsWith(suffix) ? name.slice(0, -suffix.length) : null;
    if (base && ["histogram", "summary"].includes(types.get(base))) return base;
  }
  return null;
}

// Parses text; returns { families: Map(name -> {type, help, samples: [{name,
// labels, value}]}), samples: [...] }.
export function parseExposition(text) {
  if (!text.endsWith("\n")) throw new Error("the exposition does not end with a newline");
  const families = new Map();
  const types = new Map();
  const samples = [];
  const seen = new Set();
  const closed = new Set(); // families whose samples are over
  let current = null;
  const lines = text.slice(0, -1).split("\n");
  lines.forEach((line, n) => {
    const where = `line ${n + 1} "${line}"`;
    if (line === "") throw new Error(`${where}: empty line`);
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (!m) throw new Error(`${where}: a comment other than HELP or TYPE`);
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name`);
      if (closed.has(name) || (families.get(name)?.samples.length ?? 0) > 0)
        throw new Error(`${where}: ${kind} after the family's samples`);
      const f = families.get(name) ?? { type: null, help: null, samples: [] };
      families.set(name, f);
      if (kind === "HELP") {
        if (f.help !== null) throw new Error(`${where}: HELP twice`);
        if (/\\(?![\\n])/.test(rest)) throw new Error(`${where}: bad escape in HELP`);
        f.help = rest;
      } else {
        if (f.type !== null) throw new Error(`${where}: TYPE twice`);
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type "${rest}"`);
        f.type = rest;
        types.set(name, rest);
      }
      if (current && current !== name) closed.add(current);
      current = name;
      return;
    }
    const m = /^([^\s{]+)/.exec(line);
    const name = m[1];
    if (!NAME.test(name)) throw new Error(`${where}: bad metric name`);
    let i = name.length;
    let labels = {};
    if (line[i] === "{") [labels, i] = parseLabels(line, i, where);
    const rest = line.slice(i);
    const vm = /^ (\S+)( -?\d+)?$/.exec(rest);
    if (!vm) throw new Error(`${where}: expected " value [timestamp]"`);
    const value = parseValue(vm[1], where);
    const family = familyOf(name, types);
    if (!family) throw new Error(`${where}: sample before its family's TYPE`);
    if (closed.has(family)) throw new Error(`${where}: family ${family} is not contiguous`);
    if (current !== family) {
      if (current) closed.add(current);
      current = family;
    }
    const key = name + JSON.stringify(Object.entries(labels).sort());
    if (seen.has(key)) throw new Error(`${where}: the same series twice`);
    seen.add(key);
    const s = { name, labels, value };
    families.get(family).samples.push(s);
    samples.push(s);
  });
  for (const [name, f] of families) {
    if (f.type === null || f.help === null) throw new Error(`family ${name} lacks a HELP or a TYPE line`);
    if (f.type === "histogram") checkHistogram(name, f);
  }
  return { families, samples };
}

// Buckets per label set (without le): le ascending, counts not decreasing,
// the last le +Inf and equal to _count; _sum present.
function checkHistogram(name, f) {
  const groups = new Map();
  const keyOf = (labels) => JSON.stringify(Object.entries(labels).filter(([k]) => k !== "le").sort());
  for (const s of f.samples) {
    const k = keyOf(s.labels);
    const g = groups.get(k) ?? { buckets: [], sum: null, count: null };
    groups.set(k, g);
    if (s.name === `${name}_bucket`) {
      if (!("le" in s.labels)) throw new Error(`${name}_bucket without le`);
      g.buckets.push({ le: parseValue(s.labels.le, `${name} le`), v: s.value });
    } else if (s.name === `${name}_sum`) g.sum = s.value;
    else if (s.name === `${name}_count`) g.count = s.value;
    else throw new Error(`histogram ${name} has a sample ${s.name}`);
  }
  for (const [k, g] of groups) {
    if (!g.buckets.length || g.sum === null || g.count === null) throw new Error(`histogram ${name}${k}: buckets, _sum and _count are due`);
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i].le > g.buckets[i - 1].le)) throw new Error(`histogram ${name}${k}: le not ascending`);
      if (g.buckets[i].v < g.buckets[i - 1].v) throw new Error(`histogram ${name}${k}: buckets not cumulative`);
    }
    const last = g.buckets.at(-1);
    if (last.le !== Infinity) throw new Error(`histogram ${name}${k}: no +Inf bucket`);
    if (last.v !== g.count) throw new Error(`histogram ${name}${k}: +Inf bucket ${last.v} != _count ${g.count}`);
  }
}

// The samples named name whose labels include every label of match.
export function select(samples, name, match = {}) {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

// Their sum, or NaN when there is none.
export function sum(samples, name, match = {}) {
  const sel = select(samples, name, match);
  return sel.length ? sel.reduce((a, s) => a + s.value, 0) : NaN;
}
