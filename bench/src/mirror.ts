/**
 * bench:mirror — one blob pulled by the same client (curl) straight from docker-registry, through a
 * cold d7y-daemon (cache emptied before each run) and through a warm one; printed as throughput
 * ratios measured side by side in one run. Scenarios: the registry on loopback (CPU-bound: both
 * ends on this machine's 2 cores) and the registry across a tbf-capped link in network namespaces
 * (what a node sees of a real registry).
 *
 *   npm run bench:mirror -- [--size-mib 256] [--runs 3] [--links loopback,1000,2500]
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DAEMON_BIN } from "@d7y/test/helpers/daemon-process";
import { buildImage, pushImage } from "@d7y/test/helpers/image";
import { freePort, run, spawnTracked, type TrackedProcess, waitFor } from "@d7y/test/helpers/processes";
import { request } from "undici";
import { createTwoHostTestbed, type Place, processUsage, ROOT_NS, startRegistryAt } from "./testbed.js";

const { values } = parseArgs({
  options: {
    "size-mib": { type: "string", default: "256" },
    runs: { type: "string", default: "3" },
    links: { type: "string", default: "loopback,1000" },
  },
});
const sizeMiB = Number(values["size-mib"]);
const runs = Math.min(20, Math.max(1, Number(values.runs)));
const links = values.links!.split(",").map((s) => s.trim());

interface Fetch {
  seconds: number;
  bytes: number;
  status: number;
}

async function curl(place: Place, url: string, extra: string[] = []): Promise<Fetch> {
  const [cmd, args] = place.wrap("curl", [
    "-s",
    "-o",
    "/dev/null",
    "-w",
    "%{time_total} %{size_download} %{http_code}",
    ...extra,
    url,
  ]);
  const result = await run(cmd, args, { timeoutMs: 300_000 });
  const [seconds, bytes, status] = result.stdout.trim().split(" ").map(Number);
  return { seconds: seconds!, bytes: bytes!, status: status! };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function startDaemonAt(
  place: Place,
  registry: string,
  dataDir: string,
): Promise<{ proc: TrackedProcess; mirror: string; api: string }> {
  const [proxyPort, apiPort, uploadPort] = [await freePort(), await freePort(), await freePort()];
  const [cmd, args] = place.wrap(process.execPath, [
    DAEMON_BIN,
    "--data-dir",
    dataDir,
    "--registry",
    registry,
    "--proxy-host",
    "127.0.0.1",
    "--proxy-port",
    String(proxyPort),
    "--api-port",
    String(apiPort),
    "--upload-port",
    String(uploadPort),
    "--log-level",
    "warn",
  ]);
  const proc = spawnTracked(cmd, args, { name: `d7y-daemon (${place.name})` });
  await waitFor(
    async () => {
      if (!proc.isRunning()) throw new Error(proc.output());
      const [c, a] = place.wrap("curl", [
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        `http://127.0.0.1:${proxyPort}/healthy`,
      ]);
      return (await run(c, a, { timeoutMs: 5000 })).stdout === "200";
    },
    { what: "d7y-daemon", timeoutMs: 15_000, intervalMs: 100 },
  );
  return { proc, mirror: `http://127.0.0.1:${proxyPort}`, api: `http://127.0.0.1:${apiPort}` };
}

interface ScenarioResult {
  link: string;
  directMBps: number;
  coldMBps: number;
  warmMBps: number;
  coldVsDirect: number;
  warmVsDirect: number;
  daemonCpuSeconds: number;
  daemonPeakRssMiB: number;
  runs: { direct: number[]; cold: number[]; warm: number[] };
  limit: string;
}

async function scenario(
  link: string,
  clientPlace: Place,
  registryOrigin: string,
  blobPath: string,
  taskId: string,
  size: number,
  work: string,
): Promise<ScenarioResult> {
  const daemon = await startDaemonAt(clientPlace, registryOrigin, join(work, `daemon-${link}`));
  const times = { direct: [] as number[], cold: [] as number[], warm: [] as number[] };
  const check = (fetch: Fetch, what: string) => {
    if (fetch.status !== 200 || fetch.bytes !== size)
      throw new Error(`${what}: HTTP ${fetch.status}, ${fetch.bytes} bytes`);
    return fetch.seconds;
  };
  try {
    // One unmeasured warm-up of each path (page cache, connection setup, JIT).
    await curl(clientPlace, `${registryOrigin}${blobPath}`);
    await curl(clientPlace, `${daemon.mirror}${blobPath}`);
    for (let i = 0; i < runs; i++) {
      times.direct.push(check(await curl(clientPlace, `${registryOrigin}${blobPath}`), "direct"));
      await curl(clientPlace, `${daemon.api}/d7y.dfdaemon.v1.DfdaemonService/DeleteTask`, [
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "-d",
        JSON.stringify({ taskId }),
      ]);
      times.cold.push(check(await curl(clientPlace, `${daemon.mirror}${blobPath}`), "cold"));
      times.warm.push(check(await curl(clientPlace, `${daemon.mirror}${blobPath}`), "warm"));
    }
    const usage = await processUsage(daemon.proc.pid);
    const mbps = (seconds: number) => size / 1e6 / seconds;
    const direct = mbps(median(times.direct));
    const cold = mbps(median(times.cold));
    const warm = mbps(median(times.warm));
    return {
      link,
      directMBps: direct,
      coldMBps: cold,
      warmMBps: warm,
      coldVsDirect: cold / direct,
      warmVsDirect: warm / direct,
      daemonCpuSeconds: usage.cpuSeconds,
      daemonPeakRssMiB: usage.peakRssMiB,
      runs: times,
      limit:
        link === "loopback" ? "CPU (registry, daemon and curl share 2 cores)" : `registry link (${link} Mbit/s tbf)`,
    };
  } finally {
    await daemon.proc.stop("SIGTERM", 10_000);
  }
}

async function smallBlobLatency(
  mirror: string,
  direct: string,
  path: string,
): Promise<Record<string, { p50: number; p99: number }>> {
  const result: Record<string, { p50: number; p99: number }> = {};
  for (const [name, base] of [
    ["direct", direct],
    ["warm", mirror],
  ] as const) {
    const samples: number[] = [];
    for (let i = 0; i < 300; i++) {
      const began = process.hrtime.bigint();
      const response = await request(`${base}${path}`);
      await response.body.arrayBuffer();
      samples.push(Number(process.hrtime.bigint() - began) / 1e6);
    }
    result[name] = { p50: percentile(samples.slice(50), 50), p99: percentile(samples.slice(50), 99) };
  }
  return result;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "d7y-bench-mirror-"));
  const storage = join(work, "registry");
  const processes: TrackedProcess[] = [];
  const teardowns: Array<() => Promise<void>> = [];
  try {
    const image = await buildImage({ layers: [{ size: sizeMiB * 1024 * 1024, seed: "bench-mirror" }] });
    const layer = image.layersFor("linux/amd64")[0]!;
    const config = image.blobsFor("linux/amd64").find((blob: { digest: string }) => blob.digest !== layer.digest)!;
    const port = await freePort();
    const local = await startRegistryAt(ROOT_NS, `127.0.0.1:${port}`, storage, work);
    processes.push(local);
    await pushImage(`http://127.0.0.1:${port}`, "bench/app", "v1", image);
    const blobPath = `/v2/bench/app/blobs/${layer.digest}`;
    const taskId = layer.digest.slice(7);
    const results: ScenarioResult[] = [];
    let latency: Record<string, { p50: number; p99: number }> | undefined;

    for (const link of links) {
      if (link === "loopback") {
        results.push(await scenario(link, ROOT_NS, `http://127.0.0.1:${port}`, blobPath, taskId, layer.size, work));
        const daemon = await startDaemonAt(ROOT_NS, `http://127.0.0.1:${port}`, join(work, "daemon-latency"));
        try {
          latency = await smallBlobLatency(
            daemon.mirror,
            `http://127.0.0.1:${port}`,
            `/v2/bench/app/blobs/${config.digest}`,
          );
        } finally {
          await daemon.proc.stop();
        }
        continue;
      }
      const rate = Number(link);
      if (!Number.isFinite(rate) || rate <= 0)
        throw new Error(`--links: "${link}" is neither loopback nor a rate in Mbit/s`);
      const testbed = await createTwoHostTestbed(rate);
      teardowns.push(testbed.teardown);
      const remote = await startRegistryAt(testbed.registryNs, `${testbed.registryIp}:5000`, storage, work);
      processes.push(remote);
      try {
        results.push(
          await scenario(link, testbed.nodeNs, `http://${testbed.registryIp}:5000`, blobPath, taskId, layer.size, work),
        );
      } finally {
        await remote.stop();
        await testbed.teardown();
        teardowns.pop();
      }
    }

    console.log(`\nbench:mirror — one ${sizeMiB} MiB blob, curl as the client, median of ${runs} runs\n`);
    console.log(
      "link            direct MB/s  cold MB/s  warm MB/s  cold/direct  warm/direct  daemon CPU s  peak RSS MiB  limit",
    );
    for (const r of results) {
      console.log(
        [
          r.link.padEnd(15),
          r.directMBps.toFixed(0).padStart(11),
          r.coldMBps.toFixed(0).padStart(10),
          r.warmMBps.toFixed(0).padStart(10),
          `${r.coldVsDirect.toFixed(2)}x`.padStart(12),
          `${r.warmVsDirect.toFixed(2)}x`.padStart(12),
          r.daemonCpuSeconds.toFixed(1).padStart(13),
          String(r.daemonPeakRssMiB).padStart(13),
          ` ${r.limit}`,
        ].join(" "),
      );
    }
    if (latency) {
      console.log(
        `\nsmall blob (${config.size} B) over loopback, 250 sequential requests: direct p50 ${latency.direct!.p50.toFixed(2)} ms / p99 ${latency.direct!.p99.toFixed(2)} ms; ` +
          `warm d7y p50 ${latency.warm!.p50.toFixed(2)} ms / p99 ${latency.warm!.p99.toFixed(2)} ms`,
      );
    }
    const out = join(
      dirname(fileURLToPath(import.meta.url)),
      "..",
      "results",
      `mirror-${new Date().toISOString().replace(/[:.]/g, "-")}.json`,
    );
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, `${JSON.stringify({ sizeMiB, runs, results, latency }, null, 2)}\n`);
    console.log(`\nwritten ${out}`);
  } finally {
    for (const teardown of teardowns) await teardown();
    for (const proc of processes) await proc.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`bench:mirror: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
