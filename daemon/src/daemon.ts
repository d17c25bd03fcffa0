import { networkInterfaces, hostname as osHostname } from "node:os";
import { join } from "node:path";
import { type Component, supervise } from "@d7y/lifecycle";
import { type Logger, profilingEndpointFor } from "@d7y/observability";
import { type RpcServer, startRpcServer } from "@d7y/rpc";
import { HttpOrigin } from "./backend/http-origin.js";
import type { DaemonConfig } from "./config.js";
import { enforceQuota } from "./gc/quota.js";
import { ManagerLink } from "./manager/manager-link.js";
import { createDaemonMetrics, type DaemonMetrics } from "./metrics.js";
import { AuthChecker, VerdictCache } from "./proxy/auth-check.js";
import { MirrorServer } from "./proxy/mirror-server.js";
import { UpstreamResolver } from "./proxy/upstream.js";
import { dfdaemonRoutes } from "./rpc/dfdaemon-service.js";
import { type HostIdentity, MAX_ANNOUNCED_TASKS, SchedulerClient } from "./scheduler/scheduler-client.js";
import { ContentStore, MetadataStore } from "./storage/index.js";
import { TaskManager } from "./task/task-manager.js";
import { UploadServer } from "./upload/upload-server.js";

export interface DaemonDeps {
  logger: Logger;
}

export interface Daemon {
  readonly mirrorUrl: string;
  readonly apiUrl: string;
  readonly uploadUrl: string;
  readonly hostId: string;
  readonly tasks: TaskManager;
  /** http://host:port/metrics when metrics are enabled. */
  readonly metricsUrl: string | undefined;
  readonly metrics: DaemonMetrics | undefined;
  /** http://host:port/debug/pprof/ when pprofPort is not -1. */
  readonly pprofUrl: string | undefined;
  /** Runs the quota check now (it also runs after each completed task and on an interval). */
  enforceQuota(): ReturnType<typeof enforceQuota>;
  stop(): Promise<void>;
}

/** The first non-internal IPv4 address, else loopback. */
function detectIp(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === "IPv4" && !address.internal) return address.address;
  }
  return "127.0.0.1";
}

function component(name: string, start: () => Promise<void>, stop: () => Promise<void>): Component {
  return { name, start, stop };
}

