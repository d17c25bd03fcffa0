import { durationSchema } from "@d7y/config";
import { z } from "zod";

/** Every default of the scheduler lives here, named. Durations are milliseconds. */
export const DEFAULTS = {
  logLevel: "info",
  host: "0.0.0.0",
  port: 8002,
  /** Parents offered per answer. */
  candidateParentLimit: 4,
  /** Peers of one task allowed to download from the origin at once (beyond it, peers wait for parents). */
  backToSourceLimit: 1,
  /** While waiting for a parent: how often to look again, and how many times before going to the origin anyway. */
  retryIntervalMs: 200,
  retryLimit: 10,
  /** How long a peer waits for a triggered seed peer to start before the other rules apply. */
  seedWaitMs: 10_000,
  /** A host that served bytes failing verification is offered to nobody for this long. */
  badParentTtlMs: 10 * 60_000,
  /** A task with no peers is forgotten after this long (also the age at which Failed peers are dropped). */
  taskTtlMs: 30 * 60_000,
  /** A host expires when not announced for max(3 x its announce interval, this). */
  hostTtlMinMs: 60_000,
  /** How often expired hosts, old Failed peers and idle tasks are swept. */
  sweepIntervalMs: 5_000,
  /** The manager's Connect address ("" = no manager: static config only). */
  manager: "",
  clusterId: 1,
  /** Heartbeat to the manager, and how often the cluster's dynamic config is read. */
  keepAliveIntervalMs: 5_000,
  configRefreshMs: 30_000,
  /** Prometheus /metrics (Dragonfly's scheduler serves it on :8000). */
  metricsHost: "0.0.0.0",
  metricsPort: 8000,
  metricsEnable: true,
  /**
   * Profiling endpoint at /debug/pprof/ (Dragonfly's `pprofPort`; its charts use 18066); -1 = off, 0 = any free
   * port. It binds loopback by default: heap snapshots hold the process's memory (tokens, credentials), and
   * `kubectl port-forward` reaches loopback; set pprofHost 0.0.0.0 for Dragonfly's every-address binding.
   */
  pprofHost: "127.0.0.1",
  pprofPort: -1,
} as const;

const durationMs = durationSchema;

const HOUR = 3_600_000;

export const schedulerConfigSchema = z
  .object({
    logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default(DEFAULTS.logLevel),
    host: z.string().min(1).default(DEFAULTS.host),
    port: z.number().int().min(0).max(65535).default(DEFAULTS.port),
    candidateParentLimit: z.number().int().min(1).max(20).default(DEFAULTS.candidateParentLimit),
    backToSourceLimit: z.number().int().min(0).max(10_000).default(DEFAULTS.backToSourceLimit),
    retryIntervalMs: durationMs(1, 60_000).prefault(DEFAULTS.retryIntervalMs),
    retryLimit: z.number().int().min(0).max(1_000).default(DEFAULTS.retryLimit),
    seedWaitMs: durationMs(0, 10 * 60_000).prefault(DEFAULTS.seedWaitMs),
    badParentTtlMs: durationMs(0, 24 * HOUR).prefault(DEFAULTS.badParentTtlMs),
    taskTtlMs: durationMs(0, 30 * 24 * HOUR).prefault(DEFAULTS.taskTtlMs),
    hostTtlMinMs: durationMs(1_000, 24 * HOUR).prefault(DEFAULTS.hostTtlMinMs),
    sweepIntervalMs: durationMs(100, HOUR).prefault(DEFAULTS.sweepIntervalMs),
    manager: z.union([z.literal(""), z.url()]).default(DEFAULTS.manager),
    clusterId: z.number().int().min(1).default(DEFAULTS.clusterId),
    /** Address daemons and the manager reach this scheduler at; default the first non-loopback IPv4. */
    advertiseIp: z.string().min(1).optional(),
    keepAliveIntervalMs: durationMs(100, HOUR).prefault(DEFAULTS.keepAliveIntervalMs),
    configRefreshMs: durationMs(100, HOUR).prefault(DEFAULTS.configRefreshMs),
    /** OTLP/HTTP traces endpoint (e.g. http://jaeger:4318/v1/traces); "" = tracing off. */
    tracingEndpoint: z.union([z.literal(""), z.url()]).default(""),
    tracingSampleRatio: z.number().min(0).max(1).default(1),
    /** Prometheus metrics at GET /metrics on their own port. */
    metricsHost: z.string().min(1).default(DEFAULTS.metricsHost),
    metricsPort: z.number().int().min(0).max(65535).default(DEFAULTS.metricsPort),
    metricsEnable: z.boolean().default(DEFAULTS.metricsEnable),
    /** CPU/heap profiles at GET /debug/pprof/ on their own port; -1 = off. */
    pprofHost: z.string().min(1).default(DEFAULTS.pprofHost),
    pprofPort: z.number().int().min(-1).max(65535).default(DEFAULTS.pprofPort),
  })
  .strict();

export type SchedulerConfig = z.output<typeof schedulerConfigSchema>;
export type SchedulerConfigInput = z.input<typeof schedulerConfigSchema>;

/** The tunables the in-memory state and the scheduling rules use (the config without the listener and logs). */
export type SchedulerOptions = Omit<
  SchedulerConfig,
  | "logLevel"
  | "host"
  | "port"
  | "manager"
  | "clusterId"
  | "advertiseIp"
  | "keepAliveIntervalMs"
  | "configRefreshMs"
  | "tracingEndpoint"
  | "tracingSampleRatio"
  | "metricsHost"
  | "metricsPort"
  | "metricsEnable"
  | "pprofHost"
  | "pprofPort"
>;
