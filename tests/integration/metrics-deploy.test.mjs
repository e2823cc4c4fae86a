// The Grafana dashboard (deploy/grafana/roomcast.json) and the Prometheus
// alert rules (deploy/prometheus/alerts.yml) against a live /metrics: every
// PromQL expression parses (Prometheus' own grammar, lezer-promql), and
// every metric it selects is on the page with at least one series (a
// histogram's _bucket, _sum and _count included). A renamed or misspelt
// metric fails here instead of on an empty panel or a silent alert.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { parser } from "@prometheus-io/lezer-promql";
import YAML from "yaml";
import { SOURCE_DIR, startRoomcast, waitFor } from "./lib/fixtures.mjs";
import { parseExposition } from "./lib/prom.mjs";

// Series Prometheus adds to every target itself, not on /metrics.
const PROMETHEUS_OWN = new Set(["up"]);

let node, page;

before(async () => {
  node = await startRoomcast(["-X", "statistics.interval.ms=200"]);
  // The per-partition gauges appear with the first statistics report.
  await waitFor(async () => {
    page = parseExposition(await (await fetch(`${node.url}/metrics`)).text());
    return page.samples.some((s) => s.name === "roomcast_kafka_consumer_lag");
  }, { what: "the lag series", timeoutMs: 20000 });
});

after(async () => {
  const exit = await node?.stop();
  assert.equal(exit?.code, 0);
});

// The metric names an expression selects; throws on a syntax error. Grafana's
// interval variables stand for a duration; other variables only appear in
// label values (strings).
function metricNames(expr, where) {
  const q = expr.replace(/\$__(rate_interval|interval|range)\b/g, "5m");
  const tree = parser.parse(q);
  const names = [];
  tree.iterate({
    enter: (n) => {
      if (n.type.isError) throw new Error(`${where}: PromQL syntax error at ${n.from} in: ${q}`);
      if (n.name === "Identifier" && n.node.parent?.name === "VectorSelector") names.push(q.slice(n.from, n.to));
    },
  });
  if (!names.length) throw new Error(`${where}: selects no metric: ${q}`);
  return names;
}

// Whether the page has a series of name.
function onPage(name) {
  return PROMETHEUS_OWN.has(name) || page.samples.some((s) => s.name === name);
}

function dashboardExprs() {
  const d = JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, "deploy/grafana/roomcast.json"), "utf8"));
  const out = [];
  const walk = (panels) => {
    for (const p of panels ?? []) {
      walk(p.panels);
      for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
    }
  };
  walk(d.panels);
  for (const v of d.templating?.list ?? []) {
    const q = typeof v.query === "string" ? v.query : v.query?.query;
    const m = /^label_values\(\s*([^,()]+)\s*,\s*\w+\s*\)$/.exec(q ?? "");
    if (v.type === "query") {
      assert.ok(m, `variable ${v.name}: label_values(metric, label) expected, got ${q}`);
      out.push({ where: `variable ${v.name}`, expr: m[1] });
    }
  }
  return { d, exprs: out };
}

function alertRules() {
  const doc = YAML.parse(fs.readFileSync(path.join(SOURCE_DIR, "deploy/prometheus/alerts.yml"), "utf8"));
  assert.ok(Array.isArray(doc.groups) && doc.groups.length, "alerts.yml: groups");
  return doc.groups.flatMap((g) => {
    assert.ok(g.name && Array.isArray(g.rules), "a group has a name and rules");
    return g.rules;
  });
}

test("the dashboard's queries select metrics that /metrics has", () => {
  const { d, exprs } = dashboardExprs();
  assert.equal(d.uid, "roomcast");
  assert.ok(exprs.length >= 30, `${exprs.length} queries`);
  const missing = [];
  for (const { where, expr } of exprs)
    for (const name of metricNames(expr, where)) if (!onPage(name)) missing.push(`${where}: ${name}`);
  assert.deepEqual(missing, [], "every metric of the dashboard is on /metrics");

  // Panels: unique ids, inside the 24-column grid, not on top of one another.
  const panels = d.panels;
  assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, "unique panel ids");
  const cells = new Set();
  for (const p of panels) {
    const { x, y, w, h } = p.gridPos;
    assert.ok(x >= 0 && w > 0 && x + w <= 24 && h > 0, `panel "${p.title}" within the grid`);
    for (let i = x; i < x + w; i++)
      for (let j = y; j < y + h; j++) {
        assert.ok(!cells.has(`${i},${j}`), `panel "${p.title}" overlaps another`);
        cells.add(`${i},${j}`);
      }
    if (p.type !== "row") assert.equal(p.datasource?.uid, "${datasource}", `panel "${p.title}" uses the datasource variable`);
  }
});

test("every alert rule is well formed and its metrics are on /metrics", () => {
  const rules = alertRules();
  assert.ok(rules.length >= 10, `${rules.length} rules`);
  const names = new Set();
  const missing = [];
  for (const r of rules) {
    assert.match(r.alert ?? "", /^Roomcast[A-Za-z]+$/, "an alert name");
    assert.ok(!names.has(r.alert), `${r.alert} once`);
    names.add(r.alert);
    assert.ok(["critical", "warning"].includes(r.labels?.severity), `${r.alert}: severity`);
    assert.ok(r.annotations?.summary && r.annotations?.description, `${r.alert}: summary and description`);
    if (r.for !== undefined) assert.match(r.for, /^\d+[smh]$/, `${r.alert}: for`);
    for (const name of metricNames(r.expr, r.alert)) if (!onPage(name)) missing.push(`${r.alert}: ${name}`);
  }
  assert.deepEqual(missing, [], "every metric of the rules is on /metrics");
  // What operations must hear about.
  for (const a of ["RoomcastConsumerLagGrowing", "RoomcastNotReady", "RoomcastDeadLetters", "RoomcastSlowClientDisconnects"])
    assert.ok(names.has(a), `${a} is among the rules`);
});

test("the check catches a metric that is not there", () => {
  assert.throws(() => metricNames("sum(rate(x[5m])", "broken"), /syntax error/);
  assert.deepEqual(metricNames('rate(roomcast_nope_total{a="$instance"}[$__rate_interval]) / on (a) group_left b', "ok"),
    ["roomcast_nope_total", "b"]);
  assert.equal(onPage("roomcast_nope_total"), false);
  assert.equal(onPage("roomcast_delivery_latency_seconds_bucket"), true);
});
