/**
 * bench:tracing — what tracing costs on the pull path.
 * (1) Tracing off (no SDK started, as by default): the cost of one instrumented span around an async
 *     call vs the bare call, per span and per pull of a 256 MiB blob (a mirror span, a task span, a
 *     scheduler span and one span per 4 MiB piece).
 * (2) Tracing on vs off end to end: cold pulls of one blob through a daemon on loopback, side by side,
 *     with the daemon exporting to an in-process OTLP receiver.
 *
 *   npm run bench:tracing -- [--size-mib 128] [--runs 5]
 */
import { parseArgs } from "node:util";
import { inSpan, tracerFor } from "@d7y/observability";
import { startDaemonProcess } from "@d7y/test/helpers/daemon-process";
import { buildImage, pushImage } from "@d7y/test/helpers/image";
import { startOtlpReceiver } from "@d7y/test/helpers/otlp-receiver";
import { startRegistry } from "@d7y/test/helpers/registry";
import { request } from "undici";

const { values } = parseArgs({
  options: { "size-mib": { type: "string", default: "128" }, runs: { type: "string", default: "5" } },
});
const sizeMiB = Number(values["size-mib"]);
const runs = Math.min(20, Math.max(1, Number(values.runs)));

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function spanCost(): Promise<{ bareNs: number; spanNs: number }> {
  const tracer = tracerFor("bench");
  const work = async () => 1;
  const N = 200_000;
  const time = async (fn: () => Promise<unknown>) => {
    const began = process.hrtime.bigint();
    for (let i = 0; i < N; i++) await fn();
    return Number(process.hrtime.bigint() - began) / N;
  };
  const bare: number[] = [];
  const spanned: number[] = [];
  for (let round = 0; round < 5; round++) {
    bare.push(await time(work));
    spanned.push(await time(() => inSpan(tracer, "piece", { attributes: { "d7y.piece.number": 1 } }, work)));
  }
  return { bareNs: median(bare), spanNs: median(spanned) };
}

async function main(): Promise<void> {
  const cost = await spanCost();
  const size = sizeMiB * 1024 * 1024;
  const spansPerPull = 3 + Math.ceil(size / (4 * 1024 * 1024));
  const registry = await startRegistry();
  const receiver = await startOtlpReceiver();
  try {
    const image = await buildImage({ layers: [{ size, seed: `tracing-${Date.now()}` }] });
    await pushImage(registry.url, "bench/tracing", "v1", image);
    const layer = image.layersFor("linux/amd64")[0]!;
    const path = `/v2/bench/tracing/blobs/${layer.digest}`;
    const off = await startDaemonProcess({ registries: [registry.url] });
    const on = await startDaemonProcess({
      registries: [registry.url],
      extraArgs: ["--tracing-endpoint", receiver.endpoint],
    });
    const times: Record<"off" | "on", number[]> = { off: [], on: [] };
    try {
      for (let i = 0; i <= runs; i++) {
        for (const [name, daemon] of [
          ["off", off],
          ["on", on],
        ] as const) {
          await request(`${daemon.apiUrl}/d7y.dfdaemon.v1.DfdaemonService/DeleteTask`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ taskId: layer.digest.slice(7) }),
          }).then((r) => r.body.dump());
          const began = process.hrtime.bigint();
          const response = await request(`${daemon.mirrorUrl}${path}`);
          await response.body.dump();
          if (i > 0) times[name].push(Number(process.hrtime.bigint() - began) / 1e6); // run 0 warms up
        }
      }
    } finally {
      await off.destroy();
      await on.destroy();
    }
    const offMs = median(times.off);
    const onMs = median(times.on);
    const overheadMs = ((cost.spanNs - cost.bareNs) * spansPerPull) / 1e6;
    console.log(`\nbench:tracing — ${sizeMiB} MiB blob, cold pulls through a daemon on loopback, median of ${runs}\n`);
    console.log(
      `tracing off, per span: ${cost.spanNs.toFixed(0)} ns vs ${cost.bareNs.toFixed(0)} ns for the bare call (+${(cost.spanNs - cost.bareNs).toFixed(0)} ns)`,
    );
    console.log(
      `tracing off, per pull: ${spansPerPull} spans -> +${overheadMs.toFixed(4)} ms on a ${offMs.toFixed(0)} ms pull (${((overheadMs / offMs) * 100).toFixed(4)}%)`,
    );
    console.log(
      `end to end: off ${offMs.toFixed(0)} ms, on ${onMs.toFixed(0)} ms (on/off ${(onMs / offMs).toFixed(3)}); ${receiver.spans.length} spans received`,
    );
  } finally {
    await receiver.close();
    await registry.stop();
  }
}

main().catch((error: unknown) => {
  console.error(`bench:tracing: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
