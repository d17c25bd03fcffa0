import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateConfig } from "@d7y/config";
import {
  ContentStore,
  type Daemon,
  DaemonMetrics,
  daemonConfigSchema,
  HttpOrigin,
  MetadataStore,
  readTask,
  startDaemon,
  TaskManager,
} from "@d7y/daemon";
import { createMetricsRegistry, createSilentLogger } from "@d7y/observability";
import { pieceCountFor, pieceLengthFor } from "@d7y/proto";
import { type Scheduler, schedulerConfigSchema, startScheduler } from "@d7y/scheduler";
import { request } from "undici";
import { sampleSum } from "../../helpers/metrics-text.js";
import { waitFor } from "../../helpers/processes.js";
import { type FakeBlobOrigin, startFakeBlobOrigin } from "./fake-blob-origin.js";

const MiB = 1024 * 1024;
const logger = createSilentLogger();

async function scrape(url: string | undefined): Promise<string> {
  assert.ok(url, "metrics are enabled");
  const response = await request(url);
  assert.equal(response.statusCode, 200);
  return response.body.text();
}

/** GETs a blob through a daemon's mirror; returns the sha256 of what came back. */
async function pull(daemon: Daemon, path: string): Promise<string> {
  const response = await request(`${daemon.mirrorUrl}${path}`);
  assert.equal(response.statusCode, 200);
  const hash = createHash("sha256");
  for await (const chunk of response.body) hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}

