/**
 * The chart helm/d7y, rendered with Go's text/template + sprig (or real `helm template` when helm is on
 * PATH): the defaults and the issue's Dragonfly-style values file, unchanged. Every object is validated
 * against the Kubernetes schemas, the merged values against values.schema.json, and each component's
 * config file against the component's own config schema. Then the DaemonSet's init container command is
 * run, as rendered, against a temporary containerd config dir, and a real containerd (CRI) pulls through a
 * d7y daemon using what it wrote.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { configFromOptions } from "@d7y/config";
import { daemonConfigSchema } from "@d7y/daemon";
import { managerConfigSchema } from "@d7y/manager";
import { schedulerConfigSchema } from "@d7y/scheduler";
import { request } from "undici";
import { parse as parseYaml } from "yaml";
import { startContainerd, type TestContainerd } from "../helpers/containerd.js";
import { criPullImage } from "../helpers/cri.js";
import { DAEMON_BIN, type DaemonProcess, startDaemonProcess } from "../helpers/daemon-process.js";
import {
  D7Y_CHART_DIR,
  mergedValues,
  type RenderedObject,
  type RenderOptions,
  renderChart,
  renderChartError,
  renderNotes,
} from "../helpers/helm.js";
import { buildImage, pushImage } from "../helpers/image.js";
import { validateKubeObject } from "../helpers/kube-validate.js";
import { sampleSum } from "../helpers/metrics-text.js";
import { run } from "../helpers/processes.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const ISSUE_VALUES = join(REPO, "test/fixtures/helm/issue-values.yaml");
const SERVICE_MONITOR_API = "monitoring.coreos.com/v1/ServiceMonitor";
const MiB = 1024 * 1024;
/** Each component's workload kind, name and main container, as the chart names them for release d7y. */
const WORKLOADS = [
  ["Deployment", "d7y-manager", "manager"],
  ["Deployment", "d7y-scheduler", "scheduler"],
  ["StatefulSet", "d7y-seed-peer", "seed-peer"],
  ["DaemonSet", "d7y-dfdaemon", "dfdaemon"],
] as const;

// biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects are inspected field by field.
type Obj = Record<string, any>;

function find(objects: RenderedObject[], kind: string, name: string): Obj {
  const found = objects.find((o) => o.object.kind === kind && o.object.metadata?.name === name);
  assert.ok(found, `no ${kind}/${name} among ${objects.map((o) => `${o.object.kind}/${o.object.metadata?.name}`)}`);
  return found.object;
}

function kinds(objects: RenderedObject[]): string[] {
  return objects.map((o) => `${o.object.kind}/${o.object.metadata.name}`).sort();
}

function container(workload: Obj, name: string, init = false): Obj {
  const list: Obj[] =
    (init ? workload.spec.template.spec.initContainers : workload.spec.template.spec.containers) ?? [];
  const found = list.find((c) => c.name === name);
  assert.ok(found, `no ${init ? "init " : ""}container ${name} in ${workload.kind}/${workload.metadata.name}`);
  return found;
}

function port(c: Obj, name: string): Obj {
  const found = (c.ports as Obj[]).find((p) => p.name === name);
  assert.ok(found, `container ${c.name} has no port ${name}`);
  return found;
}

async function validateAll(objects: RenderedObject[]): Promise<void> {
  assert.ok(objects.length > 0);
  for (const { object, source } of objects) {
    assert.equal(object.metadata?.namespace ?? "d7y", "d7y", `${source}: namespace`);
    await validateKubeObject(object);
  }
}

