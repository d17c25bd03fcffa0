/**
 * The chart, played end to end on a two-node "cluster" without Kubernetes: helm/d7y is rendered, and
 * kubelet-lite (test/helpers/kubelet-lite.ts) runs every pod's init containers and containers exactly as
 * rendered (command, args, env, volumes, securityContext, readinessProbe), each pod in its own network
 * namespace on one bridge (10.81.0.0/24), the chart's Service names in each namespace's /etc/hosts.
 *
 * Real: d7y-manager, d7y-scheduler, the seed peer and both daemons (the assembled image tree's bins, as
 * uid 1000 through setpriv), the init containers (as root, with the rendered capabilities as the bounding
 * set), containerd 1.6 on each node (CRI PullImage, reading the config.toml and hosts.toml that the
 * containerd-config init container wrote), Debian's docker-registry in its own namespace (counted from its
 * access log), curl against the manager's REST API from inside a namespace.
 * Simulated: containers (no image, no mount namespace: volume mount paths are replaced by directories in
 * the arguments), Service DNS (/etc/hosts to pod IPs, no ClusterIP), the containerd restart the
 * init container asks for (containerd starts after it instead).
 */
import assert from "node:assert/strict";
import { chmod, cp, lstat, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { startContainerd, type TestContainerd } from "../helpers/containerd.js";
import { criPullImage } from "../helpers/cri.js";
import { D7Y_CHART_DIR, renderChart } from "../helpers/helm.js";
import { type BuiltImage, buildImage, pushImage } from "../helpers/image.js";
import { KubeletLite, type LitePod, type PodPlacement } from "../helpers/kubelet-lite.js";
import { sampleSum } from "../helpers/metrics-text.js";
import { type BridgeNetwork, createBridgeNetwork, namespace, runIn, writeNetnsHosts } from "../helpers/netns.js";
import { run, spawnTracked, type TrackedProcess, waitFor } from "../helpers/processes.js";
import { startRegistry } from "../helpers/registry.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const MiB = 1024 * 1024;
const AMD64 = "linux/amd64";
const SUBNET = "10.81.0.0/24";
const NS = {
  bridge: "d7yh-br",
  manager: "d7yh-manager",
  scheduler: "d7yh-sched",
  seed: "d7yh-seed0",
  node1: "d7yh-node1",
  node2: "d7yh-node2",
  registry: "d7yh-registry",
};
const IP = {
  manager: "10.81.0.2",
  scheduler: "10.81.0.3",
  seed: "10.81.0.4",
  node1: "10.81.0.11",
  node2: "10.81.0.12",
  registry: "10.81.0.20",
};
const REGISTRY_HOST = `${IP.registry}:5000`;
const REGISTRY_URL = `http://${REGISTRY_HOST}`;
const RELEASE = "d7y";
const K8S_NS = "d7y";
/** Short intervals so that registration and scheduler discovery take seconds, not 30 s. */
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

describe("helm chart end to end: the rendered pods on two nodes (kubelet-lite, netns, real containerd)", function () {
  this.timeout(240_000);

  let work: string | undefined;
  let network: BridgeNetwork | undefined;
  let registry: NamespacedRegistry | undefined;
  let kubelet: KubeletLite | undefined;
  const containerds = new Map<string, TestContainerd>();
  const nodePods = new Map<string, LitePod>();
  let imageA: BuiltImage;
  let imageB: BuiltImage;
  const timings: Record<string, number> = {};

  /** curl inside a namespace; fails on a non-zero exit. */
  async function curlIn(ns: string, args: string[]): Promise<string> {
    const r = await runIn(namespace(ns), "curl", ["-s", "-m", "10", ...args], 15_000);
    assert.equal(r.code, 0, `curl ${args.join(" ")} in ${ns}: exit ${r.code} ${r.stderr}`);
    return r.stdout;
  }

  /** A daemon's /metrics, fetched inside its node's namespace. */
  async function daemonMetrics(node: "node1" | "node2"): Promise<string> {
    return curlIn(NS[node], [`http://${IP[node]}:4002/metrics`]);
  }

  function downloadBytes(text: string, source?: string): number {
    return sampleSum(text, "d7y_daemon_download_bytes_total", source ? { source } : {}) ?? 0;
  }

  const managerUrl = `http://${RELEASE}-manager.${K8S_NS}.svc:8080`;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    for (const tool of ["ip", "setpriv", "curl", "containerd", "docker-registry"]) {
      const r = await run("sh", ["-c", `command -v ${tool}`], { timeoutMs: 5000 });
      if (r.code !== 0) throw new Error(`${tool} is required`);
    }
    const t0 = Date.now();
    work = await mkdtemp(join(tmpdir(), "d7y-helm-e2e-"));
    // uid 1000 walks through it to the image tree, config maps and volumes.
    await chmod(work, 0o755);

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

    // Network: a bridge namespace and one namespace per pod, plus the registry's.
    network = await createBridgeNetwork({
      subnet: SUBNET,
      bridgeNs: NS.bridge,
      hosts: [
        { ns: NS.manager, ip: IP.manager },
        { ns: NS.scheduler, ip: IP.scheduler },
        { ns: NS.seed, ip: IP.seed },
        { ns: NS.node1, ip: IP.node1 },
        { ns: NS.node2, ip: IP.node2 },
        { ns: NS.registry, ip: IP.registry },
      ],
    });
    registry = await startRegistryInNamespace(NS.registry, `${REGISTRY_HOST}`, storage, work);

    const rendered = await renderChart({
      chartDir: D7Y_CHART_DIR,
      release: RELEASE,
      namespace: K8S_NS,
      values: {
        containerRuntime: { containerd: { registries: [REGISTRY_URL] } },
        manager: { config: { keepAliveTimeoutMs: 10_000 } },
        scheduler: { config: { keepAliveIntervalMs: 1000, configRefreshMs: 2000 } },
        seedPeer: { config: DAEMON_CONFIG },
        // The daemons run in their node's namespace, as with hostNetwork: containerd on the node reaches
        // the mirror at 127.0.0.1:4001, as the chart's hosts.toml says.
        dfdaemon: { hostNetwork: true, config: DAEMON_CONFIG },
      },
    });
    kubelet = new KubeletLite({ objects: rendered.objects, bins, workDir: work, namespace: K8S_NS });
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
    for (const node of ["node1", "node2"] as const) {
      nodePods.set(
        node,
        await kubelet.createPod({
          kind: "DaemonSet",
          workload: `${RELEASE}-dfdaemon`,
          podName: `${RELEASE}-dfdaemon-${node}`,
          nodeName: node,
          netns: NS[node],
          podIp: IP[node],
          hostIp: IP[node],
          nodeRoot: join(work, "nodes", node),
        }),
      );
    }
    // Cluster DNS: every namespace resolves the chart's Service names to the pods behind them.
    const entries = kubelet.hostsEntries();
    for (const ns of Object.values(NS)) if (ns !== NS.bridge) await writeNetnsHosts(ns, entries);

    const t1 = Date.now();
    manager.startContainers();
    timings.managerReadyMs = await manager.waitReady(60_000);
    scheduler.startContainers();
    seed.startContainers();
    await Promise.all([scheduler.waitReady(60_000), seed.waitReady(60_000)]);

    // Each node: the DaemonSet pod's init containers, then containerd (started with the config file the
    // containerd-config init container edited, standing for the restart it asks for), then the daemon.
    await Promise.all(
      (["node1", "node2"] as const).map(async (node) => {
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
    await registry?.proc.stop("SIGTERM", 5000);
    await network?.teardown();
    if (work)
      await rm(work, { recursive: true, force: true, maxRetries: 3 }).catch((e: Error) => problems.push(e.message));
    if (Object.keys(timings).length > 0) console.log(`      helm-e2e timings: ${JSON.stringify(timings)}`);
    if (problems.length > 0) console.log(`      teardown problems: ${problems.join("; ")}`);
  });

  it("init containers did their job: the data dir belongs to 1000, containerd's config points at the hosts.toml they wrote", async () => {
    for (const node of ["node1", "node2"] as const) {
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

  it("node1 pulls image A through its containerd (CRI): the registry serves each blob once", async () => {
    const ref = `${REGISTRY_HOST}/d7y/app:v1`;
    const before = downloadBytes(await daemonMetrics("node1"));
    const t = Date.now();
    const imageRef = await criPullImage(containerds.get("node1")!.socket, ref);
    timings.node1PullMs = Date.now() - t;
    assert.match(imageRef, /^sha256:[0-9a-f]{64}$/);
    const blobs = imageA.blobs;
    for (const blob of blobs) {
      assert.equal(registry!.blobGets(blob.digest).length, 1, `one GET of ${blob.digest}`);
      assert.equal(registry!.blobBytes(blob.digest), blob.size);
    }
    // The scheduler sent the seed peer to the registry first; node1's containerd went through the mirror.
    assert.deepEqual([...new Set(registry!.blobGets().map((e) => e.remote))], [IP.seed]);
    const layerBytes = imageA.layersFor(AMD64).reduce((s, l) => s + l.size, 0);
    const metrics = await daemonMetrics("node1");
    const mirrored = sampleSum(metrics, "d7y_daemon_mirror_requests_total", { kind: "blob" }) ?? 0;
    assert.ok(mirrored >= blobs.length, `node1's mirror served ${mirrored} blob requests`);
    const delivered = downloadBytes(metrics) - before;
    timings.node1Bytes = delivered;
    assert.ok(delivered >= layerBytes, `node1 delivered ${delivered} bytes, layers are ${layerBytes}`);
  });

  it("node2 pulls image A: no blob GET at the registry, the bytes come from peers", async () => {
    const gets = registry!.blobGets().length;
    const before = await daemonMetrics("node2");
    const t = Date.now();
    await criPullImage(containerds.get("node2")!.socket, `${REGISTRY_HOST}/d7y/app:v1`);
    timings.node2PullMs = Date.now() - t;
    assert.equal(registry!.blobGets().length - gets, 0, "no new blob GET");
    const after = await daemonMetrics("node2");
    const peer = downloadBytes(after, "peer") - downloadBytes(before, "peer");
    timings.node2PeerBytes = peer;
    const layerBytes = imageA.layersFor(AMD64).reduce((s, l) => s + l.size, 0);
    assert.ok(peer >= layerBytes, `node2 peer bytes ${peer} >= layer bytes ${layerBytes}`);
    assert.equal(downloadBytes(after, "origin") - downloadBytes(before, "origin"), 0);
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
});
