import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { validateConfig } from "@d7y/config";
import { createSilentLogger } from "@d7y/observability";
import { type Download, HostSchema, HostType } from "@d7y/proto/common/v1";
import { DfdaemonService } from "@d7y/proto/dfdaemon/v1";
import { SchedulerService } from "@d7y/proto/scheduler/v1";
import { createRpcClient, startRpcServer } from "@d7y/rpc";
import {
  createDfdaemonSeedTrigger,
  type HostSpec,
  type Scheduler,
  schedulerConfigSchema,
  startScheduler,
} from "@d7y/scheduler";
import { PeerStream, parentIds, TASK } from "./fixture.js";

describe("scheduler server", () => {
  let scheduler: Scheduler | undefined;
  afterEach(() => scheduler?.stop());

  it("serves gRPC on its port and stops cleanly", async () => {
    const config = validateConfig(schedulerConfigSchema, {
      host: "127.0.0.1",
      port: 0,
      metricsHost: "127.0.0.1",
      metricsPort: 0,
    });
    scheduler = await startScheduler(config, { logger: createSilentLogger() });
    assert.ok(scheduler.port > 0);
    assert.equal(scheduler.url, `http://127.0.0.1:${scheduler.port}`);
    const client = createRpcClient(SchedulerService, scheduler.url);
    await client.announceHost({
      host: create(HostSchema, { id: "h1", type: HostType.SEED, ip: "127.0.0.1", port: 4000, downloadPort: 4005 }),
      intervalMs: 10_000n,
    });
    const listed = await client.listHosts({});
    assert.deepEqual(
      listed.hosts.map((host) => [host.host?.id, host.host?.type]),
      [["h1", HostType.SEED]],
    );
    assert.equal(scheduler.state.hosts.size, 1);

    // The bidi stream over real HTTP/2: a seed registers and goes to the origin, a peer gets it as parent.
    await client.announceHost({
      host: create(HostSchema, { id: "h2", ip: "127.0.0.2", port: 4000, downloadPort: 4005 }),
      intervalMs: 10_000n,
    });
    const seed = new PeerStream(client, "h1", "seed-peer");
    assert.equal((await seed.register({ needBackToSource: true })).response.case, "needBackToSource");
    seed.send({ case: "downloadPeerBackToSourceStarted", value: {} });
    const peer = new PeerStream(client, "h2", "peer");
    assert.deepEqual(parentIds(await peer.register()), ["seed-peer"]);
    const task = await client.statTask({ taskId: TASK });
    assert.equal(task.peers.length, 2);
    await seed.end();
    // Stopping with a stream still open neither hangs nor leaks.
    await scheduler.stop();
    await assert.rejects(client.listHosts({}));
    scheduler = undefined;
  });

  it("triggers a seed through the seed daemon's Download RPC and drains it", async () => {
    const received: Download[] = [];
    const seedDaemon = await startRpcServer({
      host: "127.0.0.1",
      port: 0,
      routes: (router) =>
        router.service(DfdaemonService, {
          async *download(request) {
            received.push(request.download!);
            yield {
              response: {
                case: "started",
                value: { taskId: "t", contentLength: 10n, pieceLength: 4n, pieceCount: 3, fromCache: true },
              },
            };
            yield { response: { case: "finished", value: { taskId: "t", contentLength: 10n } } };
          },
        }),
    });
    try {
      const trigger = createDfdaemonSeedTrigger();
      const host: HostSpec = {
        id: "seed",
        type: "seed",
        hostname: "seed",
        ip: "127.0.0.1",
        port: seedDaemon.port,
        downloadPort: 4005,
        proxyPort: 0,
        idc: "",
        location: "",
        uploadLimit: 0,
        uploadInFlight: 0,
        diskUsedBytes: 0,
        diskQuotaBytes: 0,
      };
      const download = {
        url: "http://r/x",
        digest: "",
        requestHeader: { authorization: "Basic x" },
        needBackToSource: true,
      };
      const result = await trigger({ taskId: "t", host, download }, new AbortController().signal);
      assert.deepEqual(result, { fromCache: true, contentLength: 10, pieceLength: 4, pieceCount: 3 });
      assert.equal(received.length, 1);
      assert.equal(received[0]!.url, "http://r/x");
      assert.equal(received[0]!.needBackToSource, true);
      assert.deepEqual(received[0]!.requestHeader, { authorization: "Basic x" });
    } finally {
      await seedDaemon.close();
    }
  });
});
