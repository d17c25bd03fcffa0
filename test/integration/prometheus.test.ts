/**
 * Metrics as an operator sees them: the real Prometheus (Debian's `prometheus`) scrapes two d7y-daemon
 * processes, and PromQL over what it stored shows that node 2 got every byte of an image from node 1.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SchedulerService } from "@d7y/proto/scheduler/v1";
import { createRpcClient } from "@d7y/rpc";
import { request } from "undici";
import { type DaemonProcess, startDaemonProcess } from "../helpers/daemon-process.js";
import { type Blob, buildImage, pushImage } from "../helpers/image.js";
import { freePort, spawnTracked, type TrackedProcess, waitFor } from "../helpers/processes.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { type SchedulerProcess, startSchedulerProcess } from "../helpers/scheduler-process.js";

const PROMETHEUS = "/usr/bin/prometheus";
const MiB = 1024 * 1024;
const AMD64 = "linux/amd64";

/** GETs a blob through a daemon's mirror, as containerd would; returns the sha256 of the body. */
async function pullBlob(daemon: DaemonProcess, registry: TestRegistry, blob: Blob): Promise<string> {
  const response = await request(`${daemon.mirrorUrl}/v2/d7y/metrics/blobs/${blob.digest}?ns=${registry.host}`);
  assert.equal(response.statusCode, 200, `GET ${blob.digest}`);
  const hash = createHash("sha256");
  for await (const chunk of response.body) hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}

interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

describe("Prometheus scrapes the daemons", function () {
  this.timeout(180_000);
  let work: string;
  let registry: TestRegistry;
  let scheduler: SchedulerProcess;
  const nodes: DaemonProcess[] = [];
  let prometheus: TrackedProcess | undefined;
  let prometheusUrl: string;

  /** The instant vector of a PromQL query. */
  async function query(promql: string): Promise<VectorSample[]> {
    const response = await request(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await response.body.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: VectorSample[] };
    };
    assert.equal(body.status, "success", `${promql}: ${body.error ?? ""}`);
    assert.equal(body.data?.resultType, "vector");
    return body.data!.result;
  }

  /** The single value of a query, or undefined when the vector is empty. */
  async function scalar(promql: string): Promise<number | undefined> {
    const result = await query(promql);
    assert.ok(result.length <= 1, `${promql} returned ${result.length} series`);
    return result[0] === undefined ? undefined : Number(result[0].value[1]);
  }

  before(async () => {
    if (!existsSync(PROMETHEUS)) {
      throw new Error(
        `${PROMETHEUS} is missing: install the Debian package "prometheus" (scripts/ensure-system-packages.mjs)`,
      );
    }
    work = await mkdtemp(join(tmpdir(), "d7y-prometheus-test-"));
    registry = await startRegistry();
    scheduler = await startSchedulerProcess();
    for (let i = 0; i < 2; i++) {
      nodes.push(
        await startDaemonProcess({
          registries: [registry.url],
          schedulers: [scheduler.url],
          announceInterval: "1s",
          metricsPort: await freePort(),
        }),
      );
    }
    const client = createRpcClient(SchedulerService, scheduler.url);
    await waitFor(async () => (await client.listHosts({})).hosts.length >= 2, {
      what: "both daemons announced",
      timeoutMs: 15_000,
    });
  });

  after(async () => {
    await prometheus?.stop("SIGTERM", 10_000);
    await Promise.allSettled(nodes.map((node) => node.destroy()));
    await Promise.allSettled([scheduler?.stop(), registry?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("shows node 2's bytes all from its peer and none from the origin", async () => {
    const image = await buildImage({
      layers: [
        { size: 12 * MiB, seed: "metrics-big" },
        { size: 700 * 1024, seed: "metrics-small" },
      ],
    });
    await pushImage(registry.url, "d7y/metrics", "v1", image);
    const blobs = image.blobsFor(AMD64);
    const total = blobs.reduce((sum, blob) => sum + blob.size, 0);
    const [node1, node2] = nodes as [DaemonProcess, DaemonProcess];
    for (const blob of blobs) assert.equal(await pullBlob(node1, registry, blob), blob.digest);
    await registry.settled();
    registry.reset();
    for (const blob of blobs) assert.equal(await pullBlob(node2, registry, blob), blob.digest);
    await registry.settled();
    assert.equal(registry.blobGets().length, 0, "node 2 sent nothing to the registry");

    const port = await freePort();
    prometheusUrl = `http://127.0.0.1:${port}`;
    const config = join(work, "prometheus.yml");
    const target = (node: DaemonProcess) => `"127.0.0.1:${node.metricsPort}"`;
    await writeFile(
      config,
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: d7y-daemon",
        "    static_configs:",
        `      - targets: [${target(node1)}]`,
        "        labels: {node: node1}",
        `      - targets: [${target(node2)}]`,
        "        labels: {node: node2}",
        "",
      ].join("\n"),
    );
    prometheus = spawnTracked(
      PROMETHEUS,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(work, "tsdb")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { name: "prometheus" },
    );
    const peerBytes = await waitFor(
      async () => {
        if (!prometheus!.isRunning()) throw new Error(`prometheus exited: ${prometheus!.output().slice(-2000)}`);
        // Each target's first scrape comes at its own offset in the interval: wait for both.
        if ((await scalar('count(up{job="d7y-daemon"} == 1)')) !== 2) return undefined;
        const value = await scalar('d7y_daemon_download_bytes_total{node="node2", source="peer"}');
        return value === total ? value : undefined;
      },
      { what: "Prometheus to scrape both daemons and store node 2's peer bytes", timeoutMs: 20_000, intervalMs: 250 },
    );
    assert.equal(peerBytes, total);
    assert.equal(
      (await scalar('d7y_daemon_download_bytes_total{node="node2", source="origin"}')) ?? 0,
      0,
      "node 2 fetched nothing from the origin",
    );
    assert.equal(
      await scalar('d7y_daemon_download_bytes_total{node="node2", source="origin"}'),
      0,
      "the series exists",
    );
    assert.equal(await scalar('d7y_daemon_download_bytes_total{node="node1", source="origin"}'), total);
    assert.ok(((await scalar('d7y_daemon_upload_bytes_total{node="node1"}')) ?? 0) >= total, "node 1 uploaded it all");
    // The dashboard's P2P ratio over all time: half of what the swarm fetched came from a peer.
    const ratio = await scalar(
      'sum(d7y_daemon_download_bytes_total{source="peer"}) / sum(d7y_daemon_download_bytes_total{source=~"peer|origin"})',
    );
    assert.equal(ratio, 0.5);
    const up = await query('up{job="d7y-daemon"}');
    assert.deepEqual(up.map((sample) => sample.value[1]).sort(), ["1", "1"], "both targets are up");
  });
});
