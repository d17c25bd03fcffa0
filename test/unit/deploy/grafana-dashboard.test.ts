import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DaemonMetrics } from "@d7y/daemon";
import { ManagerMetrics } from "@d7y/manager";
import { createMetricsRegistry, type Registry } from "@d7y/observability";
import { SchedulerMetrics } from "@d7y/scheduler";
import { exposedNames } from "../../helpers/metrics-text.js";

const DASHBOARD = join(dirname(fileURLToPath(import.meta.url)), "../../../../helm/d7y/dashboards/d7y-dashboard.json");
/** Every panel and query uses the dashboard's datasource variable. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JavaScript template.
const DATASOURCE = { type: "prometheus", uid: "${datasource}" };
/** Labels Prometheus and the registries add to every series, and histogram buckets' `le`. */
const COMMON_LABELS = ["instance", "job", "component", "le"];

interface Target {
  expr?: string;
  refId?: string;
  datasource?: { type?: string; uid?: string };
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
}

/** Metric name -> its label names, for every series name a query may use (histograms' _bucket/_sum/_count too). */
async function knownMetrics(): Promise<Map<string, Set<string>>> {
  const registries: Registry[] = [
    new DaemonMetrics(createMetricsRegistry("daemon"), { downloading: () => 0, cacheBytes: async () => 0 }).registry,
    new SchedulerMetrics(createMetricsRegistry("scheduler"), () => undefined).registry,
    new ManagerMetrics(createMetricsRegistry("manager"), { jobs: async () => [], instances: async () => [] }).registry,
  ];
  const known = new Map<string, Set<string>>();
  for (const registry of registries) {
    const names = exposedNames(await registry.metrics());
    // prom-client keeps each metric's declared label names on the metric object.
    for (const metric of registry.getMetricsAsArray() as unknown as Array<{ name: string; labelNames?: string[] }>) {
      const labels = new Set([...(metric.labelNames ?? []), ...COMMON_LABELS]);
      for (const suffix of ["", "_bucket", "_sum", "_count"]) {
        if (names.has(`${metric.name}${suffix}`)) known.set(`${metric.name}${suffix}`, labels);
      }
    }
  }
  return known;
}

describe("Grafana dashboard helm/d7y/dashboards/d7y-dashboard.json", () => {
  let dashboard: {
    uid: string;
    title: string;
    schemaVersion: number;
    panels: Panel[];
    templating: { list: Array<{ name: string; type: string; query: string }> };
  };
  let panels: Panel[];

  before(async () => {
    dashboard = JSON.parse(await readFile(DASHBOARD, "utf8"));
    panels = dashboard.panels.filter((panel) => panel.type !== "row");
  });

  it("is a Grafana 10 dashboard model with a Prometheus datasource variable", () => {
    assert.equal(dashboard.uid, "d7y-overview");
    assert.ok(dashboard.title);
    assert.ok(dashboard.schemaVersion >= 36, "Grafana 9.4+/10 schema");
    const variable = dashboard.templating.list.find((item) => item.name === "datasource");
    assert.deepEqual(variable && { type: variable.type, query: variable.query }, {
      type: "datasource",
      query: "prometheus",
    });
    const ids = dashboard.panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
    for (const panel of panels) {
      assert.ok(["timeseries", "stat", "gauge", "bargauge", "table"].includes(panel.type), panel.title);
      assert.deepEqual(panel.datasource, DATASOURCE, panel.title);
      const { x, w, h } = panel.gridPos;
      assert.ok(x >= 0 && w > 0 && h > 0 && x + w <= 24, `${panel.title} fits the 24-column grid`);
      assert.ok(panel.targets && panel.targets.length > 0, `${panel.title} has a query`);
      const refIds = panel.targets.map((target) => target.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${panel.title}: unique refIds`);
    }
  });

  it("only queries metric names and labels the components expose", async () => {
    const known = await knownMetrics();
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        const expr = target.expr ?? "";
        assert.deepEqual(target.datasource, DATASOURCE, panel.title);
        assert.equal(expr.split("(").length, expr.split(")").length, `${panel.title}: balanced parentheses`);
        const names = [...expr.matchAll(/\b(d7y_[a-zA-Z0-9_:]+)/g)].map((match) => match[1]!);
        assert.ok(names.length > 0, `${panel.title}: queries a d7y metric`);
        for (const name of names) assert.ok(known.has(name), `${panel.title}: ${name} is exposed by a component`);
        const labelsInExpr = new Set(names.flatMap((name) => [...known.get(name)!]));
        for (const selector of expr.matchAll(/\b(d7y_[a-zA-Z0-9_:]+)\{([^}]*)\}/g)) {
          for (const pair of selector[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
            assert.ok(known.get(selector[1]!)!.has(pair[1]!), `${panel.title}: ${selector[1]} has label ${pair[1]}`);
          }
        }
        for (const grouping of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
          for (const label of grouping[1]!.split(",").map((item) => item.trim())) {
            assert.ok(labelsInExpr.has(label), `${panel.title}: grouping label ${label} exists`);
          }
        }
      }
    }
  });

  it("has the panels operators look for first", () => {
    const exprs = panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr ?? ""));
    const has = (what: string, check: (expr: string) => boolean) => assert.ok(exprs.some(check), what);
    has(
      "the P2P ratio",
      (expr) =>
        expr ===
        'sum(rate(d7y_daemon_download_bytes_total{source="peer"}[5m])) / sum(rate(d7y_daemon_download_bytes_total{source=~"peer|origin"}[5m]))',
    );
    has("origin egress", (expr) => expr === 'sum(rate(d7y_daemon_download_bytes_total{source="origin"}[5m]))');
    has("throughput per node", (expr) => /by \(instance\) \(rate\(d7y_daemon_download_bytes_total\[/.test(expr));
    has("uploads per node", (expr) => /by \(instance\) \(rate\(d7y_daemon_upload_bytes_total\[/.test(expr));
    has("cache hit bytes", (expr) => expr.includes('d7y_daemon_download_bytes_total{source="cache"}'));
    has("scheduler decisions", (expr) => expr.includes("d7y_scheduler_schedule_decisions_total"));
    has("jobs by state", (expr) => /by \([^)]*state[^)]*\) \(d7y_manager_jobs\)/.test(expr));
  });
});
