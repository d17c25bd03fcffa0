import assert from "node:assert/strict";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import {
  helmRenderer,
  mergedValues,
  type RenderOptions,
  renderChart,
  renderChartError,
  renderNotes,
} from "../../helpers/helm.js";
import { run } from "../../helpers/processes.js";

/** test/fixtures/helm-mini (this file runs from test/dist/unit/helm). */
const CHART = join(dirname(fileURLToPath(import.meta.url)), "../../../fixtures/helm-mini");
const CM = "helm-mini/templates/cm.yaml";
const SERVICE_MONITOR = "helm-mini/templates/servicemonitor.yaml";

describe("helpers/helm: rendering a chart like helm template", function () {
  // The first run builds test/helm-render with go (a few seconds; later runs reuse the binary).
  this.timeout(300_000);

  let work: string;
  const base = (extra: Partial<RenderOptions> = {}): RenderOptions => ({
    chartDir: CHART,
    ...extra,
    values: { clusterId: "c1", ...extra.values },
  });

  before(async () => {
    await helmRenderer();
    work = await mkdtemp(join(tmpdir(), "d7y-helm-test-"));
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("renders the built-in objects, include/nindent, tpl, default, .Files.Get, lookup and Capabilities", async () => {
    const { objects, text } = await renderChart(base());
    assert.deepEqual(
      objects.map((o) => o.source),
      [CM],
    );
    const cm = objects[0]!.object;
    assert.equal(cm.kind, "ConfigMap");
    assert.equal(cm.metadata.name, "d7y-helm-mini");
    assert.equal(cm.metadata.namespace, "d7y");
    assert.deepEqual(cm.metadata.labels, {
      "app.kubernetes.io/name": "helm-mini",
      "app.kubernetes.io/instance": "d7y",
      "app.kubernetes.io/version": "1.2.3",
      team: "infra",
      tier: "cache",
    });
    assert.equal(cm.data.clusterId, "c1");
    assert.equal(cm.data.image, "example.org/d7y/daemon:1.2.3", "default falls back to .Chart.AppVersion");
    assert.equal(cm.data.greeting, "hello from d7y in d7y", "tpl renders a value as a template");
    assert.equal(cm.data.replicas, "2");
    assert.equal(cm.data.bigNumber, "1e+06", "Helm reads numbers as float64 (its well-known quirk)");
    assert.equal(cm.data.missing, "", "a missing key renders as '' (missingkey=zero, <no value> blanked)");
    assert.equal(cm.data.template, CM);
    assert.equal(cm.data.basePath, "helm-mini/templates");
    assert.match(cm.data.kube, /^v1\.\d+\.\d+/);
    assert.equal(cm.data.hasApps, "true");
    assert.equal(cm.data.hasServiceMonitor, "false");
    assert.equal(cm.data.banner, "d7y banner line");
    assert.equal(cm.data.lookup, "{}", "lookup returns an empty map without a cluster");
    assert.deepEqual(parseYaml(cm.data["config.yaml"]), {
      listen: ":65001",
      mirrors: [{ host: "docker.io", url: "https://registry-1.docker.io" }],
      storage: { dir: "/var/lib/d7y", gcThreshold: 0.8 },
    });
    assert.ok(text.startsWith(`---\n# Source: ${CM}\n`), text);
  });

  it("formats toYaml with sorted keys and 2-space indentation", async () => {
    const renderer = await helmRenderer();
    const { objects } = await renderChart(base());
    const config: string = objects[0]!.object.data["config.yaml"];
    if (renderer.kind === "helm") {
      // Real helm (sigs.k8s.io/yaml) does not indent sequences under their key.
      assert.match(config, /^listen: :65001\nmirrors:\n- host: docker.io\n {2}url: /);
      return;
    }
    assert.equal(
      config,
      [
        "listen: :65001",
        "mirrors:",
        "  - host: docker.io",
        "    url: https://registry-1.docker.io",
        "storage:",
        "  dir: /var/lib/d7y",
        "  gcThreshold: 0.8",
        "",
      ].join("\n"),
    );
  });

  it("merges values like Helm: files in order, maps recursively, a null deletes a default", async () => {
    const first = join(work, "first.yaml");
    const second = join(work, "second.yaml");
    await writeFile(first, "image:\n  tag: v1\nlabels:\n  team: storage\nconfig:\n  storage: null\nreplicas: 3\n");
    await writeFile(
      second,
      "image:\n  tag: v2\nconfig:\n  mirrors:\n    - host: ghcr.io\n      url: https://ghcr.io\n",
    );
    const opts = base({ valuesFiles: [first, second], values: { replicas: 5 } });

    const values = await mergedValues(opts);
    assert.deepEqual(values.image, { repository: "example.org/d7y/daemon", tag: "v2", pullPolicy: "IfNotPresent" });
    assert.deepEqual(values.labels, { tier: "cache", team: "storage" }, "nested maps merge");
    assert.deepEqual(values.config, { listen: ":65001", mirrors: [{ host: "ghcr.io", url: "https://ghcr.io" }] });
    assert.equal(values.replicas, 5, "the values option is applied last");
    assert.equal(values.clusterId, "c1");

    const cm = (await renderChart(opts)).objects[0]!.object;
    assert.equal(cm.data.image, "example.org/d7y/daemon:v2");
    assert.equal(cm.metadata.labels.team, "storage");
    assert.equal(cm.metadata.labels.tier, "cache");
    assert.equal(cm.data.replicas, "5");
    assert.deepEqual(parseYaml(cm.data["config.yaml"]), {
      listen: ":65001",
      mirrors: [{ host: "ghcr.io", url: "https://ghcr.io" }],
    });
  });

  it("splits multi-document files and names each document's source template", async () => {
    const plain = await renderChart(base({ values: { extraDoc: true } }));
    assert.deepEqual(
      plain.objects.map((o) => [o.source, o.object.kind, o.object.metadata.name]),
      [
        [CM, "ConfigMap", "d7y-helm-mini"],
        [CM, "ConfigMap", "d7y-helm-mini-extra"],
      ],
    );
    assert.equal(plain.objects[1]!.object.data.tpl, "d7y-helm-mini-via-tpl", "tpl can include chart templates");

    const withCrd = await renderChart(
      base({ values: { extraDoc: true }, apiVersions: ["monitoring.coreos.com/v1/ServiceMonitor"] }),
    );
    assert.deepEqual(
      withCrd.objects.map((o) => o.source),
      [CM, CM, SERVICE_MONITOR],
    );
    const sm = withCrd.objects[2]!.object;
    assert.equal(sm.kind, "ServiceMonitor");
    assert.equal(sm.spec.selector.matchLabels["app.kubernetes.io/instance"], "d7y");
    assert.equal((withCrd.text.match(/^---$/gm) ?? []).length, 3);
    assert.ok(withCrd.text.includes(`---\n# Source: ${SERVICE_MONITOR}\napiVersion: monitoring.coreos.com/v1\n`));
  });

  it("fails with exit 1 and an Error: line when a required value is missing", async () => {
    const line = await renderChartError({ chartDir: CHART });
    assert.match(line, /^Error: execution error at \(helm-mini\/templates\/cm\.yaml:\d+:\d+\): clusterId is required/);

    const renderer = await helmRenderer();
    if (renderer.kind === "go-template") {
      const result = await run(renderer.bin, ["--chart", CHART], { timeoutMs: 60_000 });
      assert.equal(result.code, 1);
      assert.equal(result.stdout, "");
      assert.equal(
        result.stderr,
        "Error: execution error at (helm-mini/templates/cm.yaml:9:16): clusterId is required: set clusterId\n",
      );
    }
  });

  it("fails with the message given to fail", async () => {
    const line = await renderChartError(base({ values: { failWith: "no way: bad settings" } }));
    assert.match(line, /^Error: execution error at \(helm-mini\/templates\/cm\.yaml:\d+:\d+\): no way: bad settings$/);
  });

  it("renders NOTES.txt", async () => {
    const notes = await renderNotes(base({ release: "edge", namespace: "cache" }));
    assert.equal(notes.trim(), "edge-helm-mini is installed in namespace cache.\nChart helm-mini-0.1.0 (app 1.2.3).");
  });

  it("does not offer env or expandenv (Helm removes them from sprig)", async () => {
    for (const fn of ["env", "expandenv"]) {
      const copy = join(work, `chart-${fn}`);
      await cp(CHART, copy, { recursive: true });
      await writeFile(join(copy, "templates", "env.yaml"), `home: {{ ${fn} "HOME" }}\n`);
      const line = await renderChartError(base({ chartDir: copy }));
      assert.match(
        line,
        new RegExp(`^Error: parse error at \\(helm-mini/templates/env\\.yaml:1\\): function "${fn}" not defined`),
      );
    }
  });

  it("reports a bad values file and a missing chart as Error: lines", async () => {
    const bad = join(work, "bad.yaml");
    await writeFile(bad, "a: [unclosed\n");
    assert.match(await renderChartError(base({ valuesFiles: [bad] })), /^Error: .*bad\.yaml/);
    assert.match(await renderChartError({ chartDir: join(work, "no-such-chart") }), /^Error: .*no-such-chart/);
  });
});
