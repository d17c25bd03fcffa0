import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code, type ConnectError } from "@connectrpc/connect";
import { HostSchema, TaskState } from "@d7y/proto/common/v1";
import { PeerState } from "@d7y/proto/scheduler/v1";
import { announceHost, createHarness, DIGEST, type Harness, MiB, PeerStream, parentIds, TASK } from "./fixture.js";

const hostTask = {
  taskId: TASK,
  url: "http://registry.example/v2/a/blobs/x",
  digest: DIGEST,
  contentLength: BigInt(10 * MiB),
  pieceLength: BigInt(4 * MiB),
  pieceCount: 3,
};

describe("scheduler hosts", () => {
  let harness: Harness;
  afterEach(() => harness?.close());

  it("rebuilds Succeeded peers from the tasks a host announces (a restarted scheduler relearns)", async () => {
    harness = createHarness();
    await announceHost(harness.client, "host-a", { tasks: [hostTask] });
    const task = await harness.client.statTask({ taskId: TASK });
    assert.equal(task.state, TaskState.SUCCEEDED);
    assert.equal(task.pieceCount, 3);
    assert.equal(task.contentLength, BigInt(10 * MiB));
    assert.equal(task.peers.length, 1);
    const peer = await harness.client.statPeer({ peerId: `host-a-${TASK}` });
    assert.equal(peer.state, PeerState.SUCCEEDED);
    assert.deepEqual(peer.finishedPieces, [0, 1, 2]);
    // Announcing again does not duplicate anything.
    await announceHost(harness.client, "host-a", { tasks: [hostTask] });
    assert.equal(harness.state.peers.size, 1);

    await announceHost(harness.client, "host-b");
    const stream = new PeerStream(harness.client, "host-b", "peer-b");
    assert.deepEqual(parentIds(await stream.register()), [`host-a-${TASK}`]);
    await stream.end();
    const hosts = await harness.client.listHosts({});
    assert.deepEqual(hosts.hosts.map((host) => [host.host?.id, host.peerCount]).sort(), [
      ["host-a", 1],
      ["host-b", 1],
    ]);
  });

  it("drops a host's finished peers of tasks its full list no longer has (evicted there)", async () => {
    harness = createHarness();
    const other = { ...hostTask, taskId: "task-2" };
    await announceHost(harness.client, "host-a", { tasks: [hostTask, other], intervalMs: 1000 });
    assert.equal(harness.state.peers.size, 2);
    // A partial list drops nothing.
    await announceHost(harness.client, "host-a", { tasks: [hostTask], intervalMs: 1000 });
    assert.equal(harness.state.peers.size, 2);
    // The full list drops task-2's peer, once it is older than one interval.
    await announceHost(harness.client, "host-a", { tasks: [hostTask], intervalMs: 1000, tasksComplete: true });
    assert.equal(harness.state.peers.size, 2, "a peer that just finished is kept");
    harness.clock.now += 1500;
    await announceHost(harness.client, "host-a", { tasks: [hostTask], intervalMs: 1000, tasksComplete: true });
    assert.deepEqual([...harness.state.peers.keys()], [`host-a-${TASK}`]);
  });

  it("expires hosts not announced for max(3 x interval, hostTtlMin), and their peers leave", async () => {
    harness = createHarness({ hostTtlMinMs: 1_000, taskTtlMs: 5_000 });
    await announceHost(harness.client, "host-a", { intervalMs: 2_000, tasks: [hostTask] });
    await announceHost(harness.client, "host-b", { intervalMs: 100 });
    harness.clock.now += 1_001;
    harness.state.sweep();
    assert.deepEqual([...harness.state.hosts.keys()], ["host-a"], "host-b expired after hostTtlMin");
    harness.clock.now += 5_000;
    // Expired but not yet swept: already never offered.
    await announceHost(harness.client, "host-c");
    const stream = new PeerStream(harness.client, "host-c", "peer-c");
    assert.equal((await stream.register()).response.case, "needBackToSource");
    await stream.end();
    harness.state.sweep();
    assert.equal(harness.state.hosts.has("host-a"), false);
    assert.equal(harness.state.peers.has(`host-a-${TASK}`), false);
    const listed = await harness.client.listHosts({});
    assert.deepEqual(
      listed.hosts.map((host) => host.host?.id),
      ["host-c"],
    );
  });

  it("drops tasks without peers after taskTtlMs", async () => {
    harness = createHarness({ taskTtlMs: 5_000 });
    await announceHost(harness.client, "host-a", { tasks: [hostTask] });
    await harness.client.leaveHost({ hostId: "host-a" });
    assert.equal(harness.state.tasks.get(TASK)?.peers.size, 0);
    harness.state.sweep();
    assert.ok(harness.state.tasks.has(TASK), "kept within the TTL");
    harness.clock.now += 5_001;
    harness.state.sweep();
    assert.equal(harness.state.tasks.has(TASK), false);
  });

  it("rejects bad announcements with InvalidArgument and a clear message", async () => {
    harness = createHarness();
    const reject = async (request: Parameters<Harness["client"]["announceHost"]>[0], pattern: RegExp) => {
      await assert.rejects(harness.client.announceHost(request), (error: ConnectError) => {
        assert.equal(error.code, Code.InvalidArgument);
        assert.match(error.rawMessage, pattern);
        return true;
      });
    };
    const good = { id: "h", ip: "10.0.0.1", port: 4000, downloadPort: 4005 };
    await reject({}, /host is required/);
    await reject({ host: create(HostSchema, { ...good, id: "" }) }, /host\.id is required/);
    await reject({ host: create(HostSchema, { ...good, ip: "not-an-ip" }) }, /not an IP/);
    await reject({ host: create(HostSchema, { ...good, downloadPort: 0 }) }, /download_port/);
    await reject({ host: create(HostSchema, good), intervalMs: 10n ** 12n }, /interval_ms/);
    await reject(
      { host: create(HostSchema, good), tasks: [{ ...hostTask, pieceCount: 9 }] },
      /tasks\[0\]\.piece_count 9 does not match/,
    );
    await reject({ host: create(HostSchema, good), tasks: [{ ...hostTask, digest: "md5:x" }] }, /digest/);
    assert.equal(harness.state.hosts.size, 0, "nothing applied");
    await harness.client.leaveHost({ hostId: "never-seen" });
  });
});
