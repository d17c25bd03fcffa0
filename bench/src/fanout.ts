/**
 * bench:fanout — N daemons, each in its own network namespace with a capped uplink, pull one blob
 * at once through their mirrors (a scheduler and a seed peer on their own hosts, the registry behind
 * a capped origin link). Measured side by side with the same N nodes pulling straight from the
 * registry. Prints each node's completion time, origin bytes / blob size, and what each node
 * uploaded, against the peer-assisted lower bound.
 *
 *   npm run bench:fanout -- [--nodes 8] [--size-mib 256] [--origin-mbit 400] [--node-mbit 1000] [--parents 4]
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DAEMON_BIN } from "@d7y/test/helpers/daemon-process";
import { buildImage, pushImage } from "@d7y/test/helpers/image";
import { freePort, run, spawnTracked, type TrackedProcess, waitFor } from "@d7y/test/helpers/processes";
import { SCHEDULER_BIN } from "@d7y/test/helpers/scheduler-process";
import {
  createSwarmTestbed,
  type Place,
  processUsage,
  ROOT_NS,
  type SwarmTestbed,
  startRegistryAt,
  txBytes,
} from "./testbed.js";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "8" },
    "size-mib": { type: "string", default: "256" },
    "origin-mbit": { type: "string", default: "400" },
    "node-mbit": { type: "string", default: "1000" },
    parents: { type: "string", default: "4" },
  },
});
const N = Math.min(32, Math.max(1, Number(values.nodes)));
const sizeMiB = Number(values["size-mib"]);
const originMbit = Number(values["origin-mbit"]);
const nodeMbit = Number(values["node-mbit"]);

async function inPlace(place: Place, cmd: string, args: string[], timeoutMs = 600_000) {
  const [c, a] = place.wrap(cmd, args);
  return run(c, a, { timeoutMs });
}

async function curlTime(place: Place, url: string): Promise<{ seconds: number; bytes: number; status: number }> {
  const result = await inPlace(place, "curl", [
    "-s",
    "-o",
    "/dev/null",
    "-w",
    "%{time_total} %{size_download} %{http_code}",
    url,
  ]);
  const [seconds, bytes, status] = result.stdout.trim().split(" ").map(Number);
  return { seconds: seconds!, bytes: bytes!, status: status! };
}

function stats(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1]! };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "d7y-bench-fanout-"));
  const processes: TrackedProcess[] = [];
  let testbed: SwarmTestbed | undefined;
  try {
    const image = await buildImage({ layers: [{ size: sizeMiB * 1024 * 1024, seed: `fanout-${Date.now()}` }] });
    const layer = image.layersFor("linux/amd64")[0]!;
    const size = layer.size;
    const storage = join(work, "registry");
    const port = await freePort();
    const loader = await startRegistryAt(ROOT_NS, `127.0.0.1:${port}`, storage, work);
    await pushImage(`http://127.0.0.1:${port}`, "bench/fanout", "v1", image);
    await loader.stop();

    // h1 registry (origin uplink capped), h2 scheduler, h3 seed, h4.. nodes.
    testbed = await createSwarmTestbed([originMbit, nodeMbit, nodeMbit, ...Array.from({ length: N }, () => nodeMbit)]);
    const [origin, schedulerHost, seedHost, ...nodeHosts] = testbed.hosts;
    processes.push(await startRegistryAt(origin!.place, `${origin!.ip}:5000`, storage, work));
    const registryUrl = `http://${origin!.ip}:5000`;
    const [sc, sa] = schedulerHost!.place.wrap(process.execPath, [
      SCHEDULER_BIN,
      "--host",
      schedulerHost!.ip,
      "--port",
      "8002",
      "--log-level",
      "warn",
    ]);
    processes.push(spawnTracked(sc, sa, { name: "scheduler" }));
    const schedulerUrl = `http://${schedulerHost!.ip}:8002`;

    const daemons: Array<{ proc: TrackedProcess; place: Place; ip: string }> = [];
    for (const [i, host] of [seedHost!, ...nodeHosts].entries()) {
      const seed = i === 0;
      const [c, a] = host.place.wrap(process.execPath, [
        DAEMON_BIN,
        "--data-dir",
        join(work, `daemon-${i}`),
        "--registry",
        registryUrl,
        "--scheduler",
        schedulerUrl,
        "--announce-interval",
        "2s",
        "--host-ip",
        host.ip,
        "--upload-host",
        host.ip,
        "--api-host",
        seed ? host.ip : "127.0.0.1",
        "--proxy-host",
        "127.0.0.1",
        "--log-level",
        "warn",
        ...(seed ? ["--seed"] : []),
      ]);
      const proc = spawnTracked(c, a, { name: seed ? "seed" : `node${i}` });
      processes.push(proc);
      daemons.push({ proc, place: host.place, ip: host.ip });
    }
    await waitFor(
      async () => {
        const result = await inPlace(schedulerHost!.place, "curl", [
          "-s",
          "-X",
          "POST",
          "-H",
          "content-type: application/json",
          "-d",
          "{}",
          `${schedulerUrl}/d7y.scheduler.v1.SchedulerService/ListHosts`,
        ]);
        const hosts = (JSON.parse(result.stdout || "{}") as { hosts?: unknown[] }).hosts ?? [];
        return hosts.length >= N + 1;
      },
      { what: `${N + 1} hosts announced`, timeoutMs: 30_000, intervalMs: 250 },
    );
    const nodes = daemons.slice(1);
    const blobPath = `/v2/bench/fanout/blobs/${layer.digest}`;

    // Side by side: first every node straight from the registry (client-server), then through d7y.
    const csStart = Date.now();
    const direct = await Promise.all(nodes.map((node) => curlTime(node.place, `${registryUrl}${blobPath}`)));
    const csWall = (Date.now() - csStart) / 1000;
    const originBefore = await txBytes(origin!.place);
    const p2pStart = Date.now();
    const p2p = await Promise.all(nodes.map((node) => curlTime(node.place, `http://127.0.0.1:4001${blobPath}`)));
    const p2pWall = (Date.now() - p2pStart) / 1000;
    const originBytes = (await txBytes(origin!.place)) - originBefore;
    for (const result of [...direct, ...p2p]) {
      if (result.status !== 200 || result.bytes !== size)
        throw new Error(`a pull failed: HTTP ${result.status}, ${result.bytes} bytes`);
    }
    const uploads: number[] = [];
    for (const daemon of daemons) {
      const result = await inPlace(daemon.place, "curl", ["-s", `http://${daemon.ip}:4005/stats`]);
      uploads.push((JSON.parse(result.stdout) as { uploadedBytes: number }).uploadedBytes);
    }
    const usage = await Promise.all(daemons.map((daemon) => processUsage(daemon.proc.pid)));

    const S = (size * 8) / 1e6; // megabits
    const U = originMbit;
    const tMin = Math.max(S / U, S / nodeMbit, (N * S) / (U + (N + 1) * nodeMbit));
    const tCs = Math.max((N * S) / U, S / nodeMbit);
    const p2pStats = stats(p2p.map((r) => r.seconds));
    const directStats = stats(direct.map((r) => r.seconds));

    console.log(`\nbench:fanout — ${N} nodes + 1 seed pull one ${sizeMiB} MiB blob at once`);
    console.log(
      `links: origin uplink ${originMbit} Mbit/s, every node/seed uplink ${nodeMbit} Mbit/s (tbf, network namespaces)\n`,
    );
    console.log("node      p2p s   direct s   uploaded MiB   CPU s   peak RSS MiB");
    console.log(
      `seed          -          -   ${(uploads[0]! / 2 ** 20).toFixed(0).padStart(12)}   ${usage[0]!.cpuSeconds.toFixed(1).padStart(5)}   ${String(usage[0]!.peakRssMiB).padStart(12)}`,
    );
    for (const [i] of nodes.entries()) {
      console.log(
        `node${String(i + 1).padEnd(3)} ${p2p[i]!.seconds.toFixed(2).padStart(8)} ${direct[i]!.seconds.toFixed(2).padStart(10)}   ${(uploads[i + 1]! / 2 ** 20).toFixed(0).padStart(12)}   ${usage[i + 1]!.cpuSeconds.toFixed(1).padStart(5)}   ${String(usage[i + 1]!.peakRssMiB).padStart(12)}`,
      );
    }
    console.log(
      `\nd7y:    p50 ${p2pStats.p50.toFixed(2)} s, p99 ${p2pStats.p99.toFixed(2)} s, max ${p2pStats.max.toFixed(2)} s (wall ${p2pWall.toFixed(2)} s)`,
    );
    console.log(
      `direct: p50 ${directStats.p50.toFixed(2)} s, p99 ${directStats.p99.toFixed(2)} s, max ${directStats.max.toFixed(2)} s (wall ${csWall.toFixed(2)} s)`,
    );
    console.log(`bound:  T_min ${tMin.toFixed(2)} s (peer-assisted), T_cs ${tCs.toFixed(2)} s (client-server)`);
    console.log(
      `ratios: d7y max / T_min ${(p2pStats.max / tMin).toFixed(2)}, direct max / d7y max ${(directStats.max / p2pStats.max).toFixed(2)}x faster, ` +
        `origin bytes / blob size ${(originBytes / size).toFixed(3)} (link bytes, incl. TCP/IP headers; direct was ${N}.0)`,
    );
    const cpu = usage.reduce((sum, u) => sum + u.cpuSeconds, 0);
    const cpuShare = cpu / (p2pWall * cpus().length);
    console.log(
      `limit:  daemons used ${cpu.toFixed(1)} CPU s in ${p2pWall.toFixed(1)} s on ${cpus().length} cores (${(cpuShare * 100).toFixed(0)}% of the machine, ` +
        `curl and the kernel not counted): ${cpuShare > 0.6 ? "CPU-bound, scale the link caps down" : "the links, not the CPU"}`,
    );
    const out = join(
      dirname(fileURLToPath(import.meta.url)),
      "..",
      "results",
      `fanout-${new Date().toISOString().replace(/[:.]/g, "-")}.json`,
    );
    await mkdir(dirname(out), { recursive: true });
    await writeFile(
      out,
      `${JSON.stringify({ N, sizeMiB, originMbit, nodeMbit, p2p, direct, uploads, usage, originBytes, tMin, tCs, p2pWall, csWall }, null, 2)}\n`,
    );
    console.log(`\nwritten ${out}`);
  } finally {
    for (const proc of processes.reverse()) await proc.stop("SIGTERM", 10_000);
    await testbed?.teardown();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`bench:fanout: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
