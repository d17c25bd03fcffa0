import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { HostSchema } from "@d7y/proto/common/v1";
import { SourceType } from "@d7y/proto/manager/v1";
import { PeerInfoSchema, PeerState, SchedulerService, TaskInfoSchema } from "@d7y/proto/scheduler/v1";
import { type RpcServer, startRpcServer } from "@d7y/rpc";
import { type KeepAliveStream, keepAlive, removeDir, startTestManager, type TestManager, waitFor } from "./fixture.js";

const HEX = "ab".repeat(32);

/** A scheduler whose StatTask knows one task: node-1 from the origin, node-2 from node-1 and the origin. */
function startTaskScheduler(): Promise<RpcServer> {
  return startRpcServer({
    host: "127.0.0.1",
    port: 0,
    routes: (router) =>
      router.service(SchedulerService, {
        async statTask(request) {
          if (request.taskId !== HEX) throw new ConnectError(`task ${request.taskId} not found`, Code.NotFound);
          const peer = (id: string, parents: Record<number, string>) =>
            create(PeerInfoSchema, {
              id: `peer-${id}`,
              taskId: HEX,
              host: create(HostSchema, { id: `host-${id}`, hostname: id, ip: "10.0.0.1" }),
              state: PeerState.SUCCEEDED,
              finishedPieces: Object.keys(parents).map(Number),
              pieceParents: parents,
              bytesFromPeers: 10n,
              bytesFromSource: 5n,
            });
          return create(TaskInfoSchema, {
            id: HEX,
            url: "http://registry/v2/app/blobs/sha256:ab",
            digest: `sha256:${HEX}`,
            contentLength: 300n,
            pieceCount: 3,
            peers: [
              peer("node-2", { 0: "host-node-1", 1: "host-node-1", 2: "" }),
              peer("node-1", { 0: "", 1: "", 2: "" }),
            ],
          });
        },
      }),
  });
}

describe("manager GET /api/v1/tasks/:id", () => {
  let test: TestManager;
  let scheduler: RpcServer | undefined;
  let stream: KeepAliveStream | undefined;

  beforeEach(async () => {
    test = await startTestManager();
  });

  afterEach(async () => {
    await stream?.close();
    await scheduler?.close();
    stream = undefined;
    scheduler = undefined;
    await test.stop();
    await removeDir(test.dataDir);
  });

  it("answers 400 for an id that is not a sha256 hex, 404 when no scheduler knows it", async () => {
    const bad = await test.api("GET", "/api/v1/tasks/not-a-digest");
    assert.equal(bad.status, 400);
    assert.match(bad.json.message, /^id: expected a task id/);
    const none = await test.api("GET", `/api/v1/tasks/sha256:${HEX}`);
    assert.equal(none.status, 404);
    assert.match(none.json.message, /not known to any active scheduler/);
  });

  it("asks the active schedulers (StatTask) and answers hosts, pieces and parents", async () => {
    scheduler = await startTaskScheduler();
    const identity = { hostname: "scheduler-1", ip: "127.0.0.1", port: scheduler.port };
    await test.rpc.updateScheduler(identity);
    stream = keepAlive(test.rpc, { sourceType: SourceType.SCHEDULER, ...identity });
    await waitFor(
      async () => ((await test.rpc.listSchedulers({})).schedulers.length > 0 ? true : undefined),
      "the scheduler is active",
    );
    for (const id of [HEX, `sha256:${HEX}`]) {
      const response = await test.api("GET", `/api/v1/tasks/${encodeURIComponent(id)}`);
      assert.equal(response.status, 200, response.text);
      assert.equal(response.json.id, HEX);
      assert.equal(response.json.piece_count, 3);
      assert.equal(response.json.content_length, 300);
      assert.deepEqual(
        response.json.peers.map((p: { hostname: string; state: string }) => [p.hostname, p.state]),
        [
          ["node-1", "SUCCEEDED"],
          ["node-2", "SUCCEEDED"],
        ],
      );
      assert.deepEqual(response.json.peers[1].piece_parents, { 0: "host-node-1", 1: "host-node-1", 2: "" });
      assert.deepEqual(response.json.peers[1].finished_pieces, [0, 1, 2]);
      assert.equal(response.json.peers[1].bytes_from_peers, 10);
    }
    const unknown = await test.api("GET", `/api/v1/tasks/${"cd".repeat(32)}`);
    assert.equal(unknown.status, 404);
  });
});
