/**
 * P2P when things break: a parent killed mid-transfer, a parent serving corrupt bytes, the
 * scheduler killed mid-pull, and two schedulers splitting tasks by consistent hashing. Real
 * processes on loopback and the real registry; no seed peer, so the first daemon of a task goes to
 * the origin and the next ones use it as their parent.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { HashRing } from "@d7y/proto";
import { DfdaemonService } from "@d7y/proto/dfdaemon/v1";
import { SchedulerService } from "@d7y/proto/scheduler/v1";
import { createRpcClient } from "@d7y/rpc";
import { startContainerd, type TestContainerd } from "../helpers/containerd.js";
import { DAEMON_BIN, type DaemonProcess, startDaemonProcess } from "../helpers/daemon-process.js";
import { type Blob, buildImage, pushImage } from "../helpers/image.js";
import { run, waitFor } from "../helpers/processes.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { type SchedulerProcess, startSchedulerProcess } from "../helpers/scheduler-process.js";

const MiB = 1024 * 1024;
const AMD64 = "linux/amd64";

async function freshBlob(registry: TestRegistry, repo: string, size: number): Promise<Blob> {
  const image = await buildImage({ layers: [{ size, seed: `${repo}-${size}` }] });
  await pushImage(registry.url, repo, "v1", image);
  return image.layersFor(AMD64)[0]!;
}

/** Downloads a blob through a daemon's API into a file; returns the sha256 of what was written. */
async function download(
  daemon: DaemonProcess,
  url: string,
  output: string,
  onProgress?: (count: number) => void | Promise<void>,
): Promise<string> {
  const client = createRpcClient(DfdaemonService, daemon.apiUrl);
  let progress = 0;
  for await (const message of client.download({ download: { url, outputPath: output } })) {
    if (message.response.case === "progress") await onProgress?.(++progress);
  }
  const { readFile } = await import("node:fs/promises");
  return `sha256:${createHash("sha256")
    .update(await readFile(output))
    .digest("hex")}`;
}

