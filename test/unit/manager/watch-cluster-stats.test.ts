import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { HostSchema } from "@d7y/proto/common/v1";
import { SourceType } from "@d7y/proto/manager/v1";
import {
  type ClusterStats,
  ClusterStatsSchema,
  HostStatsSchema,
  SchedulerService,
  TaskInFlightSchema,
} from "@d7y/proto/scheduler/v1";
import { every, type RpcServer, startRpcServer } from "@d7y/rpc";
import { type KeepAliveStream, keepAlive, removeDir, startTestManager, type TestManager } from "./fixture.js";

/** A scheduler that only answers WatchStats, with a fixed snapshot. */
function fakeScheduler(stats: ClusterStats) {
  return (router: ConnectRouter) =>
    router.service(SchedulerService, {
      watchStats: (request, context) => every(Math.max(200, request.intervalMs), context.signal, () => stats),
    });
}

function snapshot(hosts: Array<[string, number, number]>, tasks: string[]): ClusterStats {
  return create(ClusterStatsSchema, {
    hosts: hosts.map(([id, fromPeers, uploaded]) =>
      create(HostStatsSchema, {
        host: create(HostSchema, { id, hostname: id }),
        peers: 1,
        bytesFromPeers: BigInt(fromPeers),
        bytesUploaded: BigInt(uploaded),
      }),
    ),
    tasksInFlight: tasks.map((taskId) => create(TaskInFlightSchema, { taskId })),
    bytesFromPeers: BigInt(hosts.reduce((sum, [, fromPeers]) => sum + fromPeers, 0)),
  });
}

const summary = (stats: ClusterStats) => ({
  hosts: stats.hosts
    .map((h) => [h.host?.id, h.peers, Number(h.bytesFromPeers), Number(h.bytesUploaded)])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  tasks: stats.tasksInFlight.map((t) => t.taskId).sort(),
  bytesFromPeers: Number(stats.bytesFromPeers),
});

describe("manager WatchClusterStats", function () {
  this.timeout(20_000);
  let test: TestManager;
  const servers: RpcServer[] = [];
  const streams: KeepAliveStream[] = [];

  afterEach(async () => {
    await Promise.allSettled(streams.splice(0).map((s) => s.close()));
    await Promise.allSettled(servers.splice(0).map((s) => s.close()));
    await test?.stop();
    if (test) await removeDir(test.dataDir);
  });

  async function activeScheduler(hostname: string, routes: (router: ConnectRouter) => void, port = 0) {
    const server = await startRpcServer({ host: "127.0.0.1", port, routes });
    servers.push(server);
    await test.rpc.updateScheduler({ hostname, ip: "127.0.0.1", port: server.port });
    streams.push(
      keepAlive(test.rpc, { sourceType: SourceType.SCHEDULER, hostname, ip: "127.0.0.1", port: server.port }),
    );
    return server;
  }

  it("merges the schedulers' snapshots per interval, and follows one that drops and comes back", async () => {
    test = await startTestManager();
    await activeScheduler("scheduler-1", fakeScheduler(snapshot([["h1", 10, 0]], ["t1"])));
    const second = fakeScheduler(
      snapshot(
        [
          ["h1", 5, 0],
          ["h2", 0, 15],
        ],
        ["t2"],
      ),
    );
    const server2 = await activeScheduler("scheduler-2", second);

    const abort = new AbortController();
    const seen: Array<ReturnType<typeof summary>> = [];
    const merged = {
      hosts: [
        ["h1", 2, 15, 0],
        ["h2", 1, 0, 15],
      ],
      tasks: ["t1", "t2"],
      bytesFromPeers: 15,
    };
    const only1 = { hosts: [["h1", 1, 10, 0]], tasks: ["t1"], bytesFromPeers: 10 };
    let phase = 0;
    let restarted: Promise<unknown> | undefined;
    const started = Date.now();
    try {
      for await (const stats of test.rpc.watchClusterStats({ intervalMs: 200 }, { signal: abort.signal })) {
        const view = summary(stats);
        seen.push(view);
        assert.ok(seen.length < 60, `bounded: ${JSON.stringify(seen.slice(-3))}`);
        if (phase === 0 && JSON.stringify(view) === JSON.stringify(merged)) {
          phase = 1;
          await server2.close();
        } else if (phase === 1 && JSON.stringify(view) === JSON.stringify(only1)) {
          phase = 2;
          restarted = startRpcServer({ host: "127.0.0.1", port: server2.port, routes: second }).then((s) =>
            servers.push(s),
          );
        } else if (phase === 2 && JSON.stringify(view) === JSON.stringify(merged)) {
          phase = 3;
          break;
        }
      }
    } finally {
      abort.abort();
      await restarted;
    }
    assert.ok(Date.now() - started >= 200 * Math.min(seen.length - 1, 3), "one snapshot per interval at most");
    assert.equal(phase, 3, JSON.stringify(seen));
  });

  it("is NotFound for an unknown cluster", async () => {
    test = await startTestManager();
    await assert.rejects(async () => {
      for await (const _ of test.rpc.watchClusterStats({ clusterId: 99n })) break;
    }, /not found|NotFound/i);
  });
});
