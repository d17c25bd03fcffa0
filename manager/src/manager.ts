import { type Component, supervise } from "@d7y/lifecycle";
import { type Logger, profilingEndpointFor } from "@d7y/observability";
import { type RpcServer, startRpcServer } from "@d7y/rpc";
import { Clusters } from "./cluster/clusters.js";
import { InstanceRegistry } from "./cluster/instances.js";
import type { ManagerConfig } from "./config.js";
import { JobRunner } from "./job/job-runner.js";
import { JobService } from "./job/job-service.js";
import { countingDownloader, createManagerMetrics, type ManagerMetrics } from "./metrics.js";
import { RegistryHttp } from "./oci/registry-http.js";
import { type BlobDownloader, createDfdaemonDownloader } from "./preheat/blob-downloader.js";
import { createSchedulerHostLister } from "./preheat/scheduler-host-lister.js";
import type { HostLister } from "./preheat/target-hosts.js";
import { addClusterRoutes } from "./rest/cluster-routes.js";
import { addImageRoutes } from "./rest/image-routes.js";
import { addJobRoutes } from "./rest/job-routes.js";
import { type RestServer, startRestServer } from "./rest/rest-server.js";
import { Router } from "./rest/router.js";
import { addTaskRoutes } from "./rest/task-routes.js";
import { addTokenRoutes } from "./rest/token-routes.js";
import { managerRoutes } from "./rpc/manager-service.js";
import { ManagerDatabase } from "./storage/manager-database.js";
import { TokenService } from "./token/token-service.js";

export interface ManagerDeps {
  logger: Logger;
  /** Replaces the real downloader (the host's DfdaemonService/Download), e.g. in tests. */
  downloader?: BlobDownloader;
  /** Replaces the real host lister (the scheduler's ListHosts) of scope all_peers. */
  hostLister?: HostLister;
  /** Clock, in ms since the epoch. */
  now?: () => number;
}

export interface Manager {
  /** http://host:port of the REST API. */
  readonly restUrl: string;
  /** http://host:port of the Connect/gRPC/gRPC-Web API. */
  readonly rpcUrl: string;
  readonly port: number;
  readonly rpcPort: number;
  /** http://host:port/metrics when metrics are enabled. */
  readonly metricsUrl: string | undefined;
  readonly metrics: ManagerMetrics | undefined;
  /** http://host:port/debug/pprof/ when pprofPort is not -1. */
  readonly pprofUrl: string | undefined;
  stop(): Promise<void>;
}

function localUrl(host: string, port: number): string {
  const reachable = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return `http://${reachable.includes(":") ? `[${reachable}]` : reachable}:${port}`;
}

/** The REST routes: /healthy, /api/v1 (no auth, like Dragonfly v2.1) and /oapi/v1 (personal access tokens). */
export function managerRouter(deps: {
  jobs: JobService;
  clusters: Clusters;
  instances: InstanceRegistry;
  tokens: TokenService;
  registry?: RegistryHttp;
}) {
  const router = new Router();
  const healthy = async () => ({ status: 200, text: "OK" });
  router.add("GET", "/healthy", healthy);
  router.add("GET", "/oapi/v1/healthy", healthy);
  addJobRoutes(router, "/api/v1", deps, false);
  addJobRoutes(router, "/oapi/v1", deps, true);
  addClusterRoutes(router, "/api/v1", deps, false);
  addClusterRoutes(router, "/oapi/v1", deps, true);
  addTokenRoutes(router, "/api/v1", deps.tokens);
  addTaskRoutes(router, "/api/v1", { instances: deps.instances });
  addImageRoutes(router, "/api/v1", { ...(deps.registry ? { registry: deps.registry } : {}) });
  return router;
}

/** Builds and starts a manager from its config; every dependency is created here or passed in. */
export async function startManager(config: ManagerConfig, deps: ManagerDeps): Promise<Manager> {
  const { logger } = deps;
  const now = deps.now ?? Date.now;
  const db = new ManagerDatabase(config.dataDir);
  const clusters = new Clusters(db, now);
  const instances = new InstanceRegistry(db, now, logger.child({ component: "instances" }), config.keepAliveTimeoutMs);
  const tokens = new TokenService(db, now);
  const registry = new RegistryHttp(config.insecureRegistries, config.registryTimeoutMs);
  const observed = createManagerMetrics(config, { jobs: () => jobs, instances });
  const runner = new JobRunner(config, {
    db,
    logger: logger.child({ component: "jobs" }),
    now,
    preheat: {
      instances,
      registry,
      downloader: countingDownloader(deps.downloader ?? createDfdaemonDownloader(), observed?.metrics),
      hostLister: deps.hostLister ?? createSchedulerHostLister(config.schedulerTimeoutMs),
      logger: logger.child({ component: "preheat" }),
      now,
    },
  });
  const jobs = new JobService(db, clusters, runner, now, observed?.metrics);
  let rpc: RpcServer | undefined;
  let rest: RestServer | undefined;
  const components: Component[] = [
    {
      name: "database",
      start: async () => {
        await db.open();
        await clusters.ensureDefault();
        await instances.resetStates();
      },
      stop: async () => {
        await clusters.settle();
        await db.close();
      },
    },
    {
      name: "jobs",
      start: () => runner.start(),
      stop: async () => {
        await runner.stop();
        await registry.close();
      },
    },
    {
      name: "rpc",
      start: async () => {
        rpc = await startRpcServer({
          host: config.rpcHost,
          port: config.rpcPort,
          routes: managerRoutes({ clusters, instances, logger }),
        });
      },
      stop: async () => {
        await rpc?.close();
        await instances.close();
      },
    },
    {
      name: "rest",
      start: async () => {
        rest = await startRestServer({
          host: config.host,
          port: config.port,
          bodyLimitBytes: config.bodyLimitBytes,
          router: managerRouter({ jobs, clusters, instances, tokens, registry }),
          tokens,
          logger: logger.child({ component: "rest" }),
        });
      },
      stop: async () => rest?.close(),
    },
  ];
  if (observed) components.push(observed.endpoint);
  const pprof = profilingEndpointFor("d7y-manager", config, logger);
  if (pprof) components.push(pprof);
  const supervisor = supervise(components, logger);
  await supervisor.start();
  const manager: Manager = {
    restUrl: localUrl(config.host, rest!.port),
    rpcUrl: localUrl(config.rpcHost, rpc!.port),
    port: rest!.port,
    rpcPort: rpc!.port,
    metricsUrl: observed?.endpoint.url,
    metrics: observed?.metrics,
    pprofUrl: pprof?.url,
    stop: () => supervisor.stop(),
  };
  logger.info(
    {
      rest: manager.restUrl,
      rpc: manager.rpcUrl,
      metrics: manager.metricsUrl,
      pprof: manager.pprofUrl,
      dataDir: config.dataDir,
    },
    "d7y-manager ready",
  );
  return manager;
}