describe("P2P failures", function () {
  this.timeout(300_000);

  let work: string;
  let registry: TestRegistry;
  const cleanup: Array<() => Promise<unknown>> = [];

  async function daemonWith(schedulers: string[], extraArgs: string[] = []): Promise<DaemonProcess> {
    const daemon = await startDaemonProcess({
      registries: [registry.url],
      schedulers,
      announceInterval: "1s",
      extraArgs,
    });
    cleanup.push(() => daemon.destroy());
    return daemon;
  }

  async function schedulerProcess(): Promise<SchedulerProcess> {
    const scheduler = await startSchedulerProcess();
    cleanup.push(() => scheduler.stop());
    return scheduler;
  }

  async function waitForHosts(scheduler: SchedulerProcess, count: number): Promise<void> {
    const client = createRpcClient(SchedulerService, scheduler.url);
    await waitFor(async () => (await client.listHosts({})).hosts.length >= count, {
      what: `${count} hosts`,
      timeoutMs: 15_000,
    });
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "d7y-p2p-failures-"));
    registry = await startRegistry();
  });

  after(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("a parent killed mid-transfer: the pull completes with the right digest", async () => {
    const scheduler = await schedulerProcess();
    const parent = await daemonWith([scheduler.url]);
    const child = await daemonWith([scheduler.url], ["--concurrent-pieces", "1"]);
    await waitForHosts(scheduler, 2);
    const blob = await freshBlob(registry, "d7y/kill-parent", 96 * MiB);
    const url = `${registry.url}/v2/d7y/kill-parent/blobs/${blob.digest}`;
    assert.equal(await download(parent, url, join(work, "parent.out")), blob.digest);
    registry.reset();
    let killed = false;
    const digest = await download(child, url, join(work, "child.out"), async (count) => {
      if (count === 3 && !killed) {
        killed = true;
        await parent.process.stop("SIGKILL");
      }
    });
    assert.ok(killed, "the parent was killed while the child was downloading");
    assert.equal(digest, blob.digest);
    const local = await createRpcClient(DfdaemonService, child.apiUrl).statTask({
      taskId: blob.digest.slice(7),
      withPieces: true,
    });
    const fromParent = local.pieces.filter((piece) => piece.parentId === parent.hostId).length;
    assert.ok(
      fromParent >= 1 && fromParent < local.pieceCount,
      `some pieces (${fromParent}/${local.pieceCount}) came from the killed parent`,
    );
  });

  it("a parent serving corrupt bytes is detected, never reaches containerd, and is not chosen again", async () => {
    const scheduler = await schedulerProcess();
    const liar = await daemonWith([scheduler.url], ["--test-corrupt-uploads"]);
    const victim = await daemonWith([scheduler.url]);
    await waitForHosts(scheduler, 2);
    const image = await buildImage({ layers: [{ size: 20 * MiB, seed: "corrupt-parent" }] });
    await pushImage(registry.url, "d7y/liar", "v1", image);
    const layer = image.layersFor(AMD64)[0]!;
    // The liar gets the blob first (from the origin): it stores it correctly but corrupts what it uploads.
    assert.equal(
      await download(liar, `${registry.url}/v2/d7y/liar/blobs/${layer.digest}`, join(work, "liar.out")),
      layer.digest,
    );
    const containerd: TestContainerd = await startContainerd();
    cleanup.push(() => containerd.stop());
    const hostsDir = join(work, "victim.certs.d");
    const written = await run(process.execPath, [
      DAEMON_BIN,
      "containerd-config",
      "--hosts-dir",
      hostsDir,
      "--mirror",
      victim.mirrorUrl,
      "--registry",
      registry.url,
    ]);
    assert.equal(written.code, 0, written.stderr);
    const pull = await containerd.pull(`${registry.host}/d7y/liar:v1`, { hostsDir, platform: AMD64 });
    assert.equal(pull.code, 0, pull.stderr);
    for (const blob of image.blobsFor(AMD64)) {
      const stored = await containerd.readContent(blob.digest);
      assert.equal(stored.digest, blob.digest, "containerd got only verified bytes");
    }
    const client = createRpcClient(SchedulerService, scheduler.url);
    const hosts = await client.listHosts({});
    const liarHost = hosts.hosts.find((h) => h.host?.id === liar.hostId);
    assert.ok((liarHost?.uploadFailedCount ?? 0) > 0, "the scheduler counted the liar's failed uploads");
    const victimLocal = await createRpcClient(DfdaemonService, victim.apiUrl).statTask({
      taskId: layer.digest.slice(7),
      withPieces: true,
    });
    assert.ok(
      victimLocal.pieces.every((piece) => piece.parentId !== liar.hostId),
      "no stored piece came from the liar",
    );
    // A third daemon is never offered the liar: it gets the blob from the victim (or the origin).
    const third = await daemonWith([scheduler.url]);
    await waitForHosts(scheduler, 3);
    assert.equal(
      await download(third, `${registry.url}/v2/d7y/liar/blobs/${layer.digest}`, join(work, "third.out")),
      layer.digest,
    );
    const task = await client.statTask({ taskId: layer.digest.slice(7) });
    const thirdPeer = task.peers.find((p) => p.host?.id === third.hostId)!;
    assert.ok(!thirdPeer.parentIds.some((id) => id.includes(liar.hostId)), "the liar was not chosen again");
    assert.ok(!Object.values(thirdPeer.pieceParents).includes(liar.hostId));
  });

  it("the scheduler killed mid-pull: the pull completes", async () => {
    const scheduler = await schedulerProcess();
    const parent = await daemonWith([scheduler.url]);
    const child = await daemonWith([scheduler.url], ["--concurrent-pieces", "1"]);
    await waitForHosts(scheduler, 2);
    const blob = await freshBlob(registry, "d7y/kill-scheduler", 64 * MiB);
    const url = `${registry.url}/v2/d7y/kill-scheduler/blobs/${blob.digest}`;
    assert.equal(await download(parent, url, join(work, "ks-parent.out")), blob.digest);
    let killed = false;
    const digest = await download(child, url, join(work, "ks-child.out"), async (count) => {
      if (count === 2 && !killed) {
        killed = true;
        await scheduler.kill();
      }
    });
    assert.ok(killed);
    assert.equal(digest, blob.digest);
    // With the scheduler gone, a new pull on another daemon goes to the origin and still works.
    const late = await daemonWith([scheduler.url]);
    registry.reset();
    assert.equal(await download(late, url, join(work, "ks-late.out")), blob.digest);
    await registry.settled();
    assert.equal(registry.blobBytes(blob.digest), blob.size, "the late daemon went to the origin");
  });

  it("a restarted scheduler relearns who holds what from the hosts' announcements", async () => {
    let scheduler = await schedulerProcess();
    const holder = await daemonWith([scheduler.url]);
    const blob = await freshBlob(registry, "d7y/relearn", 12 * MiB);
    const url = `${registry.url}/v2/d7y/relearn/blobs/${blob.digest}`;
    await waitForHosts(scheduler, 1);
    assert.equal(await download(holder, url, join(work, "relearn-holder")), blob.digest);
    scheduler = await scheduler.restart();
    cleanup.push(() => scheduler.stop());
    const client = createRpcClient(SchedulerService, scheduler.url);
    await waitFor(
      async () => {
        try {
          const task = await client.statTask({ taskId: blob.digest.slice(7) });
          return task.peers.some((p) => p.host?.id === holder.hostId);
        } catch {
          return false;
        }
      },
      { what: "the holder's task re-announced", timeoutMs: 15_000 },
    );
    const newcomer = await daemonWith([scheduler.url]);
    await waitForHosts(scheduler, 2);
    registry.reset();
    assert.equal(await download(newcomer, url, join(work, "relearn-newcomer")), blob.digest);
    await registry.settled();
    assert.equal(registry.blobGets(blob.digest).length, 0, "the newcomer got it from the holder");
  });

  it("two schedulers: a task maps to one by consistent hashing, and its peers meet there", async () => {
    const s1 = await schedulerProcess();
    const s2 = await schedulerProcess();
    const addresses = [s1.url, s2.url];
    const a = await daemonWith(addresses);
    const b = await daemonWith(addresses);
    await waitForHosts(s1, 2);
    await waitForHosts(s2, 2);
    const ring = new HashRing(addresses);
    const blobs: Blob[] = [];
    // Enough blobs that each scheduler owns at least one (bounded).
    for (
      let i = 0;
      i < 16 && (blobs.length < 4 || new Set(blobs.map((b) => ring.get(b.digest.slice(7)))).size < 2);
      i++
    ) {
      blobs.push(await freshBlob(registry, `d7y/hash${i}`, 5 * MiB + i));
    }
    assert.equal(new Set(blobs.map((b) => ring.get(b.digest.slice(7)))).size, 2, "both schedulers own tasks");
    registry.reset();
    for (const [i, blob] of blobs.entries()) {
      const url = `${registry.url}/v2/d7y/hash${i}/blobs/${blob.digest}`;
      assert.equal(await download(a, url, join(work, `hash-a-${i}`)), blob.digest);
      assert.equal(await download(b, url, join(work, `hash-b-${i}`)), blob.digest);
      const owner = ring.get(blob.digest.slice(7))!;
      const other = addresses.find((address) => address !== owner)!;
      const task = await createRpcClient(SchedulerService, owner).statTask({ taskId: blob.digest.slice(7) });
      assert.ok(task.peers.some((p) => p.host?.id === a.hostId) && task.peers.some((p) => p.host?.id === b.hostId));
      await assert.rejects(
        createRpcClient(SchedulerService, other).statTask({ taskId: blob.digest.slice(7) }),
        (e: unknown) => {
          return e instanceof ConnectError && e.code === Code.NotFound;
        },
      );
    }
    await registry.settled();
    for (const blob of blobs)
      assert.equal(registry.blobBytes(blob.digest), blob.size, "the second daemon used the first");
  });
});
