import assert from "node:assert/strict";
import { HostType } from "@d7y/proto/common/v1";
import type { ClusterStats } from "@d7y/proto/scheduler/v1";
import { announceHost, createHarness, type Harness, MiB, PeerStream, TASK, until } from "./fixture.js";

describe("scheduler WatchStats", () => {
  let harness: Harness;
  afterEach(() => harness?.close());

  it("streams hosts with bytes from peers, from the origin and uploaded, and the task in flight", async () => {
    harness = createHarness();
    await announceHost(harness.client, "host-a", { type: "seed" });
    const first = new PeerStream(harness.client, "host-a", "peer-a");
    assert.equal((await first.register()).response.case, "needBackToSource");
    first.send({
      case: "downloadPeerBackToSourceStarted",
      value: { contentLength: BigInt(16 * MiB), pieceLength: BigInt(4 * MiB) },
    });
    first.piece(0);
    first.piece(1);
    await until(() => harness.state.peers.get("peer-a")?.finishedPieces.size === 2);
    await announceHost(harness.client, "host-b");
    const second = new PeerStream(harness.client, "host-b", "peer-b");
    await second.register();
    second.send({ case: "downloadPeerStarted", value: {} });
    second.piece(0, "host-a");
    await until(() => harness.state.peers.get("peer-b")?.finishedPieces.size === 1);

    const abort = new AbortController();
    const stream = harness.client.watchStats({ intervalMs: 1 }, { signal: abort.signal })[Symbol.asyncIterator]();
    const started = Date.now();
    const nextStats = async (): Promise<ClusterStats> => {
      const result = await stream.next();
      if (result.done) throw new Error("WatchStats ended");
      return result.value;
    };
    const snapshot = await nextStats();
    const hosts = new Map(snapshot.hosts.map((h) => [h.host?.id, h]));
    const a = hosts.get("host-a");
    const b = hosts.get("host-b");
    assert.equal(a?.type, HostType.SEED);
    assert.equal(a?.bytesFromSource, BigInt(8 * MiB));
    assert.equal(a?.bytesUploaded, BigInt(4 * MiB));
    assert.equal(b?.type, HostType.NORMAL);
    assert.equal(b?.bytesFromPeers, BigInt(4 * MiB));
    assert.equal(b?.bytesUploaded, 0n);
    assert.equal(snapshot.bytesFromPeers, BigInt(4 * MiB));
    assert.equal(snapshot.bytesFromSource, BigInt(8 * MiB));
    assert.equal(snapshot.timeMs, BigInt(harness.clock.now));
    assert.deepEqual(
      snapshot.tasksInFlight.map((t) => [t.taskId, t.peersRunning, t.finishedPiecesMax, t.pieceCount]),
      [[TASK, 2, 2, 4]],
    );

    // The next snapshot comes after the 200 ms floor, not after the 1 ms asked for.
    second.piece(1, "host-a");
    await until(() => harness.state.peers.get("peer-b")?.finishedPieces.size === 2);
    const next = await nextStats();
    assert.ok(Date.now() - started >= 190, "interval bounded below by 200 ms");
    assert.equal(next.hosts.find((h) => h.host?.id === "host-a")?.bytesUploaded, BigInt(8 * MiB));
    abort.abort();
    await first.end();
    await second.end();
  });

  it("ends when the client cancels", async () => {
    harness = createHarness();
    const abort = new AbortController();
    const received: number[] = [];
    const done = (async () => {
      try {
        for await (const stats of harness.client.watchStats({ intervalMs: 200 }, { signal: abort.signal })) {
          received.push(stats.hosts.length);
          abort.abort();
        }
      } catch {
        // cancelled
      }
    })();
    await done;
    assert.deepEqual(received, [0]);
  });
});
