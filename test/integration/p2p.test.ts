/**
 * P2P on the real parts: a d7y-scheduler process, a seed peer and several daemons (each its own
 * process, data directory and ports) on loopback, Debian's docker-registry behind a counting front,
 * and one real containerd per node pulling through its node's daemon.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DfdaemonService } from "@d7y/proto/dfdaemon/v1";
import { SchedulerService, type TaskInfo } from "@d7y/proto/scheduler/v1";
import { createRpcClient } from "@d7y/rpc";
import { startContainerd, type TestContainerd } from "../helpers/containerd.js";
import { DAEMON_BIN, type DaemonProcess, startDaemonProcess } from "../helpers/daemon-process.js";
import { type Blob, type BuiltImage, buildImage, pushImage } from "../helpers/image.js";
import { run, waitFor } from "../helpers/processes.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { type SchedulerProcess, startSchedulerProcess } from "../helpers/scheduler-process.js";

const MiB = 1024 * 1024;
const AMD64 = "linux/amd64";

interface Node {
  name: string;
  daemon: DaemonProcess;
  containerd: TestContainerd;
  hostsDir: string;
}

async function writeHosts(hostsDir: string, mirror: string, registry: string): Promise<void> {
  const result = await run(process.execPath, [
    DAEMON_BIN,
    "containerd-config",
    "--hosts-dir",
    hostsDir,
    "--mirror",
    mirror,
    "--registry",
    registry,
  ]);
  assert.equal(result.code, 0, result.stderr);
}

async function assertStored(containerd: TestContainerd, blobs: Blob[]): Promise<void> {
  const present = new Set(await containerd.contentDigests());
  for (const blob of blobs) {
    assert.ok(present.has(blob.digest), `containerd has ${blob.digest}`);
    const stored = await containerd.readContent(blob.digest);
    assert.equal(stored.digest, blob.digest, `stored bytes of ${blob.digest} match their digest`);
  }
}

function taskId(blob: Blob): string {
  return blob.digest.slice(7);
}

/** Host ids that gave this host's peer its pieces ("" = the origin). */
function sourcesOf(task: TaskInfo, hostId: string): Set<string> {
  const peer = task.peers.find((p) => p.host?.id === hostId);
  assert.ok(peer, `the scheduler knows ${hostId}'s peer of ${task.id}`);
  return new Set(Object.values(peer.pieceParents));
}

