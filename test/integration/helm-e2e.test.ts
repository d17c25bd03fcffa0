/**
 * The chart, played end to end on a two-node "cluster" without Kubernetes: helm/d7y is rendered with the
 * issue's values file (test/fixtures/helm/issue-values.yaml) unchanged, plus only what this environment
 * forces (the registry at 10.81.0.20:5000 in place of ghcr.io, short announce/refresh intervals, a 1 GiB
 * cache quota), and kubelet-lite (test/helpers/kubelet-lite.ts) runs every pod's init containers and
 * containers exactly as rendered (command, args, env, volumes, securityContext, readinessProbe). Each pod
 * has its own network namespace and pod IP on one bridge (10.81.0.0/24); each node (node1, node2) also
 * has its own namespace on the bridge, with a node IP, where its containerd runs. The dfdaemon pods run
 * with the chart's default `hostNetwork: false`. The chart is rendered with the API version
 * monitoring.coreos.com/v1/ServiceMonitor available, so its 4 ServiceMonitors render.
 *
 * Real: d7y-manager, d7y-scheduler, the seed peer and both daemons (the assembled image tree's bins, as
 * uid 1000 through setpriv, with the rendered --tracing-endpoint, verbose logging and pprof port), the
 * init containers (as root, with the rendered capabilities as the bounding set), containerd 1.6 on each
 * node (CRI PullImage, reading the config.toml and hosts.toml that the containerd-config init container
 * wrote, so it pulls through http://127.0.0.1:4001), the hostPort path: iptables DNAT in the node's
 * namespace from 127.0.0.1:4001 and <node IP>:4001 to the daemon pod's IP, route_localnet and the
 * masquerade of localhost-sourced traffic, as the CNI portmap plugin installs them
 * (test/helpers/portmap.ts); OTLP/HTTP span export from every component to the jaeger Service's name;
 * the components' /debug/pprof/ endpoints on their pod's loopback; Debian's docker-registry in its own
 * namespace (counted from its access log); curl against the manager's REST API from inside a namespace;
 * Debian's Prometheus in its own namespace on the bridge (10.81.0.40), scraping every pod's metrics port
 * (one job per ServiceMonitor, named after it; a 1 s scrape interval instead of the rendered 30s), its
 * HTTP API queried with curl from inside that namespace: `up` for the 5 targets and the dashboard's PromQL
 * (peer bytes by pod, origin bytes by job); `helm test`: the chart's test hook Pod (helm.sh/hook: test,
 * kubectl-d7y status against the manager's Service name) run to completion by kubelet-lite in its own
 * namespace on the bridge (10.81.0.50), passing, then, last of all and after the test stopped the scheduler
 * (its keepalive stream ends: the manager marks it inactive at once), failing with "no active scheduler".
 * Simulated: containers (no image, no mount namespace: volume mount paths are replaced by directories in
 * the arguments and env values), the Prometheus operator (the test derives the scrape targets from the rendered
 * ServiceMonitors, test/helpers/service-monitors.ts: Service by label, pods by the Service's selector,
 * the endpoint's port name through targetPort to the container port; static_configs, no Kubernetes service
 * discovery), Service DNS (/etc/hosts to pod IPs, no ClusterIP, no kube-proxy), the Jaeger pod (its
 * image does not run here: test/helpers/otlp-receiver-main.ts stands in for Jaeger's OTLP/HTTP collector
 * only, writing the spans it receives to a file; no Jaeger storage, query API or UI), the containerd
 * restart the init container asks for (containerd starts after it instead), the CNI bridge plugin (the
 * flat bridge puts nodes and pods on one L2 segment, so the PREROUTING DNAT for other hosts is installed
 * but not exercised: a pod's reply would not route back through the node).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, cp, lstat, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { startContainerd, type TestContainerd } from "../helpers/containerd.js";
import { criPullImage } from "../helpers/cri.js";
import { D7Y_CHART_DIR, type RenderedObject, renderChart } from "../helpers/helm.js";
import { type BuiltImage, buildImage, pushImage } from "../helpers/image.js";
import { KubeletLite, type LitePod, type PodPlacement, type TestHookRun } from "../helpers/kubelet-lite.js";
import { sampleSum } from "../helpers/metrics-text.js";
import { type BridgeNetwork, createBridgeNetwork, namespace, runIn, writeNetnsHosts } from "../helpers/netns.js";
import type { ReceivedSpan } from "../helpers/otlp-receiver.js";
import { dnatCounters, installHostPorts } from "../helpers/portmap.js";
import { run, spawnTracked, type TrackedProcess, waitFor } from "../helpers/processes.js";
import { startRegistry } from "../helpers/registry.js";
import { prometheusConfig, type ScrapeJob, scrapeJobs } from "../helpers/service-monitors.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, "../../..");
/** The values file of the issue, used unchanged. */
const ISSUE_VALUES = join(REPO, "test/fixtures/helm/issue-values.yaml");
/** The OTLP receiver standing in for the Jaeger pod's collector (compiled next to this file's helpers). */
const OTLP_RECEIVER_MAIN = join(HERE, "../helpers/otlp-receiver-main.js");
/** Debian's Prometheus (scripts/ensure-system-packages.mjs installs it). */
const PROMETHEUS = "/usr/bin/prometheus";
/** Where Prometheus serves its API, inside its own namespace only. */
const PROMETHEUS_API = "http://127.0.0.1:9090";
/** The scrape interval of the test's Prometheus: the rendered ServiceMonitors say 30s, too long for a test. */
const SCRAPE_INTERVAL = "1s";
const MiB = 1024 * 1024;
const AMD64 = "linux/amd64";
const SUBNET = "10.81.0.0/24";
const NODES = ["node1", "node2"] as const;
type Node = (typeof NODES)[number];
const NS = {
  bridge: "d7yh-br",
  manager: "d7yh-manager",
  scheduler: "d7yh-sched",
  seed: "d7yh-seed0",
  jaeger: "d7yh-jaeger",
  /** The nodes: containerd runs here, the hostPort rules live here. */
  node1: "d7yh-node1",
  node2: "d7yh-node2",
  registry: "d7yh-registry",
  /** Prometheus, scraping the pods the ServiceMonitors select. */
  prometheus: "d7yh-prom",
  /** The chart's `helm test` hook Pod. */
  test: "d7yh-test",
};
/** The dfdaemon pod on each node: its own namespace (hostNetwork: false). */
const DAEMON_NS: Record<Node, string> = { node1: "d7yh-dfd-node1", node2: "d7yh-dfd-node2" };
const IP = {
  manager: "10.81.0.2",
  scheduler: "10.81.0.3",
  seed: "10.81.0.4",
  jaeger: "10.81.0.5",
  node1: "10.81.0.11",
  node2: "10.81.0.12",
  registry: "10.81.0.20",
  prometheus: "10.81.0.40",
  test: "10.81.0.50",
};
const DAEMON_IP: Record<Node, string> = { node1: "10.81.0.31", node2: "10.81.0.32" };
const REGISTRY_HOST = `${IP.registry}:5000`;
const REGISTRY_URL = `http://${REGISTRY_HOST}`;
const RELEASE = "d7y";
const K8S_NS = "d7y";
/** Short intervals so that registration and scheduler discovery take seconds, not 30 s; a quota that fits /tmp. */
const DAEMON_CONFIG = {
  storage: { quota: "1GiB" },
  scheduler: { announceInterval: "1s" },
  manager: { refreshInterval: "2s", keepAliveInterval: "1s" },
};

