import { type Component, supervise } from "@d7y/lifecycle";
import { type Logger, profilingEndpointFor } from "@d7y/observability";
import { type RpcServer, startRpcServer } from "@d7y/rpc";
import type { SchedulerConfig, SchedulerOptions } from "./config.js";
import { advertisedIp, ManagerAnnouncer } from "./manager/manager-announcer.js";
import { createSchedulerMetrics, type SchedulerMetrics } from "./metrics.js";
import { SchedulerState } from "./resource/scheduler-state.js";
import { schedulerRoutes } from "./rpc/scheduler-service.js";
import type { SeedTrigger } from "./seed/seed-trigger.js";

export interface SchedulerDeps {
  logger: Logger;
  /** Replaces the real seed trigger (the seed daemon's Download RPC), e.g. in tests. */
  seedTrigger?: SeedTrigger;
}

export interface Scheduler {
  /** http://host:port of the Connect/gRPC/gRPC-Web API. */
  readonly url: string;
  readonly port: number;
  readonly state: SchedulerState;
  /** http://host:port/metrics when metrics are enabled. */
  readonly metricsUrl: string | undefined;
  readonly metrics: SchedulerMetrics | undefined;
  /** http://host:port/debug/pprof/ when pprofPort is not -1. */
  readonly pprofUrl: string | undefined;
  stop(): Promise<void>;
}

/** The tunables of the state and scheduling rules, taken from the whole config. */
export function schedulerOptions(config: SchedulerConfig): SchedulerOptions {
  const {
    logLevel: _logLevel,
    host: _host,
    port: _port,
    manager: _manager,
    clusterId: _clusterId,
    advertiseIp: _advertiseIp,
    keepAliveIntervalMs: _keepAlive,
    configRefreshMs: _refresh,
    tracingEndpoint: _tracing,
    tracingSampleRatio: _ratio,
    metricsHost: _metricsHost,
    metricsPort: _metricsPort,
    metricsEnable: _metricsEnable,
    pprofHost: _pprofHost,
    pprofPort: _pprofPort,
    ...options
  } = config;
  return options;
}

/** Builds and starts a scheduler from its config; every dependency is created here or passed in. */
export async function startScheduler(config: SchedulerConfig, deps: SchedulerDeps): Promise<Scheduler> {
  const logger = deps.logger;
  const observed = createSchedulerMetrics(config, () => state);
  const state = new SchedulerState(schedulerOptions(config), {
    logger: logger.child({ component: "state" }),
    ...(deps.seedTrigger ? { seedTrigger: deps.seedTrigger } : {}),
    ...(observed ? { metrics: observed.metrics } : {}),
  });
  let rpc: RpcServer | undefined;
  const components: Component[] = [
    {
      name: "rpc",
      start: async () => {
        rpc = await startRpcServer({
          host: config.host,
          port: config.port,
          routes: schedulerRoutes({ state, logger }),
        });
      },
      stop: async () => rpc?.close(),
    },
    // Stopped first: waiting streams get their answers and seed triggers are cancelled before the port closes.
    { name: "state", start: async () => state.start(), stop: () => state.stop() },
  ];
  if (config.manager) {
    const announcer = new ManagerAnnouncer({
      manager: config.manager,
      clusterId: config.clusterId,
      ip: config.advertiseIp ?? advertisedIp(config.host),
      port: () => rpc?.port ?? config.port,
      keepAliveIntervalMs: config.keepAliveIntervalMs,
      configRefreshMs: config.configRefreshMs,
      applyConfig: (cluster) => {
        if (cluster.candidateParentLimit > 0)
          state.options.candidateParentLimit = Math.min(20, cluster.candidateParentLimit);
        state.options.backToSourceLimit = cluster.backToSourceLimit;
      },
      logger: logger.child({ component: "manager" }),
    });
    components.push({ name: "manager", start: async () => announcer.start(), stop: () => announcer.stop() });
  }
  if (observed) components.push(observed.endpoint);
  const pprof = profilingEndpointFor("d7y-scheduler", config, logger);
  if (pprof) components.push(pprof);
  const supervisor = supervise(components, logger);
  await supervisor.start();
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  const port = rpc!.port;
  const scheduler: Scheduler = {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    state,
    metricsUrl: observed?.endpoint.url,
    metrics: observed?.metrics,
    pprofUrl: pprof?.url,
    stop: () => supervisor.stop(),
  };
  logger.info({ url: scheduler.url, metrics: scheduler.metricsUrl, pprof: scheduler.pprofUrl }, "d7y-scheduler ready");
  return scheduler;
}
