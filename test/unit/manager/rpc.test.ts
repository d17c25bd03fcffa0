import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { SourceType } from "@d7y/proto/manager/v1";
import { keepAlive, removeDir, startTestManager, type TestManager, waitFor } from "./fixture.js";

describe("manager Connect service", () => {
  let test: TestManager;

  beforeEach(async () => {
    test = await startTestManager();
  });

  afterEach(async () => {
    await test.stop();
    await removeDir(test.dataDir);
  });

  const schedulerState = async (hostname: string) => {
    const schedulers = (await test.api("GET", "/api/v1/schedulers")).json as Array<{ hostname: string; state: string }>;
    return schedulers.find((scheduler) => scheduler.hostname === hostname)?.state;
  };

  it("upserts schedulers by (cluster, hostname, ip, port) with the cluster's config embedded", async () => {
    const first = await test.rpc.updateScheduler({
      hostname: "scheduler-1",
      ip: "10.0.0.1",
      port: 8002,
      idc: "idc-a",
      clusterId: 0n,
    });
    assert.equal(first.id, 1n);
    assert.equal(first.clusterId, 1n);
    assert.equal(first.state, "inactive");
    assert.deepEqual(first.features, ["schedule", "preheat"]);
    assert.equal(first.config?.candidateParentLimit, 4);
    assert.equal(first.config?.backToSourceLimit, 1);
    assert.equal(first.config?.peerUploadLimit, 0);

    const again = await test.rpc.updateScheduler({
      hostname: "scheduler-1",
      ip: "10.0.0.1",
      port: 8002,
      idc: "idc-b",
      clusterId: 1n,
    });
    assert.equal(again.id, 1n);
    assert.equal(again.idc, "idc-b");
    // Several instances may share a machine: another port is another scheduler.
    const samePlace = await test.rpc.updateScheduler({ hostname: "scheduler-1", ip: "10.0.0.1", port: 8003 });
    assert.equal(samePlace.id, 2n);
    const other = await test.rpc.updateScheduler({ hostname: "scheduler-1", ip: "10.0.0.2", port: 8002 });
    assert.equal(other.id, 3n);
    assert.equal((await test.api("GET", "/api/v1/schedulers")).json.length, 3);

    const seed = await test.rpc.updateSeedPeer({
      hostname: "seed-1",
      ip: "10.0.0.3",
      port: 4000,
      downloadPort: 4005,
      hostId: "h-1",
    });
    assert.equal(seed.id, 1n);
    assert.equal(seed.hostId, "h-1");
    assert.equal(
      (await test.rpc.updateSeedPeer({ hostname: "seed-1", ip: "10.0.0.3", port: 4000, downloadPort: 4006 })).id,
      1n,
    );
  });

  it("refuses malformed registrations and unknown clusters", async () => {
    const cases: Array<[() => Promise<unknown>, Code, RegExp]> = [
      [() => test.rpc.updateScheduler({ hostname: "", ip: "10.0.0.1", port: 1 }), Code.InvalidArgument, /hostname/],
      [() => test.rpc.updateScheduler({ hostname: "s", ip: "not-an-ip", port: 1 }), Code.InvalidArgument, /not an IP/],
      [() => test.rpc.updateScheduler({ hostname: "s", ip: "10.0.0.1", port: 0 }), Code.InvalidArgument, /port/],
      [
        () => test.rpc.updateScheduler({ hostname: "s", ip: "10.0.0.1", port: 1, clusterId: 9n }),
        Code.NotFound,
        /cluster 9/,
      ],
      [
        () => test.rpc.updateSeedPeer({ hostname: "s", ip: "10.0.0.1", port: 1, downloadPort: 70000 }),
        Code.InvalidArgument,
        /download_port/,
      ],
      [() => test.rpc.listSchedulers({ clusterId: 9n }), Code.NotFound, /cluster 9 not found/],
      [() => test.rpc.getClusterConfig({ clusterId: 9n }), Code.NotFound, /cluster 9 not found/],
    ];
    for (const [call, code, message] of cases) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof ConnectError);
        assert.equal(error.code, code, error.message);
        assert.match(error.message, message);
        return true;
      });
    }
  });

  it("marks an instance active with its first keepalive and inactive when the stream ends", async () => {
    await test.rpc.updateScheduler({ hostname: "scheduler-1", ip: "10.0.0.1", port: 8002 });
    assert.equal(await schedulerState("scheduler-1"), "inactive");
    assert.equal((await test.rpc.listSchedulers({})).schedulers.length, 0);

    const stream = keepAlive(test.rpc, {
      sourceType: SourceType.SCHEDULER,
      hostname: "scheduler-1",
      ip: "10.0.0.1",
      port: 8002,
    });
    await waitFor(async () => ((await schedulerState("scheduler-1")) === "active" ? true : undefined), "active");
    const listed = await test.rpc.listSchedulers({ hostname: "daemon-1", ip: "10.0.0.9" });
    assert.deepEqual(
      listed.schedulers.map((scheduler) => [
        scheduler.hostname,
        scheduler.state,
        scheduler.config?.candidateParentLimit,
      ]),
      [["scheduler-1", "active", 4]],
    );

    const outcome = await stream.close();
    assert.ok(!(outcome instanceof Error), String(outcome));
    await waitFor(async () => ((await schedulerState("scheduler-1")) === "inactive" ? true : undefined), "inactive");
    assert.equal((await test.rpc.listSchedulers({})).schedulers.length, 0);
  });

  it("keeps an instance active while its newest stream lives", async () => {
    await test.rpc.updateSeedPeer({ hostname: "seed-1", ip: "10.0.0.3", port: 4000 });
    const request = { sourceType: SourceType.SEED_PEER, hostname: "seed-1", ip: "10.0.0.3", port: 4000 };
    const old = keepAlive(test.rpc, request);
    await waitFor(async () => ((await test.rpc.listSeedPeers({})).seedPeers.length === 1 ? true : undefined), "active");
    // The seed reconnects before its old stream is noticed dead.
    const newer = keepAlive(test.rpc, request);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await old.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await test.rpc.listSeedPeers({})).seedPeers[0]?.state, "active");
    await newer.close();
    await waitFor(
      async () => ((await test.rpc.listSeedPeers({})).seedPeers.length === 0 ? true : undefined),
      "inactive",
    );
  });

  it("marks a silent stream's instance inactive until its next message", async () => {
    await test.stop();
    await removeDir(test.dataDir);
    test = await startTestManager({ config: { keepAliveTimeoutMs: 200 } });
    await test.rpc.updateScheduler({ hostname: "scheduler-1", ip: "10.0.0.1", port: 8002 });
    const stream = keepAlive(test.rpc, {
      sourceType: SourceType.SCHEDULER,
      hostname: "scheduler-1",
      ip: "10.0.0.1",
      port: 8002,
    });
    try {
      await waitFor(async () => ((await schedulerState("scheduler-1")) === "active" ? true : undefined), "active");
      // Messages within the timeout keep it active.
      for (let i = 0; i < 4; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        stream.send();
      }
      assert.equal(await schedulerState("scheduler-1"), "active");
      await waitFor(async () => ((await schedulerState("scheduler-1")) === "inactive" ? true : undefined), "silent");
      stream.send();
      await waitFor(async () => ((await schedulerState("scheduler-1")) === "active" ? true : undefined), "back");
    } finally {
      await stream.close();
    }
    await waitFor(async () => ((await schedulerState("scheduler-1")) === "inactive" ? true : undefined), "ended");
  });

  it("refuses keepalives of unregistered instances and unknown sources", async () => {
    const unknown = await keepAlive(test.rpc, {
      sourceType: SourceType.SCHEDULER,
      hostname: "ghost",
      ip: "10.0.0.1",
      port: 8002,
    }).close();
    assert.ok(unknown instanceof ConnectError);
    assert.equal(unknown.code, Code.NotFound);
    assert.match(unknown.message, /not registered: call UpdateScheduler first/);

    await test.rpc.updateScheduler({ hostname: "s", ip: "10.0.0.1", port: 1 });
    const unspecified = await keepAlive(test.rpc, { hostname: "s", ip: "10.0.0.1", port: 1 }).close();
    assert.ok(unspecified instanceof ConnectError);
    assert.equal(unspecified.code, Code.InvalidArgument);
  });

  it("serves the cluster config; cluster 0 is the default cluster", async () => {
    const config = await test.rpc.getClusterConfig({});
    assert.equal(config.clusterId, 1n);
    assert.equal(config.candidateParentLimit, 4);
    assert.equal(config.backToSourceLimit, 1);
    assert.equal(config.peerUploadLimit, 0);
  });
});