interface Job {
  id: number;
  state: string;
  type: string;
  result?: unknown;
}

/** One line of docker-registry's access log (combined log format). */
interface AccessLogEntry {
  /** The client's address. */
  remote: string;
  method: string;
  path: string;
  status: number;
  bytes: number;
  userAgent: string;
}

/** A sample of an instant vector in Prometheus' query API. */
interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

const ACCESS_LOG = /^(\S+) \S+ \S+ \[[^\]]+\] "(\S+) (\S+) [^"]*" (\d{3}) (\d+|-) "[^"]*" "([^"]*)"/;
const BLOB_PATH = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})(?:\?.*)?$/;

interface NamespacedRegistry {
  proc: TrackedProcess;
  log: AccessLogEntry[];
  /** GETs of `/v2/<repo>/blobs/<digest>` (any status), optionally of one digest. */
  blobGets(digest?: string): AccessLogEntry[];
  /** Body bytes of 2xx blob GETs. */
  blobBytes(digest?: string): number;
}

/** docker-registry on `addr` inside `ns`, its access log parsed into the request counters. */
async function startRegistryInNamespace(
  ns: string,
  addr: string,
  storageDir: string,
  dir: string,
): Promise<NamespacedRegistry> {
  const config = join(dir, "registry.yml");
  await writeFile(
    config,
    [
      "version: 0.1",
      "log: { level: error, accesslog: { disabled: false } }",
      `storage: { filesystem: { rootdirectory: ${JSON.stringify(storageDir)} }, delete: { enabled: true } }`,
      `http: { addr: ${JSON.stringify(addr)} }`,
      "",
    ].join("\n"),
  );
  const log: AccessLogEntry[] = [];
  const proc = spawnTracked("ip", ["netns", "exec", ns, "/usr/bin/docker-registry", "serve", config], {
    name: `docker-registry (${ns})`,
    onLine: (line) => {
      const m = ACCESS_LOG.exec(line);
      if (m) {
        log.push({
          remote: m[1]!,
          method: m[2]!,
          path: m[3]!,
          status: Number(m[4]),
          bytes: m[5] === "-" ? 0 : Number(m[5]),
          userAgent: m[6]!,
        });
      }
    },
  });
  await waitFor(
    async () => {
      if (!proc.isRunning()) throw new Error(proc.output());
      const r = await runIn(namespace(ns), "curl", [
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        `http://${addr}/v2/`,
      ]);
      return r.stdout === "200";
    },
    { what: `docker-registry on ${addr}`, timeoutMs: 15_000, intervalMs: 100 },
  );
  const blobGets = (digest?: string): AccessLogEntry[] =>
    log.filter((e) => {
      if (e.method !== "GET") return false;
      const d = BLOB_PATH.exec(e.path)?.[1];
      return d !== undefined && (digest === undefined || d === digest);
    });
  return {
    proc,
    log,
    blobGets,
    blobBytes: (digest) =>
      blobGets(digest)
        .filter((e) => e.status >= 200 && e.status < 300)
        .reduce((sum, e) => sum + e.bytes, 0),
  };
}

/** Spans the OTLP receiver wrote (one JSON line each); an unfinished last line is skipped. */
async function readSpans(file: string): Promise<ReceivedSpan[]> {
  const text = await readFile(file, "utf8").catch(() => "");
  const spans: ReceivedSpan[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      spans.push(JSON.parse(line) as ReceivedSpan);
    } catch {
      // being written
    }
  }
  return spans;
}

/** The rendered workload's container named `container`. */
// biome-ignore lint/suspicious/noExplicitAny: a rendered Kubernetes container.
function renderedContainer(objects: RenderedObject[], kind: string, name: string, container: string): any {
  const o = objects.find((x) => x.object.kind === kind && x.object.metadata?.name === name);
  assert.ok(o, `${kind} ${name} is rendered`);
  // biome-ignore lint/suspicious/noExplicitAny: see above.
  const c = (o.object.spec.template.spec.containers as any[]).find((x) => x.name === container);
  assert.ok(c, `${kind} ${name} has a container ${container}`);
  return c;
}

