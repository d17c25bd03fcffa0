import { create } from "@bufbuild/protobuf";
import { ConnectError, type ConnectRouter } from "@connectrpc/connect";
import type { Logger } from "@d7y/observability";
import {
  KeepAliveResponseSchema,
  ListSchedulersResponseSchema,
  ListSeedPeersResponseSchema,
  ManagerService,
  SourceType,
} from "@d7y/proto/manager/v1";
import { type Clusters, resolveClusterId } from "../cluster/clusters.js";
import type { InstanceKind, InstanceRegistry, KeepAliveSession } from "../cluster/instances.js";
import { invalid, ManagerError, toManagerConnectError } from "../errors.js";
import { parseIdentity, parseSchedulerInput, parseSeedPeerInput } from "./parse-requests.js";
import { clusterConfigProto, schedulerProto, seedPeerProto } from "./proto-views.js";
import { watchClusterStats } from "./watch-cluster-stats.js";

export interface ManagerServiceDeps {
  clusters: Clusters;
  instances: InstanceRegistry;
  logger: Logger;
}

const SOURCE_KINDS: Partial<Record<SourceType, InstanceKind>> = {
  [SourceType.SCHEDULER]: "scheduler",
  [SourceType.SEED_PEER]: "seed-peer",
};

/** Connect routes of d7y.manager.v1.ManagerService. Handlers are thin: errors map to codes here. */
export function managerRoutes(deps: ManagerServiceDeps) {
  const { clusters, instances } = deps;
  const logger = deps.logger.child({ component: "rpc" });

  const edge = (error: unknown, method: string) => {
    // A client that goes away mid-stream (a scheduler or seed stopping) is normal, not a bug.
    const gone = (error as { code?: string }).code === "ERR_STREAM_PREMATURE_CLOSE";
    if (gone) logger.debug({ method }, "client closed the stream");
    else if (!(error instanceof ManagerError) && !(error instanceof ConnectError)) {
      logger.error({ err: error, method }, "handler failed");
    }
    return toManagerConnectError(error);
  };

  return (router: ConnectRouter) => {
    router.service(ManagerService, {
      async updateScheduler(request) {
        try {
          const input = parseSchedulerInput(request);
          const cluster = await clusters.require(input.clusterId);
          return schedulerProto(await instances.upsertScheduler(input), cluster);
        } catch (error) {
          throw edge(error, "UpdateScheduler");
        }
      },
      async updateSeedPeer(request) {
        try {
          const input = parseSeedPeerInput(request);
          await clusters.require(input.clusterId);
          return seedPeerProto(await instances.upsertSeedPeer(input));
        } catch (error) {
          throw edge(error, "UpdateSeedPeer");
        }
      },
      async keepAlive(requests) {
        let session: KeepAliveSession | undefined;
        try {
          // Active from the first message; every later message proves the stream is alive.
          for await (const request of requests) {
            if (session) {
              session.touch();
              continue;
            }
            const kind = SOURCE_KINDS[request.sourceType];
            if (!kind) throw invalid("source_type must be SOURCE_TYPE_SCHEDULER or SOURCE_TYPE_SEED_PEER");
            session = await instances.beginKeepAlive(kind, parseIdentity(request));
          }
          return create(KeepAliveResponseSchema, {});
        } catch (error) {
          throw edge(error, "KeepAlive");
        } finally {
          await session?.end();
        }
      },
      async listSchedulers(request) {
        try {
          const cluster = await clusters.require(resolveClusterId(request.clusterId));
          const schedulers = await instances.listSchedulers({ clusterId: cluster.id, activeOnly: true });
          return create(ListSchedulersResponseSchema, {
            schedulers: schedulers.map((scheduler) => schedulerProto(scheduler, cluster)),
          });
        } catch (error) {
          throw edge(error, "ListSchedulers");
        }
      },
      async listSeedPeers(request) {
        try {
          const cluster = await clusters.require(resolveClusterId(request.clusterId));
          const seeds = await instances.listSeedPeers({ clusterId: cluster.id, activeOnly: true });
          return create(ListSeedPeersResponseSchema, { seedPeers: seeds.map(seedPeerProto) });
        } catch (error) {
          throw edge(error, "ListSeedPeers");
        }
      },
      async getClusterConfig(request) {
        try {
          return clusterConfigProto(await clusters.require(resolveClusterId(request.clusterId)));
        } catch (error) {
          throw edge(error, "GetClusterConfig");
        }
      },
      async *watchClusterStats(request, context) {
        try {
          const cluster = await clusters.require(resolveClusterId(request.clusterId));
          yield* watchClusterStats({
            clusterId: cluster.id,
            intervalMs: request.intervalMs,
            instances,
            signal: context.signal,
            onError: (error) => logger.debug({ err: error }, "a scheduler's stats stream dropped"),
          });
        } catch (error) {
          throw edge(error, "WatchClusterStats");
        }
      },
    });
  };
}
