/**
 * One pull is one trace: a P2P pull on node 2 (pieces from node 1) is traced across both daemons and
 * the scheduler (real processes exporting OTLP/HTTP JSON to an in-process receiver), and a search by
 * http.url finds it.
 */
import assert from "node:assert/strict";
import { request } from "undici";
import { type DaemonProcess, startDaemonProcess } from "../helpers/daemon-process.js";
import { buildImage, pushImage } from "../helpers/image.js";
import { type ManagerProcess, startManagerProcess } from "../helpers/manager-process.js";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "../helpers/otlp-receiver.js";
import { waitFor } from "../helpers/processes.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { type SchedulerProcess, startSchedulerProcess } from "../helpers/scheduler-process.js";

const MiB = 1024 * 1024;

describe("tracing: one pull is one trace", function () {
  this.timeout(120_000);
  let receiver: OtlpReceiver;
  let registry: TestRegistry;
  let scheduler: SchedulerProcess;
  const daemons: DaemonProcess[] = [];

  before(async () => {
    receiver = await startOtlpReceiver();
    registry = await startRegistry();
    scheduler = await startSchedulerProcess({ extraArgs: ["--tracing-endpoint", receiver.endpoint] });
    for (let i = 0; i < 2; i++) {
      daemons.push(
        await startDaemonProcess({
          registries: [registry.url],
          schedulers: [scheduler.url],
          announceInterval: "1s",
          extraArgs: ["--tracing-endpoint", receiver.endpoint],
        }),
      );
    }
  });

  after(async () => {
    await Promise.allSettled(daemons.map((daemon) => daemon.destroy()));
    await Promise.allSettled([scheduler?.stop(), registry?.stop()]);
    await receiver?.close();
  });

  it("a P2P pull on node 2 is one connected trace over node 2, the scheduler and node 1, found by its http.url", async () => {
    const [node1, node2] = daemons as [DaemonProcess, DaemonProcess];
    const image = await buildImage({ layers: [{ size: 10 * MiB, seed: "traced" }] });
    await pushImage(registry.url, "d7y/traced", "v1", image);
    const layer = image.layersFor("linux/amd64")[0]!;
    const path = `/v2/d7y/traced/blobs/${layer.digest}?ns=${registry.host}`;
    const first = await request(`${node1.mirrorUrl}${path}`);
    await first.body.arrayBuffer();
    assert.equal(first.statusCode, 200);
    const second = await request(`${node2.mirrorUrl}${path}`);
    assert.equal(Buffer.from(await second.body.arrayBuffer()).length, layer.size);

    const node2Pid = String(node2.process.pid);
    const node1Pid = String(node1.process.pid);
    const root = await waitFor(
      () => receiver.find("http.url", path).find((span) => span.instance === node2Pid && span.name === "mirror GET"),
      { what: "node 2's mirror span, found by http.url", timeoutMs: 20_000, intervalMs: 200 },
    );
    assert.equal(root.parentSpanId, "", "the mirror request starts the trace");
    assert.equal(root.attributes["http.method"], "GET");
    assert.equal(root.attributes["http.status_code"], 200);
    assert.equal(root.attributes["d7y.task.id"], layer.digest.slice(7));
    assert.equal(root.attributes["d7y.bytes"], layer.size);
    assert.equal(root.attributes["d7y.source"], "peer");

    let spans: ReceivedSpan[] = [];
    await waitFor(
      () => {
        spans = receiver.trace(root.traceId);
        return (
          spans.some((s) => s.service === "d7y-scheduler" && s.name === "schedule registerPeer") &&
          spans.some((s) => s.instance === node1Pid && s.name === "upload piece") &&
          spans.some(
            (s) => s.instance === node2Pid && s.name === "piece" && s.attributes["d7y.parent.host"] === node1.hostId,
          )
        );
      },
      { what: "spans of node 2, the scheduler and node 1 in the trace", timeoutMs: 20_000, intervalMs: 200 },
    );
    if (process.env.D7Y_TRACE_DUMP)
      console.log(spans.map((s) => `${s.service}/${s.instance} ${s.name} ${s.spanId} <- ${s.parentSpanId}`).join("\n"));
    // Connected: every span's parent is in the trace (one tree rooted at the mirror request).
    const ids = new Set(spans.map((s) => s.spanId));
    for (const span of spans) {
      if (span !== root) assert.ok(ids.has(span.parentSpanId), `${span.service} ${span.name} hangs off the trace`);
    }
    const pieces = spans.filter((s) => s.instance === node2Pid && s.name === "piece");
    assert.ok(pieces.length >= 3, "a span per piece");
    assert.ok(pieces.every((s) => s.attributes["d7y.source"] === "peer"));
    assert.ok(spans.some((s) => s.instance === node2Pid && s.name === "scheduler register"));
    // Node 1's first pull is another trace: it went to the origin.
    const other = receiver
      .find("http.url", path)
      .find((span) => span.instance === node1Pid && span.name === "mirror GET");
    assert.ok(other && other.traceId !== root.traceId);
    assert.equal(other.attributes["d7y.source"], "origin");
  });

  it("a preheat job is traced from the REST call to the seed peer's download", async () => {
    const manager: ManagerProcess = await startManagerProcess({ extraArgs: ["--tracing-endpoint", receiver.endpoint] });
    let seed: DaemonProcess | undefined;
    try {
      seed = await startDaemonProcess({
        registries: [registry.url],
        schedulers: [scheduler.url],
        manager: manager.rpcUrl,
        seed: true,
        announceInterval: "1s",
        extraArgs: ["--tracing-endpoint", receiver.endpoint],
      });
      await waitFor(
        async () => {
          const seeds = (await (await request(`${manager.url}/api/v1/seed-peers`)).body.json()) as Array<{
            state: string;
          }>;
          return seeds.some((s) => s.state === "active");
        },
        { what: "the seed to register", timeoutMs: 15_000 },
      );
      const image = await buildImage({ layers: [{ size: 5 * MiB, seed: "traced-preheat" }] });
      await pushImage(registry.url, "d7y/preheat-traced", "v1", image);
      const created = await request(`${manager.url}/api/v1/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          type: "preheat",
          args: { type: "image", url: `${registry.url}/v2/d7y/preheat-traced/manifests/v1` },
        }),
      });
      const { id } = (await created.body.json()) as { id: number };
      const rest = await waitFor(
        () =>
          receiver.spans.find(
            (s) => s.service === "d7y-manager" && s.name === "POST /api/v1/jobs" && s.parentSpanId === "",
          ),
        { what: "the REST span", timeoutMs: 15_000, intervalMs: 200 },
      );
      const seedPid = String(seed.process.pid);
      const layer = image.layersFor("linux/amd64")[0]!;
      await waitFor(
        () => {
          const spans = receiver.trace(rest.traceId);
          return (
            spans.some(
              (s) => s.service === "d7y-manager" && s.name === "preheat job" && s.attributes["d7y.job.id"] === id,
            ) &&
            spans.some(
              (s) =>
                s.instance === seedPid &&
                s.name === "rpc Download" &&
                s.attributes["d7y.task.id"] === layer.digest.slice(7),
            ) &&
            spans.some((s) => s.instance === seedPid && s.name === "download task") &&
            spans.some((s) => s.instance === seedPid && s.name === "piece" && s.attributes["d7y.source"] === "origin")
          );
        },
        {
          what: "the job, the seed's RPC, download and piece spans in the REST call's trace",
          timeoutMs: 20_000,
          intervalMs: 200,
        },
      );
    } finally {
      await seed?.destroy();
      await manager.destroy();
    }
  });
});