describe("helm chart end to end: the issue's values on two nodes (kubelet-lite, netns, hostPort, real containerd)", function () {
  this.timeout(240_000);

  let work: string | undefined;
  let network: BridgeNetwork | undefined;
  let registry: NamespacedRegistry | undefined;
  let kubelet: KubeletLite | undefined;
  let rendered: RenderedObject[] = [];
  let jaeger: TrackedProcess | undefined;
  let prometheus: TrackedProcess | undefined;
  /** The scrape jobs derived from the rendered ServiceMonitors. */
  let scrapes: ScrapeJob[] = [];
  let spansFile = "";
  let pprofPort = 0;
  let prometheusStartedAt = 0;
  const containerds = new Map<Node, TestContainerd>();
  const nodePods = new Map<Node, LitePod>();
  const controlPlanePods: Record<"manager" | "scheduler" | "seed", LitePod | undefined> = {
    manager: undefined,
    scheduler: undefined,
    seed: undefined,
  };
  let imageA: BuiltImage;
  let imageB: BuiltImage;
  const timings: Record<string, number | string> = {};

  /** curl inside a namespace; fails on a non-zero exit. */
  async function curlIn(ns: string, args: string[], timeoutSeconds = 10): Promise<string> {
    const r = await runIn(namespace(ns), "curl", ["-s", "-m", String(timeoutSeconds), ...args], 15_000);
    assert.equal(r.code, 0, `curl ${args.join(" ")} in ${ns}: exit ${r.code} ${r.stderr}`);
    return r.stdout;
  }

  /** A daemon pod's /metrics, scraped from its node's namespace at the pod IP. */
  async function daemonMetrics(node: Node): Promise<string> {
    return curlIn(NS[node], [`http://${DAEMON_IP[node]}:4002/metrics`]);
  }

  /** `helm test`: the chart's test hook Pod, run to completion in its own namespace on the bridge. */
  async function helmTest(): Promise<TestHookRun> {
    const hooks = kubelet!.testHooks();
    assert.deepEqual(hooks, [`${RELEASE}-test-status`]);
    return kubelet!.runTestHook(
      hooks[0]!,
      { nodeName: "control-plane", netns: NS.test, podIp: IP.test, nodeRoot: join(work!, "nodes", "control-plane") },
      30_000,
    );
  }

  function downloadBytes(text: string, source?: string): number {
    return sampleSum(text, "d7y_daemon_download_bytes_total", source ? { source } : {}) ?? 0;
  }

  function mirrorBlobRequests(text: string): number {
    return sampleSum(text, "d7y_daemon_mirror_requests_total", { kind: "blob" }) ?? 0;
  }

  /** Connections DNATed from 127.0.0.1:<hostPort> in the node's namespace (nat OUTPUT). */
  async function loopbackDnats(node: Node): Promise<number> {
    const rows = await dnatCounters(NS[node], "OUTPUT");
    return rows.filter((r) => r.dst === "127.0.0.1").reduce((s, r) => s + r.packets, 0);
  }

  const managerUrl = `http://${RELEASE}-manager.${K8S_NS}.svc:8080`;

  /** An instant PromQL query against the test's Prometheus, from inside its namespace. */
  async function promQuery(promql: string): Promise<VectorSample[]> {
    const body = JSON.parse(
      await curlIn(NS.prometheus, [
        "-f",
        "-G",
        "--data-urlencode",
        `query=${promql}`,
        `${PROMETHEUS_API}/api/v1/query`,
      ]),
    ) as { status: string; error?: string; data?: { resultType: string; result: VectorSample[] } };
    assert.equal(body.status, "success", `${promql}: ${body.error ?? ""}`);
    assert.equal(body.data?.resultType, "vector");
    return body.data!.result;
  }

  /** The single value of a query, or undefined when the vector is empty. */
  async function promScalar(promql: string): Promise<number | undefined> {
    const result = await promQuery(promql);
    assert.ok(result.length <= 1, `${promql} returned ${result.length} series`);
    return result[0] === undefined ? undefined : Number(result[0].value[1]);
  }

  before(async () => {
    if (process.getuid?.() !== 0)
      throw new Error("the chart end-to-end test needs root (network namespaces, iptables)");
    for (const tool of ["ip", "iptables", "setpriv", "curl", "containerd", "docker-registry"]) {
      const r = await run("sh", ["-c", `command -v ${tool}`], { timeoutMs: 5000 });
      if (r.code !== 0) throw new Error(`${tool} is required`);
    }
    if (!existsSync(PROMETHEUS)) {
      throw new Error(
        `${PROMETHEUS} is missing: install the Debian package "prometheus" (scripts/ensure-system-packages.mjs)`,
      );
    }
    const t0 = Date.now();
    work = await mkdtemp(join(tmpdir(), "d7y-helm-e2e-"));
    // uid 1000 walks through it to the image tree, config maps and volumes.
    await chmod(work, 0o755);
    spansFile = join(work, "jaeger-spans.ndjson");

    // The image's file tree, as the Dockerfile assembles it.
    const { assemble } = (await import(pathToFileURL(join(REPO, "scripts/assemble-image.mjs")).href)) as {
      assemble(dir: string, opts: { nodeModules: "copy" | "link" | "hardlink" }): Record<string, string>;
    };
    const imageRoot = join(work, "image");
    const relBins = assemble(imageRoot, { nodeModules: "hardlink" });
    await chmod(imageRoot, 0o755);
    const bins: Record<string, string> = {};
    for (const [name, rel] of Object.entries(relBins)) bins[name] = join(imageRoot, rel);
    for (const bin of ["d7y-daemon", "d7y-scheduler", "d7y-manager"]) assert.ok(bins[bin], `image tree has ${bin}`);

    // Two images, pushed to a loopback registry whose storage the namespaced registry then serves.
    imageA = await buildImage({
      layers: [
        { size: 3 * MiB, seed: "helm-e2e-a0" },
        { size: 1 * MiB, seed: "helm-e2e-a1" },
      ],
    });
    imageB = await buildImage({
      layers: [
        { size: 2 * MiB, seed: "helm-e2e-b0" },
        { size: 1 * MiB + 12345, seed: "helm-e2e-b1" },
      ],
    });
    const loader = await startRegistry();
    const storage = join(work, "registry-data");
    try {
      await pushImage(loader.url, "d7y/app", "v1", imageA);
      await pushImage(loader.url, "d7y/preheated", "v1", imageB);
      await cp(loader.storageDir, storage, { recursive: true });
    } finally {
      await loader.stop();
    }
    timings.prepareMs = Date.now() - t0;

    // Network: a bridge namespace; one namespace per pod, per node and for the registry.
    network = await createBridgeNetwork({
      subnet: SUBNET,
      bridgeNs: NS.bridge,
      hosts: [
        { ns: NS.manager, ip: IP.manager },
        { ns: NS.scheduler, ip: IP.scheduler },
        { ns: NS.seed, ip: IP.seed },
        { ns: NS.jaeger, ip: IP.jaeger },
        { ns: NS.node1, ip: IP.node1 },
        { ns: NS.node2, ip: IP.node2 },
        { ns: DAEMON_NS.node1, ip: DAEMON_IP.node1 },
        { ns: DAEMON_NS.node2, ip: DAEMON_IP.node2 },
        { ns: NS.registry, ip: IP.registry },
        { ns: NS.prometheus, ip: IP.prometheus },
        { ns: NS.test, ip: IP.test },
      ],
    });
    registry = await startRegistryInNamespace(NS.registry, `${REGISTRY_HOST}`, storage, work);

    // The issue's values file unchanged, then only what this environment forces.
    rendered = (
      await renderChart({
        chartDir: D7Y_CHART_DIR,
        release: RELEASE,
        namespace: K8S_NS,
        valuesFiles: [ISSUE_VALUES],
        // As on a cluster with the Prometheus operator: the chart's ServiceMonitors (enable: auto) render.
        apiVersions: ["monitoring.coreos.com/v1/ServiceMonitor"],
        values: {
          // ghcr.io is unreachable here: the namespaced registry takes its place.
          containerRuntime: { containerd: { registries: [REGISTRY_URL] } },
          // Seconds instead of the defaults' tens of seconds.
          manager: { config: { keepAliveTimeoutMs: 10_000 } },
          scheduler: { config: { keepAliveIntervalMs: 1000, configRefreshMs: 2000 } },
          seedPeer: { config: DAEMON_CONFIG },
          dfdaemon: { config: DAEMON_CONFIG },
        },
      })
    ).objects;
    kubelet = new KubeletLite({ objects: rendered, bins, workDir: work, namespace: K8S_NS });

    // The Jaeger pod: its image does not run here. An OTLP/HTTP receiver stands in for its collector, at the
    // rendered otlp-http container port, in a namespace the jaeger Service's name resolves to.
    const jaegerContainer = renderedContainer(rendered, "Deployment", `${RELEASE}-jaeger`, "jaeger");
    const otlpPort = Number(
      // biome-ignore lint/suspicious/noExplicitAny: a rendered container port.
      (jaegerContainer.ports as any[]).find((p) => p.name === "otlp-http")?.containerPort,
    );
    assert.equal(otlpPort, 4318);
    kubelet.addStandIn("Deployment", `${RELEASE}-jaeger`, IP.jaeger);
    jaeger = spawnTracked(
      "ip",
      [
        "netns",
        "exec",
        NS.jaeger,
        process.execPath,
        OTLP_RECEIVER_MAIN,
        "--host",
        "0.0.0.0",
        "--port",
        String(otlpPort),
        "--out",
        spansFile,
      ],
      { name: "otlp-receiver (jaeger stand-in)" },
    );
    await waitFor(
      () => {
        if (!jaeger!.isRunning()) throw new Error(jaeger!.output());
        return jaeger!.output().includes("listening ");
      },
      { what: "the OTLP receiver standing in for jaeger", timeoutMs: 15_000, intervalMs: 50 },
    );

    const controlPlane = join(work, "nodes", "control-plane");
    const place = (p: Omit<PodPlacement, "nodeRoot"> & { nodeRoot?: string }): PodPlacement => ({
      nodeRoot: controlPlane,
      ...p,
    });
    const manager = await kubelet.createPod(
      place({
        kind: "Deployment",
        workload: `${RELEASE}-manager`,
        podName: `${RELEASE}-manager-lite-0`,
        nodeName: "control-plane",
        netns: NS.manager,
        podIp: IP.manager,
      }),
    );
    const scheduler = await kubelet.createPod(
      place({
        kind: "Deployment",
        workload: `${RELEASE}-scheduler`,
        podName: `${RELEASE}-scheduler-lite-0`,
        nodeName: "control-plane",
        netns: NS.scheduler,
        podIp: IP.scheduler,
      }),
    );
    const seed = await kubelet.createPod(
      place({
        kind: "StatefulSet",
        workload: `${RELEASE}-seed-peer`,
        podName: `${RELEASE}-seed-peer-0`,
        nodeName: "control-plane",
        netns: NS.seed,
        podIp: IP.seed,
      }),
    );
    Object.assign(controlPlanePods, { manager, scheduler, seed });
    for (const node of NODES) {
      const pod = await kubelet.createPod({
        kind: "DaemonSet",
        workload: `${RELEASE}-dfdaemon`,
        podName: `${RELEASE}-dfdaemon-${node}`,
        nodeName: node,
        netns: DAEMON_NS[node],
        podIp: DAEMON_IP[node],
        hostIp: IP[node],
        nodeRoot: join(work, "nodes", node),
      });
      nodePods.set(node, pod);
      // What the CNI portmap plugin does on the node for the pod's hostPorts.
      await installHostPorts({ nodeNs: NS[node], nodeIp: IP[node], podIp: DAEMON_IP[node], ports: pod.hostPorts });
    }
    // Cluster DNS: every namespace resolves the chart's Service names to the pods behind them.
    const entries = kubelet.hostsEntries();
    for (const ns of [...Object.values(NS), ...Object.values(DAEMON_NS)]) {
      if (ns !== NS.bridge) await writeNetnsHosts(ns, entries);
    }

    // Prometheus, as the operator would configure it from the rendered ServiceMonitors: the targets are the
    // pods the selected Services select, at the container port the endpoint's port name resolves to. Started
    // as soon as the pods (and so the targets) exist, before their containers: Prometheus's discovery sends
    // its first target set about 5 s after start, so its first scrapes are done by the time the story has played.
    scrapes = scrapeJobs(
      rendered.map((o) => o.object),
      kubelet.pods.map((p) => ({
        name: p.placement.podName,
        namespace: K8S_NS,
        ip: p.placement.podIp,
        labels: p.labels,
        containers: kubelet!.find(p.placement.kind, p.placement.workload).spec.template.spec.containers,
      })),
    );
    const promConfig = join(work, "prometheus.yml");
    await writeFile(promConfig, prometheusConfig(scrapes, { interval: SCRAPE_INTERVAL }));
    prometheus = spawnTracked(
      "ip",
      [
        "netns",
        "exec",
        NS.prometheus,
        PROMETHEUS,
        `--config.file=${promConfig}`,
        `--storage.tsdb.path=${join(work, "prometheus-tsdb")}`,
        `--web.listen-address=${PROMETHEUS_API.replace("http://", "")}`,
        "--log.level=warn",
      ],
      { name: "prometheus" },
    );
    prometheusStartedAt = Date.now();

    const t1 = Date.now();
    manager.startContainers();
    timings.managerReadyMs = await manager.waitReady(60_000);
    scheduler.startContainers();
    seed.startContainers();
    await Promise.all([scheduler.waitReady(60_000), seed.waitReady(60_000)]);

    // Each node: the DaemonSet pod's init containers, then containerd in the node's namespace (started with
    // the config file the containerd-config init container edited, standing for the restart it asks for),
    // then the daemon in the pod's namespace.
    await Promise.all(
      NODES.map(async (node) => {
        const pod = nodePods.get(node)!;
        const nodeConfigDir = pod.volumes.get("containerd-config")!;
        const containerd = await startContainerd({
          cri: true,
          snapshotter: "native",
          netns: NS[node],
          namespace: "k8s.io",
          beforeStart: async (configFile) => {
            const nodeConfig = join(nodeConfigDir, "config.toml");
            await cp(configFile, nodeConfig);
            await pod.runInitContainers();
            // containerd reads the node's file, as edited.
            await rm(configFile);
            await symlink(nodeConfig, configFile);
          },
        });
        containerds.set(node, containerd);
        pod.startContainers();
        await pod.waitReady(60_000);
      }),
    );
    timings.podsReadyMs = Date.now() - t1;
  });

  after(async () => {
    const problems: string[] = [];
    if (process.env.D7Y_HELM_E2E_LOGS && kubelet) {
      for (const pod of kubelet.pods) console.log(pod.output());
      for (const e of registry?.log ?? []) console.log(JSON.stringify(e));
    }
    await kubelet?.stopAll();
    for (const c of containerds.values()) await c.stop().catch((e: Error) => problems.push(e.message));
    await jaeger?.stop("SIGTERM", 5000);
    await prometheus?.stop("SIGTERM", 10_000);
    await registry?.proc.stop("SIGTERM", 5000);
    // The namespaces take the hostPort rules and the route_localnet setting with them.
    await network?.teardown();
    if (work)
      await rm(work, { recursive: true, force: true, maxRetries: 3 }).catch((e: Error) => problems.push(e.message));
    if (Object.keys(timings).length > 0) console.log(`      helm-e2e timings: ${JSON.stringify(timings)}`);
    if (problems.length > 0) console.log(`      teardown problems: ${problems.join("; ")}`);
  });

  it("renders the issue's values: no hostNetwork, the mirror's hostPort, tracing to the jaeger Service, pprof and verbose", () => {
    const tracing = `--tracing-endpoint=http://${RELEASE}-jaeger.${K8S_NS}.svc:4318/v1/traces`;
    const daemonSet = rendered.find((o) => o.object.kind === "DaemonSet")!.object;
    assert.notEqual(daemonSet.spec.template.spec.hostNetwork, true, "dfdaemon.hostNetwork stays false");
    const dfdaemon = renderedContainer(rendered, "DaemonSet", `${RELEASE}-dfdaemon`, "dfdaemon");
    assert.deepEqual(nodePods.get("node1")!.hostPorts, [
      { container: "dfdaemon", name: "proxy", containerPort: 4001, hostPort: 4001, protocol: "TCP" },
    ]);
    for (const [kind, name, container] of [
      ["Deployment", `${RELEASE}-manager`, "manager"],
      ["Deployment", `${RELEASE}-scheduler`, "scheduler"],
      ["StatefulSet", `${RELEASE}-seed-peer`, "seed-peer"],
      ["DaemonSet", `${RELEASE}-dfdaemon`, "dfdaemon"],
    ] as const) {
      const c = name.endsWith("dfdaemon") ? dfdaemon : renderedContainer(rendered, kind, name, container);
      assert.ok((c.args as string[]).includes(tracing), `${name} is rendered with ${tracing}`);
      // biome-ignore lint/suspicious/noExplicitAny: a rendered container port.
      const pprof = (c.ports as any[]).find((p) => p.name === "pprof");
      assert.equal(pprof?.containerPort, 18066, `${name} declares the pprof port`);
    }
    pprofPort = 18066;
    for (const cm of rendered.filter((o) => o.object.kind === "ConfigMap" && !o.source.includes("grafana"))) {
      const text = Object.values(cm.object.data as Record<string, string>).join("\n");
      assert.match(text, /^verbose: true$/m, `${cm.object.metadata.name} sets verbose`);
      assert.match(text, /^pprofPort: 18066$/m, `${cm.object.metadata.name} sets pprofPort`);
    }
  });

  it("init containers did their job: the data dir belongs to 1000, containerd's config points at the hosts.toml they wrote", async () => {
    for (const node of NODES) {
      const pod = nodePods.get(node)!;
      assert.deepEqual(
        pod.initResults.map((r) => [r.name, r.code]),
        [
          ["init-data-dir", 0],
          ["containerd-config", 0],
        ],
      );
      const data = await lstat(pod.volumes.get("data")!);
      assert.equal(data.uid, 1000, "init-data-dir chowned the hostPath dir to 1000");
      assert.equal(data.mode & 0o777, 0o750);
      const configDir = pod.volumes.get("containerd-config")!;
      const config = await readFile(join(configDir, "config.toml"), "utf8");
      assert.ok(config.includes(`config_path = ${JSON.stringify(join(configDir, "certs.d"))}`), config);
      const hosts = await readFile(join(configDir, "certs.d", REGISTRY_HOST, "hosts.toml"), "utf8");
      assert.match(hosts, /server = "http:\/\/10\.81\.0\.20:5000"/);
      assert.match(hosts, /\[host\."http:\/\/127\.0\.0\.1:4001"\]/);
      // The daemon really runs as 1000.
      const pid = pod.processes.get("dfdaemon")!.pid;
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      assert.match(status, /^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
      assert.match(status, /^CapBnd:\s+0+$/m, "capabilities dropped");
    }
    // Every long-running container runs as the chart's non-root user.
    for (const pod of kubelet!.pods) {
      for (const [name, proc] of pod.processes) {
        const status = await readFile(`/proc/${proc.pid}/status`, "utf8");
        assert.match(status, /^Uid:\s+1000\s+1000\s+1000\s+1000$/m, `${pod.placement.podName}/${name}`);
        assert.match(status, /^Gid:\s+1000\s+1000\s+1000\s+1000$/m, `${pod.placement.podName}/${name}`);
      }
    }
  });

  it("hostPort: the node's 127.0.0.1:4001 and <node IP>:4001 reach the daemon pod (DNAT), nothing listens on the node", async () => {
    for (const node of NODES) {
      // The mirror listens in the pod's namespace, not in the node's.
      const nodeListen = await runIn(namespace(NS[node]), "ss", ["-Hltn", "sport = :4001"]);
      assert.equal(nodeListen.code, 0, nodeListen.stderr);
      assert.equal(nodeListen.stdout.trim(), "", `nothing listens on :4001 in ${node}'s namespace`);
      const podListen = await runIn(namespace(DAEMON_NS[node]), "ss", ["-Hltn", "sport = :4001"]);
      assert.match(podListen.stdout, /0\.0\.0\.0:4001/);
      for (const addr of ["127.0.0.1", IP[node]]) {
        const code = await curlIn(NS[node], ["-o", "/dev/null", "-w", "%{http_code}", `http://${addr}:4001/healthy`]);
        assert.equal(code, "200", `${node}: http://${addr}:4001/healthy through the hostPort`);
      }
      const rows = await dnatCounters(NS[node], "OUTPUT");
      for (const addr of ["127.0.0.1", IP[node]]) {
        const row = rows.find((r) => r.dst === addr && r.dport === 4001);
        assert.equal(row?.to, `${DAEMON_IP[node]}:4001`);
        assert.ok(row.packets >= 1, `${node}: the ${addr}:4001 DNAT rule matched`);
      }
    }
  });

  it("manager lists the scheduler and the seed peer as active", async () => {
    const both = await waitFor(
      async () => {
        const schedulers = JSON.parse(await curlIn(NS.node1, [`${managerUrl}/api/v1/schedulers`])) as Array<{
          state: string;
          ip: string;
        }>;
        const seeds = JSON.parse(await curlIn(NS.node1, [`${managerUrl}/api/v1/seed-peers`])) as Array<{
          state: string;
          ip: string;
        }>;
        const s = schedulers.filter((x) => x.state === "active");
        const p = seeds.filter((x) => x.state === "active");
        return s.length === 1 && p.length === 1 ? { s, p } : undefined;
      },
      { what: "the scheduler and the seed peer to be active at the manager", timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.equal(both.s[0]!.ip, IP.scheduler);
    assert.equal(both.p[0]!.ip, IP.seed);
  });

  it("node1 pulls image A through its containerd (CRI) and the hostPort: the registry serves each blob once", async () => {
    const ref = `${REGISTRY_HOST}/d7y/app:v1`;
    const beforeMetrics = await daemonMetrics("node1");
    const before = downloadBytes(beforeMetrics);
    const mirroredBefore = mirrorBlobRequests(beforeMetrics);
    const dnatBefore = await loopbackDnats("node1");
    const t = Date.now();
    const imageRef = await criPullImage(containerds.get("node1")!.socket, ref);
    timings.node1PullMs = Date.now() - t;
    assert.match(imageRef, /^sha256:[0-9a-f]{64}$/);
    const blobs = imageA.blobs;
    for (const blob of blobs) {
      assert.equal(registry!.blobGets(blob.digest).length, 1, `one GET of ${blob.digest}`);
      assert.equal(registry!.blobBytes(blob.digest), blob.size);
    }
    // The scheduler sent the seed peer to the registry first; node1's containerd (which could reach the
    // registry on the bridge) went through the mirror: no GET came from node1's or its pod's address.
    assert.deepEqual([...new Set(registry!.blobGets().map((e) => e.remote))], [IP.seed]);
    const layerBytes = imageA.layersFor(AMD64).reduce((s, l) => s + l.size, 0);
    const metrics = await daemonMetrics("node1");
    // containerd dialled 127.0.0.1:4001 (hosts.toml): the DNAT rule counted its connections, and the
    // daemon pod's mirror served the blobs.
    const dnat = (await loopbackDnats("node1")) - dnatBefore;
    timings.node1LoopbackDnats = dnat;
    assert.ok(dnat >= 1, `containerd's connections to 127.0.0.1:4001 were DNATed (${dnat})`);
    const mirrored = mirrorBlobRequests(metrics) - mirroredBefore;
    timings.node1MirrorBlobRequests = mirrored;
    assert.ok(mirrored >= blobs.length, `node1's daemon pod served ${mirrored} blob requests`);
    const delivered = downloadBytes(metrics) - before;
    timings.node1Bytes = delivered;
    assert.ok(delivered >= layerBytes, `node1 delivered ${delivered} bytes, layers are ${layerBytes}`);
  });

  it("node2 pulls image A: no blob GET at the registry, the bytes come from peers", async () => {
    const gets = registry!.blobGets().length;
    const before = await daemonMetrics("node2");
    const dnatBefore = await loopbackDnats("node2");
    const t = Date.now();
    await criPullImage(containerds.get("node2")!.socket, `${REGISTRY_HOST}/d7y/app:v1`);
    timings.node2PullMs = Date.now() - t;
    assert.equal(registry!.blobGets().length - gets, 0, "no new blob GET");
    const after = await daemonMetrics("node2");
    assert.ok((await loopbackDnats("node2")) > dnatBefore, "node2's containerd went through the hostPort");
    const peer = downloadBytes(after, "peer") - downloadBytes(before, "peer");
    timings.node2PeerBytes = peer;
    const layerBytes = imageA.layersFor(AMD64).reduce((s, l) => s + l.size, 0);
    assert.ok(peer >= layerBytes, `node2 peer bytes ${peer} >= layer bytes ${layerBytes}`);
    assert.equal(downloadBytes(after, "origin") - downloadBytes(before, "origin"), 0);
  });

  it("node2's pull is traced across pods: OTLP spans reach the jaeger Service (stand-in collector)", async () => {
    const node2Pid = String(nodePods.get("node2")!.processes.get("dfdaemon")!.pid);
    const digests = imageA.layersFor(AMD64).map((l) => l.digest);
    const t = Date.now();
    // The exporters send in batches (BatchSpanProcessor, scheduledDelayMillis 1000 in
    // common/observability): poll the receiver's file with a deadline, not relying on teardown's flush.
    const found = await waitFor(
      async () => {
        const spans = await readSpans(spansFile);
        const roots = spans.filter(
          (s) =>
            s.service === "d7y-daemon" &&
            s.instance === node2Pid &&
            s.name === "mirror GET" &&
            s.attributes["d7y.source"] === "peer" &&
            digests.some((d) => String(s.attributes["http.url"] ?? "").includes(d)),
        );
        for (const root of roots) {
          const trace = spans.filter((s) => s.traceId === root.traceId);
          const schedule = trace.find((s) => s.service === "d7y-scheduler" && s.name === "schedule registerPeer");
          const upload = trace.find(
            (s) => s.service === "d7y-daemon" && s.instance !== node2Pid && s.name === "upload piece",
          );
          if (schedule && upload) return { root, trace, schedule, upload, total: spans.length };
        }
        return undefined;
      },
      {
        what: "node2's mirror GET span with the scheduler's and a parent's spans in its trace",
        timeoutMs: 20_000,
        intervalMs: 250,
      },
    );
    timings.traceWaitMs = Date.now() - t;
    timings.spansReceived = found.total;
    timings.traceSpans = found.trace.length;
    assert.equal(found.root.attributes["http.method"], "GET");
    assert.equal(found.root.attributes["http.status_code"], 200);
    // The parent that uploaded is another pod: node1's daemon or the seed peer.
    const parents = new Map(
      [nodePods.get("node1")!, controlPlanePods.seed!].map((p) => [
        String(p.processes.get(p === controlPlanePods.seed ? "seed-peer" : "dfdaemon")!.pid),
        p.placement.podName,
      ]),
    );
    assert.ok(parents.has(found.upload.instance), `upload piece from ${found.upload.instance}`);
    timings.traceParent = parents.get(found.upload.instance)!;
    // Every component exported something to the collector's Service name.
    const services = new Set((await readSpans(spansFile)).map((s) => s.service));
    for (const s of ["d7y-daemon", "d7y-scheduler"]) assert.ok(services.has(s), `spans from ${s}`);
  });

  it("a preheat through the manager's REST API reaches SUCCESS; node2 then pulls image B with no blob GET", async () => {
    const url = `${REGISTRY_URL}/v2/d7y/preheated/manifests/v1`;
    const created = JSON.parse(
      await curlIn(NS.node1, [
        "-X",
        "POST",
        `${managerUrl}/api/v1/jobs`,
        "-H",
        "Content-Type: application/json",
        "-d",
        JSON.stringify({ type: "preheat", args: { type: "image", url } }),
      ]),
    ) as Job;
    assert.equal(created.type, "preheat");
    const t = Date.now();
    const job = await waitFor(
      async () => {
        const j = JSON.parse(await curlIn(NS.node1, [`${managerUrl}/api/v1/jobs/${created.id}`])) as Job;
        return j.state === "SUCCESS" || j.state === "FAILURE" ? j : undefined;
      },
      { what: `preheat job ${created.id} to finish`, timeoutMs: 60_000, intervalMs: 500 },
    );
    timings.preheatMs = Date.now() - t;
    assert.equal(job.state, "SUCCESS", JSON.stringify(job.result));
    for (const layer of imageB.layersFor(AMD64)) {
      const gets = registry!.blobGets(layer.digest);
      assert.deepEqual(
        gets.map((e) => e.remote),
        [IP.seed],
        `the seed peer fetched ${layer.digest} once`,
      );
    }
    const gets = registry!.blobGets().length;
    const before = await daemonMetrics("node2");
    await criPullImage(containerds.get("node2")!.socket, `${REGISTRY_HOST}/d7y/preheated:v1`);
    const after = await daemonMetrics("node2");
    const newGets = registry!.blobGets().slice(gets);
    timings.preheatedPullNewBlobGets = newGets.length;
    assert.equal(newGets.length, 0, `blob GETs after the preheat: ${newGets.map((e) => e.path).join(", ")}`);
    const peer = downloadBytes(after, "peer") - downloadBytes(before, "peer");
    timings.preheatedPullPeerBytes = peer;
    assert.ok(peer >= imageB.layersFor(AMD64).reduce((s, l) => s + l.size, 0));
  });

  it("pprof: the scheduler and a daemon pod serve a V8 CPU profile on their loopback only", async () => {
    assert.equal(pprofPort, 18066);
    const t = Date.now();
    const targets: Array<[string, string]> = [
      ["scheduler", NS.scheduler],
      ["dfdaemon node1", DAEMON_NS.node1],
    ];
    await Promise.all(
      targets.map(async ([what, ns]) => {
        const r = await runIn(
          namespace(ns),
          "curl",
          ["-sf", "-m", "15", `http://127.0.0.1:${pprofPort}/debug/pprof/profile?seconds=1`],
          20_000,
        );
        assert.equal(r.code, 0, `${what}: curl exit ${r.code} ${r.stderr}`);
        const profile = JSON.parse(r.stdout) as { nodes?: unknown[]; startTime?: number; endTime?: number };
        assert.ok(Array.isArray(profile.nodes) && profile.nodes.length > 0, `${what}: a CPU profile with nodes`);
        assert.ok(typeof profile.startTime === "number" && typeof profile.endTime === "number");
      }),
    );
    timings.pprofMs = Date.now() - t;
    // pprofHost defaults to 127.0.0.1: the pod IP does not serve it.
    const r = await runIn(namespace(NS.node1), "curl", [
      "-s",
      "-m",
      "3",
      "-o",
      "/dev/null",
      `http://${IP.scheduler}:${pprofPort}/debug/pprof/`,
    ]);
    assert.equal(r.code, 7, "connection refused on the scheduler's pod IP");
  });

  it("verbose: every component logs at debug level", () => {
    const counts: Record<string, number> = {};
    for (const pod of kubelet!.pods) {
      for (const [name, proc] of pod.processes) {
        const lines = proc.output().split("\n");
        const debug = lines.filter((l) => l.includes('"level":20')).length;
        counts[`${pod.placement.podName}/${name}`] = debug;
        assert.ok(debug > 0, `${pod.placement.podName}/${name} logged debug lines`);
      }
    }
    timings.debugLines = JSON.stringify(counts);
  });

  it("helm test: the chart's test hook (kubectl d7y status in a pod) passes", async () => {
    // Not started with the workloads: kubelet-lite ran no bare Pod.
    assert.ok(!kubelet!.pods.some((p) => p.placement.kind === "Pod"));
    const hook = await helmTest();
    timings.helmTestMs = hook.durationMs;
    timings.helmTestOutput = hook.output;
    const spec = hook.pod.specs.get("status")!;
    assert.deepEqual(spec.containerArgv, ["kubectl-d7y", "status", `--manager=${managerUrl}`]);
    assert.equal(spec.uid, 1000);
    assert.equal(spec.env.HOME, hook.pod.volumes.get("tmp"), "HOME=/tmp is the pod's emptyDir");
    assert.equal(hook.timedOut, false);
    assert.equal(hook.code, 0, hook.output);
    assert.match(hook.output, /^\s*manager\s+healthy\s+http:\/\/d7y-manager\.d7y\.svc:8080\s*$/m);
    assert.match(hook.output, /^\s*schedulers\s+1 active\s+1 registered\s*$/m);
    assert.match(hook.output, /^\s*seed peers\s+1 active\s+1 registered\s*$/m);
  });

  it("Prometheus scrapes the targets the rendered ServiceMonitors select: all up, and PromQL answers the P2P question", async () => {
    // The operator's part, done by the test: the 4 ServiceMonitors, each to its component's pods.
    const monitors = rendered.filter((o) => o.object.kind === "ServiceMonitor").map((o) => o.object);
    assert.deepEqual(monitors.map((m) => m.metadata.name).sort(), [
      `${RELEASE}-dfdaemon`,
      `${RELEASE}-manager`,
      `${RELEASE}-scheduler`,
      `${RELEASE}-seed-peer`,
    ]);
    for (const job of scrapes) assert.equal(job.interval, "30s", `${job.name}: the rendered interval`);
    const pod = (p: LitePod): string => p.placement.podName;
    const expectedTargets: Record<string, string[]> = {
      [`${RELEASE}-manager`]: [`${IP.manager}:8000 ${pod(controlPlanePods.manager!)}`],
      [`${RELEASE}-scheduler`]: [`${IP.scheduler}:8000 ${pod(controlPlanePods.scheduler!)}`],
      [`${RELEASE}-seed-peer`]: [`${IP.seed}:4002 ${pod(controlPlanePods.seed!)}`],
      [`${RELEASE}-dfdaemon`]: NODES.map((n) => `${DAEMON_IP[n]}:4002 ${pod(nodePods.get(n)!)}`),
    };
    assert.deepEqual(
      Object.fromEntries(scrapes.map((j) => [j.name, j.targets.map((t) => `${t.address} ${t.labels.pod}`).sort()])),
      expectedTargets,
    );
    for (const job of scrapes) {
      assert.equal(job.path, "/metrics");
      for (const t of job.targets) {
        assert.equal(t.labels.service, job.name, "the chart names each ServiceMonitor after its Service");
        assert.equal(t.labels.namespace, K8S_NS);
      }
    }

    // What the daemons say now (the story is over: their counters no longer move).
    const direct = {
      node1: await daemonMetrics("node1"),
      node2: await daemonMetrics("node2"),
      seed: await curlIn(NS.node1, [`http://${IP.seed}:4002/metrics`]),
    };
    const blobBytes = (image: BuiltImage): number => image.blobsFor(AMD64).reduce((s, b) => s + b.size, 0);
    const imageBytes = blobBytes(imageA) + blobBytes(imageB);

    const t = Date.now();
    const sinceStart = t - prometheusStartedAt;
    // Each target is scraped at its own offset in the interval: wait until every answer is the daemons' own.
    const answers = await waitFor(
      async () => {
        if (!prometheus!.isRunning()) throw new Error(`prometheus exited: ${prometheus!.output().slice(-2000)}`);
        const up = await promQuery("up");
        if (up.length !== 5 || up.some((s) => s.value[1] !== "1")) throw new Error(`up: ${JSON.stringify(up)}`);
        const peerByPod = await promQuery('sum by (pod) (d7y_daemon_download_bytes_total{source="peer"})');
        const value = (pod: string): number | undefined => {
          const found = peerByPod.find((s) => s.metric.pod === pod);
          return found === undefined ? undefined : Number(found.value[1]);
        };
        const got = {
          node1Peer: value(`${RELEASE}-dfdaemon-node1`),
          node2Peer: value(`${RELEASE}-dfdaemon-node2`),
          // The dashboard's origin panel, per job: the node daemons', then the seed peer's.
          nodesOrigin: await promScalar(
            `sum(d7y_daemon_download_bytes_total{source="origin", job="${RELEASE}-dfdaemon"})`,
          ),
          seedOrigin: await promScalar(
            `sum(d7y_daemon_download_bytes_total{source="origin", job="${RELEASE}-seed-peer"})`,
          ),
        };
        const want = {
          node1Peer: downloadBytes(direct.node1, "peer"),
          node2Peer: downloadBytes(direct.node2, "peer"),
          nodesOrigin: downloadBytes(direct.node1, "origin") + downloadBytes(direct.node2, "origin"),
          seedOrigin: downloadBytes(direct.seed, "origin"),
        };
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          throw new Error(`Prometheus has ${JSON.stringify(got)}, the daemons say ${JSON.stringify(want)}`);
        }
        return { up, ...got };
      },
      { what: "Prometheus to scrape all 5 targets and store the story's bytes", timeoutMs: 20_000, intervalMs: 200 },
    );
    timings.prometheusWaitMs = Date.now() - t;
    timings.prometheusStartedBeforeQueryMs = sinceStart;

    // up is 1 for every target, under the job named after its ServiceMonitor.
    assert.deepEqual(
      answers.up.map((s) => `${s.metric.job} ${s.metric.instance} ${s.metric.pod} ${s.value[1]}`).sort(),
      Object.entries(expectedTargets)
        .flatMap(([job, targets]) =>
          targets.map((x) => {
            const [instance, podName] = x.split(" ");
            return `${job} ${instance} ${podName} 1`;
          }),
        )
        .sort(),
    );
    timings.promNode2PeerBytes = answers.node2Peer ?? "none";
    timings.promNode1PeerBytes = answers.node1Peer ?? "none";
    timings.promSeedOriginBytes = answers.seedOrigin ?? "none";
    // node2 got both images from peers (image A from node1 or the seed, the preheated image B from the seed):
    // every blob containerd asked for, config and layers.
    assert.equal(answers.node2Peer, imageBytes, `node2's peer bytes ${answers.node2Peer}, images ${imageBytes}`);
    // node1 got image A from the seed peer, which went to the origin: node1's bytes are peer bytes too.
    assert.equal(answers.node1Peer, blobBytes(imageA));
    assert.equal(answers.nodesOrigin, 0, "the node daemons fetched nothing from the origin");
    // The seed peer fetched every blob of both images from the registry, once.
    assert.equal(answers.seedOrigin, registry!.blobBytes(), "what the registry's access log says it served");
    assert.equal(answers.seedOrigin, imageBytes);
  });

  // Last: it stops the scheduler.
  it("helm test fails once the scheduler is gone: the manager marks it inactive, the hook exits non-zero", async () => {
    const t = Date.now();
    await controlPlanePods.scheduler!.stop();
    // The scheduler's keepalive stream ends with its process: the manager marks it inactive at once (the
    // 10 s silence timeout is only for a peer that vanishes without closing its connection).
    await waitFor(
      async () => {
        const schedulers = JSON.parse(await curlIn(NS.node1, [`${managerUrl}/api/v1/schedulers`])) as Array<{
          state: string;
        }>;
        return schedulers.length === 1 && schedulers[0]!.state === "inactive";
      },
      { what: "the manager to list the scheduler as inactive", timeoutMs: 15_000, intervalMs: 200 },
    );
    timings.schedulerInactiveMs = Date.now() - t;
    const hook = await helmTest();
    timings.helmTestFailingMs = hook.durationMs;
    timings.helmTestFailingOutput = hook.output;
    assert.equal(hook.timedOut, false);
    assert.equal(hook.code, 1, hook.output);
    assert.match(hook.output, /^\s*schedulers\s+0 active\s+1 registered\s*$/m);
    assert.match(hook.output, /^error: no active scheduler$/m);
  });
});
