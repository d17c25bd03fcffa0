import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { PeerState } from "@d7y/proto/scheduler/v1";
import {
  announceHost,
  createHarness,
  DIGEST,
  type Harness,
  MiB,
  PeerStream,
  parentIds,
  TASK,
  until,
} from "./fixture.js";

/** A peer that went to the origin and holds the first `pieces` pieces of a 4-piece task. */
async function sourcePeer(harness: Harness, hostId: string, pieces: number): Promise<PeerStream> {
  await announceHost(harness.client, hostId);
  const stream = new PeerStream(harness.client, hostId, `${hostId}-peer`);
  const answer = await stream.register();
  assert.equal(answer.response.case, "needBackToSource");
  stream.send({
    case: "downloadPeerBackToSourceStarted",
    value: { contentLength: BigInt(16 * MiB), pieceLength: BigInt(4 * MiB) },
  });
  for (let number = 0; number < pieces; number++) stream.piece(number);
  await until(() => harness.state.peers.get(stream.peerId)?.finishedPieces.size === pieces);
  return stream;
}

describe("scheduler AnnouncePeer", () => {
  let harness: Harness;
  afterEach(() => harness?.close());

  it("sends the first peer back to source when nobody has the task and there are no seeds", async () => {
    harness = createHarness();
    await announceHost(harness.client, "host-a");
    const stream = new PeerStream(harness.client, "host-a", "peer-a");
    const answer = await stream.register();
    assert.equal(answer.response.case, "needBackToSource");
    const task = await harness.client.statTask({ taskId: TASK });
    assert.equal(task.digest, DIGEST);
    assert.equal(task.backToSourceCount, 1);
    assert.equal(task.peers[0]?.state, PeerState.PENDING);
    await stream.end();
  });

  it("offers the first peer to the second once it reported pieces, with the task size", async () => {
    harness = createHarness();
    const first = await sourcePeer(harness, "host-a", 2);
    await announceHost(harness.client, "host-b");
    const second = new PeerStream(harness.client, "host-b", "peer-b");
    const answer = await second.register();
    assert.deepEqual(parentIds(answer), ["host-a-peer"]);
    assert.equal(answer.response.case, "normalTask");
    const normal = answer.response.value;
    assert.equal(normal.contentLength, BigInt(16 * MiB));
    assert.equal(normal.pieceLength, BigInt(4 * MiB));
    assert.equal(normal.pieceCount, 4);
    const parent = normal.candidateParents[0]!;
    assert.deepEqual(parent.finishedPieces, [0, 1]);
    assert.equal(parent.host?.ip, "10.0.0.1");
    assert.equal(parent.host?.downloadPort, 4005);
    assert.equal(parent.state, PeerState.BACK_TO_SOURCE);

    // The child reports pieces from the parent: counted on both sides, visible in StatPeer.
    second.send({ case: "downloadPeerStarted", value: {} });
    second.piece(0, "host-a");
    second.piece(1, "host-a");
    second.send({ case: "downloadPeerFinished", value: { contentLength: BigInt(16 * MiB), pieceCount: 4 } });
    await until(() => harness.state.peers.get("peer-b")?.state === "succeeded");
    const info = await harness.client.statPeer({ peerId: "peer-b" });
    assert.equal(info.state, PeerState.SUCCEEDED);
    assert.deepEqual(info.finishedPieces, [0, 1, 2, 3]);
    assert.deepEqual(info.pieceParents, { 0: "host-a", 1: "host-a" });
    assert.deepEqual(info.parentIds, ["host-a-peer"]);
    assert.equal(info.bytesFromPeers, BigInt(8 * MiB));
    const hosts = await harness.client.listHosts({});
    assert.equal(hosts.hosts.find((host) => host.host?.id === "host-a")?.uploadCount, 2);
    await first.end();
    await second.end();
  });

  it("makes a peer wait while another is at the origin, and offers that one once it starts", async () => {
    harness = createHarness({ retryIntervalMs: 20, retryLimit: 50 });
    await announceHost(harness.client, "host-a");
    await announceHost(harness.client, "host-b");
    const first = new PeerStream(harness.client, "host-a", "peer-a");
    assert.equal((await first.register()).response.case, "needBackToSource");
    const second = new PeerStream(harness.client, "host-b", "peer-b");
    const pending = second.register();
    await new Promise((resolve) => setTimeout(resolve, 50));
    first.send({ case: "downloadPeerBackToSourceStarted", value: {} });
    assert.deepEqual(parentIds(await pending), ["peer-a"]);
    await first.end();
    await second.end();
  });

  it("enforces the back-to-source limit, then sends the peer to the origin after the bounded wait", async () => {
    harness = createHarness({ retryIntervalMs: 20, retryLimit: 3 });
    await announceHost(harness.client, "host-a");
    await announceHost(harness.client, "host-b");
    const first = new PeerStream(harness.client, "host-a", "peer-a");
    assert.equal((await first.register()).response.case, "needBackToSource");
    const second = new PeerStream(harness.client, "host-b", "peer-b");
    const began = Date.now();
    const answer = await second.register();
    assert.equal(answer.response.case, "needBackToSource");
    assert.match(answer.response.value.description, /after 3 retries/);
    assert.ok(Date.now() - began >= 50, "the second peer waited for a parent first");
    await first.end();
    await second.end();

    await harness.close();
    harness = createHarness({ backToSourceLimit: 2, retryIntervalMs: 1_000 });
    await announceHost(harness.client, "host-a");
    await announceHost(harness.client, "host-b");
    const third = new PeerStream(harness.client, "host-a", "peer-c");
    const fourth = new PeerStream(harness.client, "host-b", "peer-d");
    assert.equal((await third.register()).response.case, "needBackToSource");
    const quick = Date.now();
    assert.equal((await fourth.register()).response.case, "needBackToSource");
    assert.ok(Date.now() - quick < 500, "within the limit: no wait");
    await third.end();
    await fourth.end();
  });

  it("answers empty_task when the peer registers with every piece", async () => {
    harness = createHarness();
    await sourcePeer(harness, "host-a", 1);
    await announceHost(harness.client, "host-b");
    const stream = new PeerStream(harness.client, "host-b", "peer-b");
    assert.equal((await stream.register({}, [0, 1, 2, 3])).response.case, "emptyTask");
    assert.equal(harness.state.peers.get("peer-b")?.state, "succeeded");
    await stream.end();
  });

  it("never offers a descendant (no cycles)", async () => {
    harness = createHarness({ backToSourceLimit: 1, retryLimit: 1 });
    const root = await sourcePeer(harness, "host-a", 1);
    await announceHost(harness.client, "host-b");
    await announceHost(harness.client, "host-c");
    const b = new PeerStream(harness.client, "host-b", "peer-b");
    assert.deepEqual(parentIds(await b.register()), ["host-a-peer"]);
    b.send({ case: "downloadPeerStarted", value: {} });
    b.piece(0, "host-a");
    await until(() => harness.state.peers.get("peer-b")?.finishedPieces.size === 1);
    const c = new PeerStream(harness.client, "host-c", "peer-c");
    assert.deepEqual(new Set(parentIds(await c.register())), new Set(["host-a-peer", "peer-b"]));
    c.send({ case: "downloadPeerStarted", value: {} });
    c.piece(0, "host-b");
    await until(() => harness.state.peers.get("peer-c")?.finishedPieces.size === 1);
    // b blocks its parent a: c has pieces but depends on b, so it is not offered to b.
    b.send({ case: "reschedulePeer", value: { blockedParents: ["host-a-peer"] } });
    const answer = await b.next();
    assert.equal(answer.response.case, "needBackToSource");
    await root.end();
    await b.end();
    await c.end();
  });

  it("marks a peer whose stream ends before finishing as Failed, and never offers it", async () => {
    harness = createHarness({ backToSourceLimit: 5 });
    const first = await sourcePeer(harness, "host-a", 2);
    await first.end();
    assert.equal(harness.state.peers.get("host-a-peer")?.state, "failed");
    await announceHost(harness.client, "host-b");
    const second = new PeerStream(harness.client, "host-b", "peer-b");
    assert.equal((await second.register()).response.case, "needBackToSource");
    const info = await harness.client.statPeer({ peerId: "host-a-peer" });
    assert.equal(info.state, PeerState.FAILED);
    await second.end();
  });

  it("rejects bad streams with clear codes", async () => {
    harness = createHarness();
    const expectCode = async (stream: PeerStream, code: Code, pattern: RegExp) => {
      await assert.rejects(stream.next(), (error: unknown) => {
        assert.ok(error instanceof ConnectError);
        assert.equal(error.code, code);
        assert.match(error.rawMessage, pattern);
        return true;
      });
    };
    const notRegistered = new PeerStream(harness.client, "host-a", "peer-a");
    notRegistered.send({ case: "downloadPeerStarted", value: {} });
    await expectCode(notRegistered, Code.InvalidArgument, /first message must be register_peer/);

    const unknownHost = new PeerStream(harness.client, "nobody", "peer-a");
    unknownHost.send({ case: "registerPeer", value: { download: { url: "http://x/y" } } });
    await expectCode(unknownHost, Code.FailedPrecondition, /announce the host first/);

    await announceHost(harness.client, "host-a");
    const noUrl = new PeerStream(harness.client, "host-a", "peer-a");
    noUrl.send({ case: "registerPeer", value: { download: { url: "ftp://x/y" } } });
    await expectCode(noUrl, Code.InvalidArgument, /scheme/);

    const empty = new PeerStream(harness.client, "host-a", "peer-a");
    empty.send({ case: undefined });
    await expectCode(empty, Code.InvalidArgument, /request is empty/);

    const badPiece = new PeerStream(harness.client, "host-a", "peer-a");
    assert.equal((await badPiece.register()).response.case, "needBackToSource");
    badPiece.send({
      case: "downloadPeerBackToSourceStarted",
      value: { contentLength: BigInt(4 * MiB), pieceLength: BigInt(4 * MiB) },
    });
    badPiece.piece(7);
    await expectCode(badPiece, Code.InvalidArgument, /piece 7 is outside the task \(1 pieces\)/);
    assert.equal(harness.state.peers.get("peer-a")?.state, "failed");

    await assert.rejects(harness.client.statTask({ taskId: "nope" }), (error: ConnectError) => {
      assert.equal(error.code, Code.NotFound);
      return true;
    });
    await assert.rejects(harness.client.statPeer({ peerId: "" }), (error: ConnectError) => {
      assert.equal(error.code, Code.InvalidArgument);
      return true;
    });
  });
});