/** Builds and starts a daemon from its config; every dependency is created here or passed in. */
export async function startDaemon(config: DaemonConfig, deps: DaemonDeps): Promise<Daemon> {
  const logger = deps.logger;
  const metadata = new MetadataStore(join(config.dataDir, "metadata"));
  const content = new ContentStore(join(config.dataDir, "content"));
  const origin = new HttpOrigin({
    connectTimeoutMs: config.download.connectTimeout,
    bodyTimeoutMs: config.download.pieceTimeout,
  });
  const observed = createDaemonMetrics(config.metrics, { tasks: () => tasks, metadata });
  let quotaRun: Promise<unknown> = Promise.resolve();
  /** Bytes our tasks occupy, as of the last quota run (announced to the schedulers as disk use). */
  let cacheBytes = 0;
  const runQuota = () => {
    const run = quotaRun.then(async () => {
      const result = await enforceQuota(config.storage, {
        metadata,
        content,
        logger,
        isBusy: (id) => tasks.isBusy(id),
      });
      cacheBytes = result.usedAfter;
      return result;
    });
    quotaRun = run.catch((error: unknown) => logger.error({ err: error }, "quota enforcement failed"));
    return run;
  };
  let upload: UploadServer | undefined;
  let api: RpcServer | undefined;
  let mirror: MirrorServer | undefined;
  const ip = config.host.ip ?? detectIp();
  const hostname = config.host.hostname ?? osHostname();
  const identity = (): HostIdentity => {
    const uploadPort = upload?.port ?? config.upload.port;
    return {
      id: config.host.id ?? `${ip}-${hostname}-${uploadPort}${config.seed ? "-seed" : ""}`,
      seed: config.seed,
      hostname,
      ip,
      apiPort: api?.port ?? config.api.port,
      uploadPort,
      proxyPort: mirror?.port ?? config.proxy.port,
      idc: config.host.idc,
      location: config.host.location,
      uploadLimit: config.upload.limit,
    };
  };
  const scheduler = new SchedulerClient({
    addresses: config.scheduler.addresses,
    identity,
    logger,
    announceIntervalMs: config.scheduler.announceInterval,
    completeTasks: async () =>
      (await metadata.listTasks())
        .filter((task) => task.status === "succeeded")
        .sort((a, b) => b.accessedAt - a.accessedAt)
        .slice(0, MAX_ANNOUNCED_TASKS)
        .map((task) => ({
          taskId: task.id,
          url: task.url,
          digest: task.digest ?? "",
          contentLength: BigInt(task.contentLength),
          pieceLength: BigInt(task.pieceLength),
          pieceCount: task.pieceCount,
        })),
    uploadInFlight: () => upload?.uploadsInFlight ?? 0,
    diskUsed: () => cacheBytes,
    diskQuota: config.storage.quota,
  });
  const tasks: TaskManager = new TaskManager({
    origin,
    metadata,
    content,
    logger: logger.child({ component: "tasks" }),
    concurrentPieces: config.download.concurrentPieces,
    pieceRetries: config.download.pieceRetries,
    scheduler,
    peers: {
      stallTimeoutMs: config.download.stallTimeout,
      hedgeAfterMs: config.download.hedgeAfter,
      maxReschedules: config.download.maxReschedules,
      scheduleTimeoutMs: config.scheduler.scheduleTimeout,
    },
    metrics: observed?.metrics,
    onTaskComplete: () => void runQuota().catch(() => undefined),
  });
  mirror = new MirrorServer({
    host: config.proxy.host,
    port: config.proxy.port,
    tasks,
    content,
    origin,
    upstreams: new UpstreamResolver(
      config.proxy.registries,
      config.proxy.defaultRegistry,
      config.proxy.allowAllRegistries,
    ),
    logger,
    metrics: observed?.metrics,
    authCheck: config.proxy.authCheck.enable
      ? new AuthChecker({
          origin,
          cache: new VerdictCache({
            ttlMs: config.proxy.authCheck.ttl,
            staleIfErrorMs: config.proxy.authCheck.staleIfError,
          }),
          timeoutMs: config.download.connectTimeout,
        })
      : undefined,
  });
  upload = new UploadServer({
    host: config.upload.host,
    port: config.upload.port,
    limit: config.upload.limit,
    tasks,
    metadata,
    content,
    logger,
    corruptPieces: config.upload.testCorruptPieces,
    copiesPerPiece: config.seed ? config.upload.seedCopiesPerPiece : 0,
    metrics: observed?.metrics,
  });
  const managerLink = config.manager.address
    ? new ManagerLink({
        manager: config.manager.address,
        clusterId: config.manager.clusterId,
        identity,
        keepAliveIntervalMs: config.manager.keepAliveInterval,
        refreshMs: config.manager.refreshInterval,
        staticSchedulers: config.scheduler.addresses,
        onSchedulers: (addresses) => scheduler.setAddresses(addresses),
        logger: logger.child({ component: "manager" }),
      })
    : undefined;
  let gcTimer: NodeJS.Timeout | undefined;

  const pprof = profilingEndpointFor("d7y-daemon", config, logger);
  const supervisor = supervise(
    [
      component(
        "metadata",
        () => metadata.open(),
        () => metadata.close(),
      ),
      component(
        "content",
        async () => undefined,
        () => content.close(),
      ),
      component(
        "origin",
        async () => undefined,
        () => origin.close(),
      ),
      component(
        "tasks",
        async () => undefined,
        () => tasks.stop(),
      ),
      component(
        "gc",
        async () => {
          // Once at start (what a restarted daemon holds), then on an interval and after each task.
          void runQuota().catch(() => undefined);
          gcTimer = setInterval(() => void runQuota().catch(() => undefined), config.storage.gcInterval);
          gcTimer.unref();
        },
        async () => clearInterval(gcTimer),
      ),
      component(
        "api",
        async () => {
          api = await startRpcServer({
            host: config.api.host,
            port: config.api.port,
            routes: dfdaemonRoutes({ tasks, content }),
          });
        },
        async () => api?.close(),
      ),
      component(
        "upload",
        () => upload.start(),
        () => upload.stop(),
      ),
      component(
        "mirror",
        () => mirror.start(),
        () => mirror.stop(),
      ),
      component(
        "scheduler-client",
        async () => scheduler.start(),
        () => scheduler.stop(),
      ),
      component(
        "manager-link",
        async () => managerLink?.start(),
        async () => managerLink?.stop(),
      ),
      ...(observed ? [observed.endpoint] : []),
      ...(pprof ? [pprof] : []),
    ],
    logger,
  );
  await supervisor.start();
  const hostFor = (host: string) => (host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host);
  const daemon: Daemon = {
    mirrorUrl: `http://${hostFor(config.proxy.host)}:${mirror.port}`,
    apiUrl: `http://${hostFor(config.api.host)}:${api!.port}`,
    uploadUrl: `http://${hostFor(config.upload.host)}:${upload.port}`,
    hostId: identity().id,
    tasks,
    metricsUrl: observed?.endpoint.url,
    metrics: observed?.metrics,
    pprofUrl: pprof?.url,
    enforceQuota: () => runQuota(),
    stop: () => supervisor.stop(),
  };
  logger.info(
    {
      mirror: daemon.mirrorUrl,
      api: daemon.apiUrl,
      upload: daemon.uploadUrl,
      hostId: daemon.hostId,
      seed: config.seed,
      schedulers: config.scheduler.addresses,
      dataDir: config.dataDir,
      metrics: daemon.metricsUrl,
      pprof: daemon.pprofUrl,
    },
    "d7y-daemon ready",
  );
  return daemon;
}