/** Loads a component's rendered config file the way the component does (--config) and validates it. */
async function loadComponentConfig(schema: Parameters<typeof configFromOptions>[0], text: string): Promise<Obj> {
  const dir = await mkdtemp(join(tmpdir(), "d7y-chart-config-"));
  try {
    const file = join(dir, "config.yaml");
    await writeFile(file, text);
    return configFromOptions(schema, { config: file }, {}) as Obj;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("helm chart helm/d7y", function () {
  this.timeout(120_000);
  const defaults: RenderOptions = { chartDir: D7Y_CHART_DIR };
  const issue: RenderOptions = { chartDir: D7Y_CHART_DIR, valuesFiles: [ISSUE_VALUES] };

  describe("with the default values", () => {
    let objects: RenderedObject[];
    before(async () => {
      objects = (await renderChart(defaults)).objects;
    });

    it("renders valid Kubernetes objects: manager, scheduler, seed peers, daemon, no Jaeger or ServiceMonitor", async () => {
      await validateAll(objects);
      assert.deepEqual(kinds(objects), [
        "ConfigMap/d7y-dfdaemon",
        "ConfigMap/d7y-grafana-dashboard",
        "ConfigMap/d7y-manager",
        "ConfigMap/d7y-scheduler",
        "ConfigMap/d7y-seed-peer",
        "DaemonSet/d7y-dfdaemon",
        "Deployment/d7y-manager",
        "Deployment/d7y-scheduler",
        "PersistentVolumeClaim/d7y-manager",
        "Pod/d7y-test-status",
        "Service/d7y-dfdaemon",
        "Service/d7y-manager",
        "Service/d7y-scheduler",
        "Service/d7y-seed-peer",
        "StatefulSet/d7y-seed-peer",
      ]);
    });

    it("the merged values pass values.schema.json", async () => {
      // renderChart already refused values the schema rejects; check the schema really bites.
      const error = await renderChartError({ chartDir: D7Y_CHART_DIR, values: { manager: { replicas: 2 } } });
      assert.match(error, /schema/);
      assert.match(error, /manager.replicas/);
      const typo = await renderChartError({ chartDir: D7Y_CHART_DIR, values: { dfdaemon: { config: { quta: 1 } } } });
      assert.match(typo, /dfdaemon.config/);
      assert.match(typo, /quta/);
      const nested = await renderChartError({
        chartDir: D7Y_CHART_DIR,
        values: { seedPeer: { config: { storage: { qouta: "1GiB" } } } },
      });
      assert.match(nested, /seedPeer.config.storage/);
      assert.match(nested, /qouta/);
      const values = await mergedValues(defaults);
      assert.equal((values.dfdaemon as Obj).hostPort, 4001);
    });

    it("the seed peers are a StatefulSet with a claim per pod, the manager keeps LevelDB on a claim", () => {
      const seed = find(objects, "StatefulSet", "d7y-seed-peer");
      assert.equal(seed.spec.serviceName, "d7y-seed-peer");
      const claim = seed.spec.volumeClaimTemplates[0];
      assert.equal(claim.metadata.name, "storage");
      assert.equal(claim.spec.resources.requests.storage, "50Gi");
      const mount = (container(seed, "seed-peer").volumeMounts as Obj[]).find((m) => m.name === "storage");
      assert.equal(mount?.mountPath, "/var/lib/d7y/daemon");
      assert.ok(container(seed, "seed-peer").args.includes("--seed"));
      const manager = find(objects, "Deployment", "d7y-manager");
      assert.equal(manager.spec.strategy.type, "Recreate");
      const data = (manager.spec.template.spec.volumes as Obj[]).find((v) => v.name === "data");
      assert.equal(data?.persistentVolumeClaim?.claimName, "d7y-manager");
    });

    it("helm test runs kubectl d7y status against the manager's Service", () => {
      const pod = find(objects, "Pod", "d7y-test-status");
      assert.equal(pod.metadata.annotations["helm.sh/hook"], "test");
      assert.equal(pod.spec.restartPolicy, "Never");
      assert.deepEqual(pod.spec.containers[0].command, [
        "kubectl-d7y",
        "status",
        "--manager=http://d7y-manager.d7y.svc:8080",
      ]);
      assert.equal(pod.spec.containers[0].securityContext.runAsNonRoot, true);
      assert.equal(pod.spec.containers[0].securityContext.readOnlyRootFilesystem, true);
    });

    it("the kubectl plugin finds the manager Service by its label and port names", () => {
      const service = find(objects, "Service", "d7y-manager");
      assert.equal(service.metadata.labels["app.kubernetes.io/component"], "manager");
      assert.deepEqual(
        (service.spec.ports as Obj[]).map((p) => [p.name, p.port]),
        [
          ["http", 8080],
          ["rpc", 65003],
          ["metrics", 8000],
        ],
      );
    });

    it("ships the Grafana dashboard file unchanged", async () => {
      const dashboard = find(objects, "ConfigMap", "d7y-grafana-dashboard");
      assert.equal(dashboard.metadata.labels.grafana_dashboard, "1");
      const file = await readFile(join(D7Y_CHART_DIR, "dashboards/d7y-dashboard.json"), "utf8");
      assert.deepEqual(JSON.parse(dashboard.data["d7y-dashboard.json"]), JSON.parse(file));
    });

    it("every long-running container is non-root with a read-only root filesystem; only init containers are root", () => {
      for (const { object } of objects) {
        const pod = object.spec?.template?.spec;
        if (!pod) continue;
        for (const c of pod.containers as Obj[]) {
          const sc = c.securityContext ?? {};
          assert.equal(sc.runAsNonRoot, true, `${object.kind}/${object.metadata.name} ${c.name}`);
          assert.equal(sc.readOnlyRootFilesystem, true, `${c.name}`);
          assert.deepEqual(sc.capabilities?.drop, ["ALL"], `${c.name}`);
          assert.ok(c.resources?.limits && c.resources?.requests, `${c.name} has requests and limits`);
          assert.ok(c.readinessProbe && c.livenessProbe, `${c.name} has probes`);
        }
        for (const c of (pod.initContainers ?? []) as Obj[]) {
          assert.equal(c.securityContext?.runAsUser, 0, `${c.name} writes to the node`);
          assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
          assert.notEqual(c.securityContext?.privileged, true);
        }
      }
    });
  });

  describe("with the issue's values file (Dragonfly's keys), unchanged", () => {
    let objects: RenderedObject[];
    let withMonitoring: RenderedObject[];
    before(async () => {
      objects = (await renderChart(issue)).objects;
      withMonitoring = (await renderChart({ ...issue, apiVersions: [SERVICE_MONITOR_API] })).objects;
    });

    it("renders valid objects, with Jaeger, and ServiceMonitors only where the cluster has the CRD", async () => {
      await validateAll(objects);
      await validateAll(withMonitoring);
      const jaeger = find(objects, "Deployment", "d7y-jaeger");
      assert.equal(port(container(jaeger, "jaeger"), "otlp-http").containerPort, 4318);
      find(objects, "Service", "d7y-jaeger");
      assert.equal(objects.filter((o) => o.object.kind === "ServiceMonitor").length, 0);
      const monitors = withMonitoring.filter((o) => o.object.kind === "ServiceMonitor").map((o) => o.object);
      assert.deepEqual(monitors.map((m) => m.metadata.name).sort(), [
        "d7y-dfdaemon",
        "d7y-manager",
        "d7y-scheduler",
        "d7y-seed-peer",
      ]);
      for (const monitor of monitors) {
        const component = monitor.metadata.labels["app.kubernetes.io/component"];
        const service = find(withMonitoring, "Service", monitor.metadata.name);
        assert.deepEqual(monitor.spec.selector.matchLabels, service.spec.selector, `${component} selects its Service`);
        assert.ok(
          (service.spec.ports as Obj[]).some((p) => p.name === monitor.spec.endpoints[0].port),
          `${component}'s Service has the scraped port`,
        );
      }
    });

    it("every component sends traces to the chart's Jaeger over OTLP/HTTP", () => {
      const endpoint = "--tracing-endpoint=http://d7y-jaeger.d7y.svc:4318/v1/traces";
      for (const [kind, name, c] of WORKLOADS) {
        assert.ok(container(find(objects, kind, name), c).args.includes(endpoint), `${name} traces to Jaeger`);
      }
    });

    it("each component's config file is the values' config, and the component itself accepts it", async () => {
      for (const [name, file, schema] of [
        ["d7y-manager", "manager.yaml", managerConfigSchema],
        ["d7y-scheduler", "scheduler.yaml", schedulerConfigSchema],
        ["d7y-seed-peer", "daemon.yaml", daemonConfigSchema],
        ["d7y-dfdaemon", "daemon.yaml", daemonConfigSchema],
      ] as const) {
        const text = find(objects, "ConfigMap", name).data[file] as string;
        const raw = parseYaml(text) as Obj;
        assert.equal(raw.verbose, true, name);
        assert.equal(raw.pprofPort, 18066, name);
        const config = await loadComponentConfig(schema, text);
        assert.equal(config.logLevel, "debug", `${name}: verbose means debug logs`);
        assert.equal(config.pprofPort, 18066, name);
      }
      const daemon = parseYaml(find(objects, "ConfigMap", "d7y-dfdaemon").data["daemon.yaml"]) as Obj;
      assert.deepEqual(
        daemon.proxy.registries,
        ["https://ghcr.io"],
        "containerd's registries are the mirror's upstreams",
      );
    });

    it("maps pprofPort to a named container port on every component", () => {
      for (const [kind, name, c] of WORKLOADS) {
        assert.equal(port(container(find(objects, kind, name), c), "pprof").containerPort, 18066, name);
      }
    });

    it("the DaemonSet: host port 4001, hostPath cache, containerd config mount and the init container's command", () => {
      const ds = find(objects, "DaemonSet", "d7y-dfdaemon");
      const daemon = container(ds, "dfdaemon");
      assert.deepEqual(port(daemon, "proxy"), { name: "proxy", containerPort: 4001, hostPort: 4001, protocol: "TCP" });
      assert.equal(port(daemon, "upload").containerPort, 4005);
      assert.equal(port(daemon, "metrics").containerPort, 4002);
      assert.equal(daemon.readinessProbe.httpGet.path, "/healthy");
      assert.equal(daemon.readinessProbe.httpGet.port, "proxy");
      assert.deepEqual(daemon.command, ["d7y-daemon"]);
      for (const arg of ["--config=/etc/d7y/daemon.yaml", "--data-dir=/var/lib/d7y/daemon", "--host-ip=$(POD_IP)"]) {
        assert.ok(daemon.args.includes(arg), arg);
      }
      assert.ok(daemon.args.includes("--manager=http://d7y-manager.d7y.svc:65003"));
      const volumes = Object.fromEntries((ds.spec.template.spec.volumes as Obj[]).map((v) => [v.name, v]));
      assert.deepEqual(volumes.data.hostPath, { path: "/var/lib/d7y/daemon", type: "DirectoryOrCreate" });
      assert.deepEqual(volumes["containerd-config"].hostPath, { path: "/etc/containerd", type: "DirectoryOrCreate" });
      const mounts = Object.fromEntries((daemon.volumeMounts as Obj[]).map((m) => [m.name, m.mountPath]));
      assert.equal(mounts.data, "/var/lib/d7y/daemon");
      assert.equal(mounts.config, "/etc/d7y");

      const init = container(ds, "containerd-config", true);
      assert.deepEqual(init.command, [
        "d7y-daemon",
        "containerd-config",
        "--containerd-config=/etc/containerd/config.toml",
        "--hosts-dir=/etc/containerd/certs.d",
        "--inject-config-path",
        "--mirror=http://127.0.0.1:4001",
        "--registry=https://ghcr.io",
      ]);
      assert.deepEqual(init.volumeMounts, [{ name: "containerd-config", mountPath: "/etc/containerd" }]);
      assert.equal(init.securityContext.runAsUser, 0);
      assert.equal(init.securityContext.readOnlyRootFilesystem, true);
      const initOrder = (ds.spec.template.spec.initContainers as Obj[]).map((c) => c.name);
      assert.deepEqual(initOrder, ["init-data-dir", "containerd-config"]);
    });

    it("NOTES.txt tells how to check that pulls go peer to peer", async () => {
      const notes = await renderNotes(issue);
      assert.match(notes, /helm test d7y -n d7y/);
      assert.match(notes, /d7y_daemon_download_bytes_total/);
      assert.match(notes, /source="peer"/);
      assert.match(notes, /kubectl -n d7y logs daemonset\/d7y-dfdaemon -c containerd-config/);
      assert.match(notes, /port-forward service\/d7y-jaeger 16686:16686/);
      assert.match(notes, /debug\/pprof\/profile\?seconds=10/);
      assert.match(notes, /https:\/\/ghcr\.io/);
    });
  });

  it("serviceMonitor.enable: true renders them without the CRD's API, false never; metrics off drops them", async () => {
    const monitors = async (values: Obj, apiVersions: string[] = []) =>
      (await renderChart({ chartDir: D7Y_CHART_DIR, values, apiVersions })).objects
        .filter((o) => o.object.kind === "ServiceMonitor")
        .map((o) => o.object.metadata.name as string)
        .sort();
    const forced = { serviceMonitor: { enable: true } };
    assert.deepEqual(await monitors({ scheduler: { metrics: forced }, manager: { metrics: forced } }), [
      "d7y-manager",
      "d7y-scheduler",
    ]);
    const off = { serviceMonitor: { enable: false } };
    assert.deepEqual(await monitors({ dfdaemon: { metrics: off } }, [SERVICE_MONITOR_API]), [
      "d7y-manager",
      "d7y-scheduler",
      "d7y-seed-peer",
    ]);
    const { objects } = await renderChart({
      chartDir: D7Y_CHART_DIR,
      values: { dfdaemon: { metrics: { enable: false } } },
      apiVersions: [SERVICE_MONITOR_API],
    });
    assert.ok(
      !objects.some(
        (o) =>
          o.object.metadata.name === "d7y-dfdaemon" && o.object.kind !== "DaemonSet" && o.object.kind !== "ConfigMap",
      ),
    );
    const daemon = container(find(objects, "DaemonSet", "d7y-dfdaemon"), "dfdaemon");
    assert.ok(daemon.args.includes("--no-metrics"));
    assert.ok(!(daemon.ports as Obj[]).some((p) => p.name === "metrics"));
  });

  it("image options: a digest replaces the tag and pull secrets reach every pod", async () => {
    const digest = `sha256:${"ab".repeat(32)}`;
    const { objects } = await renderChart({
      chartDir: D7Y_CHART_DIR,
      values: { image: { digest, pullSecrets: ["regcred"] } },
    });
    await validateAll(objects);
    const pods = objects.map((o) => o.object.spec?.template?.spec).filter((pod) => pod !== undefined);
    assert.equal(pods.length, 4);
    for (const pod of pods) {
      assert.deepEqual(pod.imagePullSecrets, [{ name: "regcred" }]);
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
        assert.equal(c.image, `ghcr.io/d7y/d7y@${digest}`);
      }
    }
  });

  describe("bad values get a clear error", () => {
    it("refuses an empty registry list while containerd injection is on", async () => {
      const error = await renderChartError({
        chartDir: D7Y_CHART_DIR,
        values: { containerRuntime: { containerd: { registries: [] } } },
      });
      assert.match(error, /containerRuntime\.containerd\.registries needs at least one registry/);
      // proxyAllRegistries alone is enough: every registry goes through _default/hosts.toml, and the
      // daemons may then reach any registry containerd names.
      const { objects } = await renderChart({
        chartDir: D7Y_CHART_DIR,
        values: { containerRuntime: { containerd: { registries: [], proxyAllRegistries: true } } },
      });
      const init = container(find(objects, "DaemonSet", "d7y-dfdaemon"), "containerd-config", true);
      assert.ok(init.command.includes("--all"));
      for (const name of ["d7y-dfdaemon", "d7y-seed-peer"]) {
        const text = find(objects, "ConfigMap", name).data["daemon.yaml"] as string;
        const config = await loadComponentConfig(daemonConfigSchema, text);
        assert.equal(config.proxy.allowAllRegistries, true, name);
      }
    });

    it("refuses a registry that is not a URL, and an unknown top-level key", async () => {
      const bad = await renderChartError({
        chartDir: D7Y_CHART_DIR,
        values: { containerRuntime: { containerd: { registries: ["ghcr.io/some/path"] } } },
      });
      assert.match(bad, /containerRuntime.containerd.registries.0/);
      const unknown = await renderChartError({ chartDir: D7Y_CHART_DIR, values: { dfdeamon: {} } });
      assert.match(unknown, /dfdeamon/);
    });
  });

  describe("the init container's command, run as rendered, then a real containerd pulls through d7y", () => {
    this.timeout(180_000);
    let registry: TestRegistry;
    let daemon: DaemonProcess;
    let containerd: TestContainerd | undefined;
    let work: string;
    let configFile = "";
    let initOutput = "";

    before(async () => {
      work = await mkdtemp(join(tmpdir(), "d7y-chart-init-"));
      registry = await startRegistry();
      const image = await buildImage({
        layers: [
          { size: 3 * MiB, seed: "chart-init-a" },
          { size: 64 * 1024, seed: "chart-init-b" },
        ],
      });
      await pushImage(registry.url, "d7y/chart", "v1", image);
      daemon = await startDaemonProcess({ registries: [registry.url] });
      // The values file with the test registry in place of ghcr.io (unreachable here), rendered as a user would.
      const { objects } = await renderChart({
        chartDir: D7Y_CHART_DIR,
        valuesFiles: [ISSUE_VALUES],
        values: { containerRuntime: { containerd: { registries: [registry.url] } } },
      });
      const init = container(find(objects, "DaemonSet", "d7y-dfdaemon"), "containerd-config", true);
      const mountPath = (init.volumeMounts as Obj[])[0]!.mountPath as string;
      registry.reset();
      containerd = await startContainerd({
        cri: true,
        snapshotter: "native",
        beforeStart: async (file) => {
          // The node's /etc/containerd is a temp dir holding the config this containerd starts with
          // (no config_path yet); the command is the rendered one with only the host paths and the
          // mirror's port swapped for this machine's.
          configFile = file;
          const nodeDir = dirname(file);
          const [program, ...args] = init.command as string[];
          assert.equal(program, "d7y-daemon");
          const local = args.map((arg) =>
            arg
              .replace(`=${mountPath}/config.toml`, `=${file}`)
              .replace(`=${mountPath}/`, `=${nodeDir}/`)
              .replace("=http://127.0.0.1:4001", `=${daemon.mirrorUrl}`),
          );
          const result = await run(process.execPath, [DAEMON_BIN, ...local], { timeoutMs: 20_000 });
          assert.equal(result.code, 0, result.stderr);
          initOutput = result.stdout;
        },
      });
    });

    after(async () => {
      await containerd?.stop();
      await daemon?.destroy();
      await registry?.stop();
      if (work) await rm(work, { recursive: true, force: true });
    });

    it("adds config_path to the node's config and writes the registry's hosts.toml, registry kept as server", async () => {
      assert.match(initOutput, /set config_path = .* restart containerd to read it/);
      const config = await readFile(configFile, "utf8");
      const hostsDir = join(dirname(configFile), "certs.d");
      assert.ok(config.includes(`config_path = ${JSON.stringify(hostsDir)}`), config);
      const hostsToml = await readFile(join(hostsDir, registry.host, "hosts.toml"), "utf8");
      assert.ok(hostsToml.includes(`server = "${registry.url}"`), hostsToml);
      assert.ok(hostsToml.includes(`[host."${daemon.mirrorUrl}"]`), hostsToml);
    });

    it("containerd's CRI pulls the image through the daemon: every blob byte the registry sends goes to d7y", async () => {
      const ref = `${registry.host}/d7y/chart:v1`;
      const imageRef = await criPullImage(containerd!.socket, ref);
      assert.match(imageRef, /^sha256:[0-9a-f]{64}$/);
      const metrics = await (await request(daemon.metricsUrl)).body.text();
      const origin = sampleSum(metrics, "d7y_daemon_download_bytes_total", { source: "origin" }) ?? 0;
      assert.ok(origin >= 3 * MiB, `the daemon fetched the layers (${origin} bytes from the origin)`);
      const gets = registry.blobGets();
      assert.ok(gets.length > 0);
      for (const get of gets) assert.equal(get.status, 206, `${get.path} was a daemon piece request, not containerd`);
    });
  });
});
