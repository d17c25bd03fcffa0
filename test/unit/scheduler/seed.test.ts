import assert from "node:assert/strict";
import type { SeedTrigger, SeedTriggerRequest } from "@d7y/scheduler";
import { announceHost, createHarness, type Harness, MiB, PeerStream, parentIds, TASK, until } from "./fixture.js";

describe("scheduler seed trigger", () => {
  let harness: Harness;
  const seedStreams: PeerStream[] = [];
  afterEach(async () => {
    for (const stream of seedStreams.splice(0)) await stream.end();
    await harness?.close();
  });

  /** A fake seed daemon: like the real one, it registers its own peer with need_back_to_source. */
  function seedDaemon(requests: SeedTriggerRequest[]): SeedTrigger {
    return async (request) => {
      requests.push(request);
      const stream = new PeerStream(harness.client, request.host.id, `seed-peer-${request.taskId}`, request.taskId);
      seedStreams.push(stream);
      const answer = await stream.register({ needBackToSource: true, requestHeader: request.download.requestHeader });
      assert.equal(answer.response.case, "needBackToSource");
      stream.send({
        case: "downloadPeerBackToSourceStarted",
        value: { contentLength: BigInt(8 * MiB), pieceLength: BigInt(4 * MiB) },
      });
      return { fromCache: false, contentLength: 8 * MiB, pieceLength: 4 * MiB, pieceCount: 2 };
    };
  }

  it("triggers the seed chosen by the hash ring once and offers it as a parent before it has pieces", async () => {
    const requests: SeedTriggerRequest[] = [];
    harness = createHarness({}, seedDaemon(requests));
    await announceHost(harness.client, "seed-1", { type: "seed", ip: "10.0.1.1" });
    await announceHost(harness.client, "seed-2", { type: "seed", ip: "10.0.1.2" });
    await announceHost(harness.client, "host-a");
    await announceHost(harness.client, "host-b");
    const expected = harness.state.seeds.pickSeedHost(TASK)!.id;

    const a = new PeerStream(harness.client, "host-a", "peer-a");
    const answer = await a.register({ requestHeader: { authorization: "Bearer t" } });
    assert.deepEqual(parentIds(answer), [`seed-peer-${TASK}`]);
    assert.equal(requests.length, 1);
    assert.equal(requests[0]!.host.id, expected);
    assert.equal(requests[0]!.host.port, 4000, "the seed daemon's API port");
    assert.equal(requests[0]!.download.needBackToSource, true);
    assert.deepEqual(requests[0]!.download.requestHeader, { authorization: "Bearer t" });
    assert.equal(harness.state.tasks.get(TASK)?.seedAttempt, "started");

    const b = new PeerStream(harness.client, "host-b", "peer-b");
    assert.ok(parentIds(await b.register()).includes(`seed-peer-${TASK}`));
    assert.equal(requests.length, 1, "not triggered twice");
    await a.end();
    await b.end();
  });

  it("sends peers back to source at once when the seed trigger fails, and does not retry it", async () => {
    let calls = 0;
    harness = createHarness({ seedWaitMs: 5_000 }, async () => {
      calls++;
      throw new Error("seed daemon unreachable");
    });
    await announceHost(harness.client, "seed-1", { type: "seed" });
    await announceHost(harness.client, "host-a");
    await announceHost(harness.client, "host-b");
    const began = Date.now();
    const a = new PeerStream(harness.client, "host-a", "peer-a");
    assert.equal((await a.register()).response.case, "needBackToSource");
    assert.ok(Date.now() - began < 2_000, "did not wait for seedWaitMs");
    assert.equal(harness.state.tasks.get(TASK)?.seedAttempt, "failed");
    a.send({ case: "downloadPeerBackToSourceStarted", value: {} });
    a.piece(0);
    await until(() => harness.state.peers.get("peer-a")?.finishedPieces.size === 1);
    const b = new PeerStream(harness.client, "host-b", "peer-b");
    assert.deepEqual(parentIds(await b.register()), ["peer-a"]);
    assert.equal(calls, 1);
    await a.end();
    await b.end();
  });

  it("learns a seed that already had the task in its cache from the trigger's answer", async () => {
    harness = createHarness({}, async () => ({
      fromCache: true,
      contentLength: 8 * MiB,
      pieceLength: 4 * MiB,
      pieceCount: 2,
    }));
    await announceHost(harness.client, "seed-1", { type: "seed" });
    await announceHost(harness.client, "host-a");
    const a = new PeerStream(harness.client, "host-a", "peer-a");
    assert.deepEqual(parentIds(await a.register()), [`seed-1-${TASK}`]);
    assert.equal(harness.state.peers.get(`seed-1-${TASK}`)?.state, "succeeded");
    await a.end();
  });

  it("survives a trigger that throws synchronously", async () => {
    harness = createHarness({}, () => {
      throw new Error("boom");
    });
    await announceHost(harness.client, "seed-1", { type: "seed" });
    await announceHost(harness.client, "host-a");
    const a = new PeerStream(harness.client, "host-a", "peer-a");
    assert.equal((await a.register()).response.case, "needBackToSource");
    assert.equal(harness.state.tasks.get(TASK)?.seedAttempt, "failed");
    await a.end();
  });
});
