/**
 * npm run demo — the user story, end to end on this machine: a local registry with a test image,
 * the manager, a scheduler, a seed peer and three nodes (each a d7y-daemon; containerd pulls through
 * the node's mirror). Steps: first pull on node 1, pull again on node 1 after `ctr images rm --sync`,
 * pull on node 2, then preheat another image through the manager's REST API and pull it on node 3.
 * Prints, for each step, the time and where the bytes came from.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startContainerd, type TestContainerd } from "@d7y/test/helpers/containerd";
import { DAEMON_BIN, type DaemonProcess, startDaemonProcess } from "@d7y/test/helpers/daemon-process";
import { type BuiltImage, buildImage, pushImage } from "@d7y/test/helpers/image";
import { type ManagerProcess, startManagerProcess } from "@d7y/test/helpers/manager-process";
import { run, waitFor } from "@d7y/test/helpers/processes";
import { startRegistry, type TestRegistry } from "@d7y/test/helpers/registry";
import { type SchedulerProcess, startSchedulerProcess } from "@d7y/test/helpers/scheduler-process";
import { request } from "undici";

const MiB = 1024 * 1024;
const PLATFORM = "linux/amd64";

interface Row {
  step: string;
  seconds: number;
  imageBytes: number;
  origin: number;
  peers: number;
  cache: number;
}

async function uploaded(daemons: DaemonProcess[]): Promise<number> {
  let total = 0;
  for (const daemon of daemons) {
    const response = await request(`${daemon.uploadUrl}/stats`);
    total += ((await response.body.json()) as { uploadedBytes: number }).uploadedBytes;
  }
  return total;
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "d7y-demo-"));
  let registry: TestRegistry | undefined;
  let manager: ManagerProcess | undefined;
  let scheduler: SchedulerProcess | undefined;
  let containerd: TestContainerd | undefined;
  const daemons: DaemonProcess[] = [];
  try {
    console.log("starting a local registry, the manager, a scheduler, a seed peer and three nodes...");
    registry = await startRegistry();
    const build = (seed: string) =>
      buildImage({
        layers: [
          { size: 48 * MiB, seed },
          { size: 8 * MiB, seed: `${seed}-2` },
          { size: 64 * 1024, seed: `${seed}-3` },
        ],
      });
    const [app, tool]: BuiltImage[] = await Promise.all([build("demo-app"), build("demo-tool")]);
    await pushImage(registry.url, "demo/app", "v1", app!);
    await pushImage(registry.url, "demo/tool", "v1", tool!);
    manager = await startManagerProcess();
    scheduler = await startSchedulerProcess({ manager: manager.rpcUrl });
    const common = { registries: [registry.url], manager: manager.rpcUrl, announceInterval: "1s" };
    const seed = await startDaemonProcess({ ...common, seed: true });
    daemons.push(seed);
    const nodes: DaemonProcess[] = [];
    for (let i = 0; i < 3; i++) nodes.push(await startDaemonProcess(common));
    daemons.push(...nodes);
    containerd = await startContainerd();
    const hostsDirs: string[] = [];
    for (const [i, node] of nodes.entries()) {
      const dir = join(work, `node${i + 1}.certs.d`);
      const written = await run(process.execPath, [
        DAEMON_BIN,
        "containerd-config",
        "--hosts-dir",
        dir,
        "--mirror",
        node.mirrorUrl,
        "--registry",
        registry.url,
      ]);
      if (written.code !== 0) throw new Error(written.stderr);
      hostsDirs.push(dir);
    }
    await waitFor(
      async () => {
        const seeds = (await (await request(`${manager!.url}/api/v1/seed-peers`)).body.json()) as Array<{
          state: string;
        }>;
        return seeds.some((s) => s.state === "active");
      },
      { what: "the seed peer to register with the manager", timeoutMs: 20_000 },
    );
    await new Promise((resolve) => setTimeout(resolve, 1500)); // every node announced to the scheduler

    const rows: Row[] = [];
    const step = async (name: string, image: BuiltImage, ref: string, node: number) => {
      const ctr = containerd!;
      for (const existing of await ctr.images()) await ctr.removeImage(existing);
      registry!.reset();
      const uploadsBefore = await uploaded(daemons);
      const began = Date.now();
      const pull = await ctr.pull(`${registry!.host}/${ref}`, { hostsDir: hostsDirs[node - 1]!, platform: PLATFORM });
      const seconds = (Date.now() - began) / 1000;
      if (pull.code !== 0) throw new Error(`${name}: ${pull.stderr}`);
      for (const blob of image.blobsFor(PLATFORM)) {
        const stored = await ctr.readContent(blob.digest);
        if (stored.digest !== blob.digest) throw new Error(`${name}: ${blob.digest} stored wrong`);
      }
      await registry!.settled();
      const blobs = image.blobsFor(PLATFORM);
      const imageBytes = blobs.reduce((sum, blob) => sum + blob.size, 0);
      const origin = blobs.reduce((sum, blob) => sum + registry!.blobBytes(blob.digest), 0);
      const peers = (await uploaded(daemons)) - uploadsBefore;
      rows.push({
        step: name,
        seconds,
        imageBytes,
        origin,
        peers,
        cache: Math.max(0, imageBytes - Math.max(peers, origin)),
      });
    };

    await step("1. first pull on node 1", app!, "demo/app:v1", 1);
    await step("2. re-pull on node 1 (rm --sync)", app!, "demo/app:v1", 1);
    await step("3. pull on node 2", app!, "demo/app:v1", 2);
    registry.reset();
    const began = Date.now();
    const created = await request(`${manager.url}/api/v1/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        type: "preheat",
        args: { type: "image", url: `${registry.url}/v2/demo/tool/manifests/v1` },
      }),
    });
    const { id } = (await created.body.json()) as { id: number };
    const job = await waitFor(
      async () => {
        const state = ((await (await request(`${manager!.url}/api/v1/jobs/${id}`)).body.json()) as { state: string })
          .state;
        return state === "SUCCESS" || state === "FAILURE" ? state : undefined;
      },
      { what: "the preheat job", timeoutMs: 120_000, intervalMs: 200 },
    );
    if (job !== "SUCCESS") throw new Error(`preheat job ${id} ended in ${job}`);
    console.log(
      `preheat job ${id}: SUCCESS in ${((Date.now() - began) / 1000).toFixed(2)} s (the seed fetched demo/tool from the registry)`,
    );
    await step("4. pull on node 3 after preheat", tool!, "demo/tool:v1", 3);

    console.log(
      "\nstep                                  time      image      from origin   from peers   from local cache",
    );
    for (const row of rows) {
      console.log(
        `${row.step.padEnd(36)} ${`${row.seconds.toFixed(2)} s`.padStart(8)} ${mib(row.imageBytes).padStart(10)} ${mib(row.origin).padStart(14)} ${mib(row.peers).padStart(12)} ${mib(row.cache).padStart(18)}`,
      );
    }
    console.log(
      "\nfrom origin: blob bytes the registry sent in that step; from peers: bytes the seed and the nodes uploaded to each other; " +
        "from local cache: the rest of the image, served from the node's own disk. Step 1 goes origin -> seed -> node 1.",
    );
  } finally {
    await Promise.allSettled(daemons.map((daemon) => daemon.destroy()));
    await Promise.allSettled([scheduler?.stop(), containerd?.stop(), registry?.stop()]);
    await manager?.destroy();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