describe("daemon metrics", function () {
  this.timeout(60_000);
  let work: string;
  let origin: FakeBlobOrigin;
  const stops: Array<() => Promise<unknown>> = [];

  async function daemon(name: string, schedulers: string[] = []): Promise<Daemon> {
    const config = validateConfig(daemonConfigSchema, {
      dataDir: join(work, name),
      logLevel: "silent",
      proxy: { host: "127.0.0.1", port: 0, registries: [origin.url] },
      api: { host: "127.0.0.1", port: 0 },
      upload: { host: "127.0.0.1", port: 0 },
      host: { ip: "127.0.0.1" },
      scheduler: { addresses: schedulers, announceInterval: "1s" },
      metrics: { host: "127.0.0.1", port: 0 },
    });
    const started = await startDaemon(config, { logger });
    stops.push(() => started.stop());
    return started;
  }

  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), "d7y-daemon-metrics-"));
    origin = await startFakeBlobOrigin();
  });

  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
    await origin.close();
    await rm(work, { recursive: true, force: true });
  });

  it("counts origin pieces, cache hits, uploads and mirror requests on a daemon without a scheduler", async () => {
    const bytes = randomBytes(9 * MiB + 123);
    const digest = origin.add(bytes);
    const pieces = pieceCountFor(bytes.length, pieceLengthFor(bytes.length));
    const node = await daemon("node");
    const empty = await scrape(node.metricsUrl);
    for (const source of ["origin", "peer", "cache"])
      assert.equal(sampleSum(empty, "d7y_daemon_download_bytes_total", { source }), 0, `${source} starts at 0`);

    assert.equal(await pull(node, origin.blobPath(digest)), digest);
    let text = await scrape(node.metricsUrl);
    assert.equal(sampleSum(text, "d7y_daemon_download_bytes_total", { source: "origin" }), bytes.length);
    assert.equal(sampleSum(text, "d7y_daemon_download_bytes_total", { source: "peer" }), 0);
    assert.equal(sampleSum(text, "d7y_daemon_download_bytes_total", { source: "cache" }), 0);
    assert.equal(sampleSum(text, "d7y_daemon_piece_download_duration_seconds_count", { source: "origin" }), pieces);
    assert.equal(sampleSum(text, "d7y_daemon_mirror_requests_total", { kind: "blob", code: "200" }), 1);
    assert.equal(sampleSum(text, "d7y_daemon_cache_bytes"), bytes.length);
    assert.equal(sampleSum(text, "d7y_daemon_tasks_downloading"), 0);

    // Complete on disk: the second pull is a cache hit, and the origin sees nothing more.
    const served = origin.served;
    assert.equal(await pull(node, origin.blobPath(digest)), digest);
    assert.equal(origin.served, served);
    // The mirror counts cache bytes once its response has finished writing, which can be a moment after
    // the client has read the last byte: wait (bounded) for the scrape to show them.
    text = await waitFor(
      async () => {
        const scraped = await scrape(node.metricsUrl);
        return sampleSum(scraped, "d7y_daemon_download_bytes_total", { source: "cache" }) === bytes.length && scraped;
      },
      { timeoutMs: 5_000, intervalMs: 20, what: "the cache bytes of the second pull" },
    );
    assert.equal(sampleSum(text, "d7y_daemon_download_bytes_total", { source: "origin" }), bytes.length);
    assert.equal(sampleSum(text, "d7y_daemon_mirror_requests_total", { kind: "blob", code: "200" }), 2);

    // Another daemon fetching piece 0 from this one's upload port.
    const piece = await request(`${node.uploadUrl}/tasks/${digest.slice(7)}/pieces/0`);
    assert.equal(piece.statusCode, 200);
    const pieceBytes = (await piece.body.arrayBuffer()).byteLength;
    for (const path of ["/v2/", "/healthy", "/nope"]) await (await request(`${node.mirrorUrl}${path}`)).body.dump();
    text = await scrape(node.metricsUrl);
    assert.equal(sampleSum(text, "d7y_daemon_upload_bytes_total"), pieceBytes);
    assert.equal(sampleSum(text, "d7y_daemon_upload_pieces_total"), 1);
    assert.equal(sampleSum(text, "d7y_daemon_mirror_requests_total", { kind: "passthrough", code: "200" }), 1);
    assert.equal(sampleSum(text, "d7y_daemon_mirror_requests_total", { kind: "other", code: "200" }), 1);
    assert.equal(sampleSum(text, "d7y_daemon_mirror_requests_total", { kind: "other", code: "404" }), 1);
  });

  it("counts peer bytes on a child and upload bytes on its parent, through a scheduler", async () => {
    const config = validateConfig(schedulerConfigSchema, {
      host: "127.0.0.1",
      port: 0,
      metricsHost: "127.0.0.1",
      metricsPort: 0,
      logLevel: "silent",
    });
    const scheduler: Scheduler = await startScheduler(config, { logger });
    stops.push(() => scheduler.stop());
    const blobs = [randomBytes(6 * MiB + 7), randomBytes(300 * 1024)];
    const digests = blobs.map((bytes) => origin.add(bytes));
    const total = blobs.reduce((sum, bytes) => sum + bytes.length, 0);
    const parent = await daemon("parent", [scheduler.url]);
    const child = await daemon("child", [scheduler.url]);
    await waitFor(() => scheduler.state.hosts.size === 2, { what: "both hosts announced", timeoutMs: 10_000 });

    for (const digest of digests) assert.equal(await pull(parent, origin.blobPath(digest)), digest);
    const served = origin.served;
    for (const digest of digests) assert.equal(await pull(child, origin.blobPath(digest)), digest);
    assert.equal(origin.served, served, "the child took nothing from the origin");

    const childText = await scrape(child.metricsUrl);
    assert.equal(sampleSum(childText, "d7y_daemon_download_bytes_total", { source: "peer" }), total);
    assert.equal(sampleSum(childText, "d7y_daemon_download_bytes_total", { source: "origin" }), 0);
    assert.ok((sampleSum(childText, "d7y_daemon_piece_download_duration_seconds_count", { source: "peer" }) ?? 0) > 0);
    const parentText = await scrape(parent.metricsUrl);
    assert.equal(sampleSum(parentText, "d7y_daemon_download_bytes_total", { source: "origin" }), total);
    // At least every byte once (a slow piece may be asked twice).
    assert.ok((sampleSum(parentText, "d7y_daemon_upload_bytes_total") ?? 0) >= total);

    const schedulerText = await scrape(scheduler.metricsUrl);
    assert.ok((sampleSum(schedulerText, "d7y_scheduler_schedule_decisions_total", { decision: "parents" }) ?? 0) >= 2);
    assert.equal(sampleSum(schedulerText, "d7y_scheduler_schedule_decisions_total", { decision: "back_to_source" }), 2);
    assert.equal(sampleSum(schedulerText, "d7y_scheduler_traffic_bytes_total", { traffic: "back_to_source" }), total);
    assert.equal(sampleSum(schedulerText, "d7y_scheduler_traffic_bytes_total", { traffic: "remote_peer" }), total);
    assert.equal(sampleSum(schedulerText, "d7y_scheduler_hosts", { type: "normal" }), 2);
    assert.equal(sampleSum(schedulerText, "d7y_scheduler_tasks", { state: "succeeded" }), 2);
  });

  it("counts origin piece failures and piece timings on a TaskManager built in-process", async () => {
    const metadata = new MetadataStore(join(work, "metadata"));
    await metadata.open();
    const content = new ContentStore(join(work, "content"));
    const http = new HttpOrigin({ connectTimeoutMs: 2000, bodyTimeoutMs: 5000 });
    stops.push(
      () => metadata.close(),
      () => content.close(),
      () => http.close(),
    );
    const metrics = new DaemonMetrics(createMetricsRegistry("daemon", { processMetrics: false }), {
      downloading: () => tasks.downloadingCount,
      cacheBytes: async () => 0,
    });
    const tasks: TaskManager = new TaskManager({
      origin: http,
      metadata,
      content,
      logger,
      concurrentPieces: 4,
      pieceRetries: 2,
      metrics,
    });
    stops.push(() => tasks.stop());
    const bytes = randomBytes(10 * MiB);
    const digest = origin.add(bytes);
    // The first request learns the size; the second (a piece) fails once and is retried.
    origin.fault = (index) => (index === 1 ? 500 : undefined);
    const handle = await tasks.acquire({
      id: digest.slice(7),
      url: `${origin.url}${origin.blobPath(digest)}`,
      digest,
      headers: {},
    });
    assert.equal(sampleSum(await metrics.registry.metrics(), "d7y_daemon_tasks_downloading"), 1);
    const hash = createHash("sha256");
    for await (const chunk of readTask(handle, content, 0, bytes.length - 1)) hash.update(chunk as Buffer);
    assert.equal(`sha256:${hash.digest("hex")}`, digest);
    const text = await metrics.registry.metrics();
    assert.equal(sampleSum(text, "d7y_daemon_piece_failures_total", { reason: "origin_error" }), 1);
    assert.equal(sampleSum(text, "d7y_daemon_piece_failures_total", { reason: "peer_error" }), 0);
    assert.equal(sampleSum(text, "d7y_daemon_download_bytes_total", { source: "origin" }), bytes.length);
    const pieces = pieceCountFor(bytes.length, pieceLengthFor(bytes.length));
    assert.equal(sampleSum(text, "d7y_daemon_piece_download_duration_seconds_count", { source: "origin" }), pieces);
    assert.equal(sampleSum(text, "d7y_daemon_tasks_downloading"), 0);
  });
});
