/**
 * bench:transport — how fast pieces move between two daemons on loopback (the piece transport:
 * plain HTTP/1.1 on the upload port over pooled undici connections). A parent daemon holds one blob;
 * measured side by side: (a) raw piece GETs from the parent's upload server with 1, 4 and 8
 * requests in flight, (b) a child daemon downloading the whole blob from the parent through the
 * scheduler, (c) the same child pulling it from the registry (cold, back to source).
 *
 *   npm run bench:transport -- [--size-mib 256]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DfdaemonService } from "@d7y/proto/dfdaemon/v1";
import { createRpcClient } from "@d7y/rpc";
import { type DaemonProcess, startDaemonProcess } from "@d7y/test/helpers/daemon-process";
import { buildImage, pushImage } from "@d7y/test/helpers/image";
import { waitFor } from "@d7y/test/helpers/processes";
import { startRegistry } from "@d7y/test/helpers/registry";
import { startSchedulerProcess } from "@d7y/test/helpers/scheduler-process";
import { Agent, request } from "undici";
import { processUsage } from "./testbed.js";

const { values } = parseArgs({ options: { "size-mib": { type: "string", default: "256" } } });
const sizeMiB = Number(values["size-mib"]);

async function download(daemon: DaemonProcess, url: string): Promise<number> {
  const began = process.hrtime.bigint();
  for await (const _ of createRpcClient(DfdaemonService, daemon.apiUrl).download({ download: { url } })) {
    // progress messages
  }
  return Number(process.hrtime.bigint() - began) / 1e9;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "d7y-bench-transport-"));
  const registry = await startRegistry();
  const scheduler = await startSchedulerProcess();
  const daemons: DaemonProcess[] = [];
  try {
    const image = await buildImage({ layers: [{ size: sizeMiB * 1024 * 1024, seed: `transport-${Date.now()}` }] });
    await pushImage(registry.url, "bench/transport", "v1", image);
    const layer = image.layersFor("linux/amd64")[0]!;
    const url = `${registry.url}/v2/bench/transport/blobs/${layer.digest}`;
    const common = { registries: [registry.url], schedulers: [scheduler.url], announceInterval: "1s" };
    const parent = await startDaemonProcess(common);
    daemons.push(parent);
    await waitFor(async () => (await request(`${parent.uploadUrl}/stats`)).statusCode === 200, {
      what: "parent",
      timeoutMs: 10_000,
    });
    const parentSeconds = await download(parent, url);
    const taskId = layer.digest.slice(7);
    const { pieceCount, pieceLength } = await createRpcClient(DfdaemonService, parent.apiUrl).statTask({ taskId });

    // (a) raw piece GETs.
    const raw: Record<number, number> = {};
    for (const inFlight of [1, 4, 8]) {
      const agent = new Agent({ connections: inFlight });
      const began = process.hrtime.bigint();
      let next = 0;
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (next < pieceCount) {
            const number = next++;
            const response = await request(`${parent.uploadUrl}/tasks/${taskId}/pieces/${number}`, {
              dispatcher: agent,
            });
            for await (const _ of response.body) {
              // drain
            }
          }
        }),
      );
      raw[inFlight] = layer.size / 1e6 / (Number(process.hrtime.bigint() - began) / 1e9);
      await agent.close();
    }

    // (b) child from the parent; (c) another child from the registry (no parent: the scheduler sends it back to source).
    const child = await startDaemonProcess(common);
    daemons.push(child);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const p2pSeconds = await download(child, url);
    const childUsage = await processUsage(child.process.pid);

    console.log(
      `\nbench:transport — one ${sizeMiB} MiB blob (${pieceCount} pieces of ${Number(pieceLength) / 2 ** 20} MiB) on loopback\n`,
    );
    console.log(`parent, back to source from docker-registry:  ${(layer.size / 1e6 / parentSeconds).toFixed(0)} MB/s`);
    for (const [inFlight, mbps] of Object.entries(raw)) {
      console.log(`raw piece GETs from the parent, ${inFlight} in flight: ${mbps.toFixed(0).padStart(5)} MB/s`);
    }
    console.log(
      `child daemon from the parent (verify, store, hash): ${(layer.size / 1e6 / p2pSeconds).toFixed(0)} MB/s ` +
        `(${(p2pSeconds / parentSeconds).toFixed(2)}x the time of the origin fetch; child CPU ${childUsage.cpuSeconds.toFixed(1)} s)`,
    );
    console.log(
      `ratio: a 10 Gbit/s link is ${(10_000 / 8 / raw[8]!).toFixed(2)}x the raw transport with 8 in flight, a 1 Gbit/s link ${(1000 / 8 / raw[8]!).toFixed(2)}x`,
    );
  } finally {
    await Promise.allSettled(daemons.map((daemon) => daemon.destroy()));
    await scheduler.stop();
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`bench:transport: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
