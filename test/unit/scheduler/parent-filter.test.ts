import assert from "node:assert/strict";
import {
  descendantsOf,
  Host,
  type HostSpec,
  Peer,
  parentRejection,
  SCORE_WEIGHTS,
  scoreParent,
  selectParents,
  Task,
} from "@d7y/scheduler";
import { announceHost, createHarness, type Harness, MiB, PeerStream, parentIds, TASK, until } from "./fixture.js";

function hostSpec(id: string, extra: Partial<HostSpec> = {}): HostSpec {
  return {
    id,
    type: "normal",
    hostname: id,
    ip: "10.0.0.1",
    port: 4000,
    downloadPort: 4005,
    proxyPort: 4001,
    idc: "",
    location: "",
    uploadLimit: 0,
    uploadInFlight: 0,
    diskUsedBytes: 0,
    diskQuotaBytes: 0,
    ...extra,
  };
}

const download = { url: "http://r/x", digest: "", requestHeader: {}, needBackToSource: false };

function peer(id: string, hostId: string, state: Peer["state"], pieces: number[] = []): Peer {
  const result = new Peer(id, TASK, hostId, download, 0);
  result.state = state;
  for (const number of pieces) result.finishedPieces.add(number);
  return result;
}

/** A minimal view: every host alive unless listed as expired. */
function view(peers: Peer[], hosts: Host[], suspects: string[] = []) {
  return {
    peers: new Map(peers.map((p) => [p.id, p])),
    liveHost: (id: string) => hosts.find((host) => host.id === id),
    isSuspect: (id: string) => suspects.includes(id),
  };
}