describe("P2P: scheduler, seed peer and daemons", function () {
  this.timeout(300_000);

  let work: string;
  let registry: TestRegistry;
  let scheduler: SchedulerProcess;
  let seed: DaemonProcess;
  const nodes: Node[] = [];
  let image: BuiltImage;
  let ref: string;
  const extra: Array<{ destroy(): Promise<void> } | { stop(): Promise<void> }> = [];

  async function startNode(name: string, schedulers = [scheduler.url], extraArgs: string[] = []): Promise<Node> {
    const daemon = await startDaemonProcess({
      registries: [registry.url],
      schedulers,
      announceInterval: "1s",
      extraArgs,
    });
    const containerd = await startContainerd();
    const hostsDir = join(work, `${name}.certs.d`);
    await writeHosts(hostsDir, daemon.mirrorUrl, registry.url);
    const node = { name, daemon, containerd, hostsDir };
    nodes.push(node);
    return node;
  }

  async function waitForHosts(client: ReturnType<typeof createRpcClient<typeof SchedulerService>>, count: number) {
    await waitFor(async () => (await client.listHosts({})).hosts.length >= count, {
      what: `${count} hosts announced`,
      timeoutMs: 15_000,
    });
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "d7y-p2p-test-"));
    registry = await startRegistry();
    scheduler = await startSchedulerProcess();
    image = await buildImage({
      layers: [
        { size: 40 * MiB, seed: "p2p-big" },
        { size: 2 * MiB, seed: "p2p-mid" },
        { size: 64 * 1024, seed: "p2p-small" },
      ],
    });
    await pushImage(registry.url, "d7y/p2p", "v1", image);
    ref = `${registry.host}/d7y/p2p:v1`;
    seed = await startDaemonProcess({
      registries: [registry.url],
      schedulers: [scheduler.url],
      seed: true,
      announceInterval: "1s",
    });
    for (const name of ["node1", "node2", "node3", "node4"]) await startNode(name);
    await waitForHosts(createRpcClient(SchedulerService, scheduler.url), 5);
    registry.reset();
  });

  after(async () => {
    await Promise.allSettled(nodes.flatMap((node) => [node.daemon.destroy(), node.containerd.stop()]));
    await Promise.allSettled(extra.map((thing) => ("destroy" in thing ? thing.destroy() : thing.stop())));
    await Promise.allSettled([seed?.destroy(), scheduler?.stop(), registry?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("node 1 pulls with containerd: the registry serves each blob once, through the seed", async () => {
    const [node1] = nodes;
    const pull = await node1!.containerd.pull(ref, { hostsDir: node1!.hostsDir, platform: AMD64 });
    assert.equal(pull.code, 0, pull.stderr);
    await assertStored(node1!.containerd, image.blobsFor(AMD64));
    await registry.settled();
    const client = createRpcClient(SchedulerService, scheduler.url);
    for (const blob of image.blobsFor(AMD64)) {
      assert.equal(registry.blobBytes(blob.digest), blob.size, `registry sent ${blob.digest} once`);
      const task = await client.statTask({ taskId: taskId(blob) });
      assert.deepEqual([...sourcesOf(task, node1!.daemon.hostId)], [seed.hostId], "node 1's pieces came from the seed");
      const seedPeer = task.peers.find((p) => p.host?.id === seed.hostId);
      assert.equal(seedPeer?.bytesFromSource, BigInt(blob.size), "the seed fetched it from the origin");
    }
  });

  it("node 1 pulls again after `ctr images rm --sync`: served from its own cache", async () => {
    const [node1] = nodes;
    await node1!.containerd.removeImage(ref);
    registry.reset();
    const seedBefore = await (await fetch(`${seed.uploadUrl}/stats`)).json();
    const pull = await node1!.containerd.pull(ref, { hostsDir: node1!.hostsDir, platform: AMD64 });
    assert.equal(pull.code, 0, pull.stderr);
    await assertStored(node1!.containerd, image.blobsFor(AMD64));
    await registry.settled();
    assert.equal(registry.blobGets().length, 0);
    assert.deepEqual(
      await (await fetch(`${seed.uploadUrl}/stats`)).json(),
      seedBefore,
      "the seed uploaded nothing more",
    );
  });

  it("node 2 pulls: zero blob GETs reach the registry; the pieces came from node 1 and the seed", async () => {
    const node1 = nodes[0]!;
    const node2 = nodes[1]!;
    registry.reset();
    const pull = await node2.containerd.pull(ref, { hostsDir: node2.hostsDir, platform: AMD64 });
    assert.equal(pull.code, 0, pull.stderr);
    await assertStored(node2.containerd, image.blobsFor(AMD64));
    await registry.settled();
    assert.equal(registry.blobGets().length, 0);
    const client = createRpcClient(SchedulerService, scheduler.url);
    const big = image.layersFor(AMD64).find((blob) => blob.size > 10 * MiB)!;
    const task = await client.statTask({ taskId: taskId(big) });
    const sources = sourcesOf(task, node2.daemon.hostId);
    assert.ok(!sources.has(""), "nothing from the origin");
    for (const source of sources)
      assert.ok([node1.daemon.hostId, seed.hostId].includes(source), `${source} is node 1 or the seed`);
    // The daemon's own records agree with the scheduler's.
    const local = await createRpcClient(DfdaemonService, node2.daemon.apiUrl).statTask({
      taskId: taskId(big),
      withPieces: true,
    });
    assert.equal(local.pieces.length, local.pieceCount);
    assert.ok(local.pieces.every((piece) => piece.parentId !== "" && sources.has(piece.parentId)));
  });

  it("four nodes pull at once: the registry still serves each blob at most once", async () => {
    const fresh = await buildImage({
      layers: [
        { size: 24 * MiB, seed: "p2p-fanout" },
        { size: 500 * 1024, seed: "p2p-fanout-small" },
      ],
    });
    await pushImage(registry.url, "d7y/fanout", "v1", fresh);
    registry.reset();
    const freshRef = `${registry.host}/d7y/fanout:v1`;
    const pulls = await Promise.all(
      nodes.slice(0, 4).map((node) => node.containerd.pull(freshRef, { hostsDir: node.hostsDir, platform: AMD64 })),
    );
    for (const pull of pulls) assert.equal(pull.code, 0, pull.stderr);
    for (const node of nodes.slice(0, 4)) await assertStored(node.containerd, fresh.blobsFor(AMD64));
    await registry.settled();
    for (const blob of fresh.blobsFor(AMD64)) {
      assert.ok(
        registry.blobBytes(blob.digest) <= blob.size,
        `${blob.digest}: ${registry.blobBytes(blob.digest)} bytes from the registry`,
      );
    }
  });
});