describe("scheduler parent filter and evaluator", () => {
  let harness: Harness;
  afterEach(() => harness?.close());

  it("rejects itself, its own host, blocked, suspect, Failed/Left/Pending, expired, full and empty peers", () => {
    const hosts = [
      new Host(hostSpec("h-child"), 0, 1),
      new Host(hostSpec("h-1"), 0, 1),
      new Host(hostSpec("h-2"), 0, 1),
    ];
    hosts.push(new Host(hostSpec("h-full", { uploadLimit: 2, uploadInFlight: 2 }), 0, 1));
    hosts.push(new Host(hostSpec("h-seed", { type: "seed" }), 0, 1));
    const child = peer("child", "h-child", "running");
    const others = [
      peer("same-host", "h-child", "succeeded"),
      peer("blocked", "h-1", "succeeded"),
      peer("suspect", "h-2", "succeeded"),
      peer("failed", "h-1", "failed", [0]),
      peer("left", "h-1", "left", [0]),
      peer("pending", "h-1", "pending", [0]),
      peer("expired", "h-gone", "succeeded"),
      peer("full", "h-full", "succeeded"),
      peer("no-pieces", "h-1", "running"),
      peer("at-origin", "h-1", "back_to_source"),
      peer("seed-starting", "h-seed", "running"),
      peer("has-pieces", "h-1", "running", [1]),
    ];
    child.blockedPeers.add("blocked");
    const v = view([child, ...others], hosts, ["h-2"]);
    const reasons = Object.fromEntries(
      [child, ...others].map((p) => [p.id, parentRejection(child, p, v, new Set()) ?? "ok"]),
    );
    assert.deepEqual(reasons, {
      child: "itself",
      "same-host": "same host",
      blocked: "blocked",
      suspect: "suspect host",
      failed: "failed",
      left: "left",
      pending: "pending",
      expired: "host expired",
      full: "no free upload slot",
      "no-pieces": "no pieces yet",
      "at-origin": "ok",
      "seed-starting": "ok",
      "has-pieces": "ok",
    });
  });

  it("finds descendants through offered parents and piece sources, but not through finished peers", () => {
    const task = new Task(TASK, "http://r/x", "", 0);
    const a = peer("a", "h-a", "running", [0]);
    const b = peer("b", "h-b", "running", [0]);
    const c = peer("c", "h-c", "running", [0]);
    const d = peer("d", "h-d", "succeeded", [0]);
    b.offeredParents.add("a");
    c.pieceSourcePeers.add("b");
    d.pieceSourcePeers.add("a");
    for (const p of [a, b, c, d]) task.peers.add(p.id);
    const v = view([a, b, c, d], []);
    assert.deepEqual([...descendantsOf(a, task, v)].sort(), ["b", "c"]);
    assert.deepEqual([...descendantsOf(c, task, v)], []);
  });

  it("scores progress, upload success, free slots, seeds and locality", () => {
    const task = new Task(TASK, "http://r/x", "", 0);
    task.recordSize({ contentLength: 16 * MiB, pieceLength: 4 * MiB });
    const childHost = new Host(hostSpec("h-child", { idc: "dc1", location: "eu|fr" }), 0, 1);
    const near = new Host(hostSpec("h-near", { idc: "DC1", location: "eu|fr" }), 0, 1);
    const far = new Host(hostSpec("h-far", { idc: "dc2", uploadLimit: 4, uploadInFlight: 3 }), 0, 1);
    far.uploadCount = 1;
    far.uploadFailedCount = 1;
    const nearPeer = peer("near", "h-near", "running", [0, 1]);
    const farPeer = peer("far", "h-far", "succeeded");
    const nearScore = scoreParent({ peer: nearPeer, host: near }, childHost, task);
    const farScore = scoreParent({ peer: farPeer, host: far }, childHost, task);
    const w = SCORE_WEIGHTS;
    assert.ok(
      Math.abs(nearScore - (w.pieces * 0.5 + w.uploadSuccess + w.freeUploadSlots + w.hostType * 0.5 + w.locality)) <
        1e-9,
    );
    assert.ok(
      Math.abs(farScore - (w.pieces + w.uploadSuccess * 0.5 + w.freeUploadSlots * 0.25 + w.hostType * 0.5)) < 1e-9,
    );
    const child = peer("child", "h-child", "running");
    const chosen = selectParents(
      [
        { peer: farPeer, host: far },
        { peer: nearPeer, host: near },
      ],
      child,
      childHost,
      task,
      1,
    );
    assert.deepEqual(
      chosen.map((p) => p.id),
      [nearScore > farScore ? "near" : "far"],
    );
  });

  it("through the service: never offers blocked or failed peers, prefers seeds and local hosts", async () => {
    harness = createHarness({ backToSourceLimit: 10 });
    const task = {
      taskId: TASK,
      url: "http://r/x",
      contentLength: BigInt(8 * MiB),
      pieceLength: BigInt(4 * MiB),
      pieceCount: 2,
    };
    await announceHost(harness.client, "host-a", { tasks: [task] });
    await announceHost(harness.client, "host-b", { tasks: [task], idc: "dc1" });
    await announceHost(harness.client, "host-c", { tasks: [task] });
    await announceHost(harness.client, "host-child", { idc: "dc1" });
    harness.state.progress.failed(harness.state.peers.get(`host-c-${TASK}`)!, "test");
    const child = new PeerStream(harness.client, "host-child", "child");
    assert.deepEqual(parentIds(await child.register()), [`host-b-${TASK}`, `host-a-${TASK}`]);
    child.send({ case: "reschedulePeer", value: { blockedParents: [`host-b-${TASK}`] } });
    assert.deepEqual(parentIds(await child.next()), [`host-a-${TASK}`]);
    child.send({ case: "reschedulePeer", value: { blockedParents: ["host-a"] } });
    assert.equal((await child.next()).response.case, "needBackToSource");
    await child.end();
  });

  it("a non-temporary piece failure makes the parent host suspect for everyone; a temporary one only for that child", async () => {
    harness = createHarness({ backToSourceLimit: 10, badParentTtlMs: 60_000 });
    const task = {
      taskId: TASK,
      url: "http://r/x",
      contentLength: BigInt(8 * MiB),
      pieceLength: BigInt(4 * MiB),
      pieceCount: 2,
    };
    await announceHost(harness.client, "host-a", { tasks: [task], intervalMs: 3_600_000 });
    for (const id of ["host-1", "host-2", "host-3"]) await announceHost(harness.client, id, { intervalMs: 3_600_000 });

    const one = new PeerStream(harness.client, "host-1", "peer-1");
    assert.deepEqual(parentIds(await one.register()), [`host-a-${TASK}`]);
    one.send({ case: "downloadPieceFailed", value: { pieceNumber: 0, parentId: "host-a", temporary: true } });
    one.send({ case: "reschedulePeer", value: {} });
    assert.equal((await one.next()).response.case, "needBackToSource", "blocked for this child");
    const two = new PeerStream(harness.client, "host-2", "peer-2");
    assert.deepEqual(parentIds(await two.register()), [`host-a-${TASK}`], "still fine for others");

    two.send({ case: "downloadPieceFailed", value: { pieceNumber: 1, parentId: "host-a", temporary: false } });
    await until(() => harness.state.isSuspect("host-a"));
    const three = new PeerStream(harness.client, "host-3", "peer-3");
    assert.equal((await three.register()).response.case, "needBackToSource", "suspect for everyone");
    const hosts = await harness.client.listHosts({});
    assert.equal(hosts.hosts.find((host) => host.host?.id === "host-a")?.uploadFailedCount, 2);

    // After badParentTtlMs it may be offered again (with a score penalty).
    harness.clock.now += 60_001;
    for (const id of ["host-a", "host-1", "host-2", "host-3"]) {
      await announceHost(harness.client, id, id === "host-a" ? { tasks: [task] } : {});
    }
    three.send({ case: "reschedulePeer", value: {} });
    assert.deepEqual(parentIds(await three.next()), [`host-a-${TASK}`]);
    for (const stream of [one, two, three]) await stream.end();
  });
});
