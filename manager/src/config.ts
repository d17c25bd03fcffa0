import { byteSizeSchema, durationSchema } from "@d7y/config";
import { z } from "zod";

/** Every default of the manager lives here, named. Durations are milliseconds. */
export const DEFAULTS = {
  logLevel: "info",
  /** REST API (Dragonfly's `server.rest.addr` :8080). */
  host: "0.0.0.0",
  port: 8080,
  /** Connect/gRPC/gRPC-Web API for schedulers, seed peers and daemons (Dragonfly's 65003). */
  rpcHost: "0.0.0.0",
  rpcPort: 65003,
  dataDir: "/var/lib/d7y/manager",
  /** Largest REST request body; beyond it the answer is 413. */
  bodyLimitBytes: 1024 * 1024,
  /** Timeout of one registry request (token, manifest) made by a preheat (Dragonfly's `registryTimeout`). */
  registryTimeoutMs: 60_000,
  /** Registry hosts (host or host:port) whose TLS certificate is not verified. */
  insecureRegistries: [] as string[],
  /** Jobs running at once; the others wait in PENDING. */
  maxRunningJobs: 10,
  /**
   * A job resumed after a restart waits this long for seed peers to keep alive again (their streams broke
   * when the manager stopped) before it gives up with "no active seed peer".
   */
  resumeGraceMs: 30_000,
  /**
   * A keepalive stream silent for this long marks its instance inactive (6 x the 5s interval schedulers and
   * seed peers send at); the next message makes it active again.
   */
  keepAliveTimeoutMs: 30_000,
  /** Timeout of one ListHosts call to a scheduler (scope all_peers). */
  schedulerTimeoutMs: 10_000,
  /** Prometheus /metrics (Dragonfly's manager serves it on :8000). */
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

/** Config of the default cluster (id 1) created on the first start; Dragonfly's defaults. */
export const DEFAULT_CLUSTER = {
  id: 1,
  name: "cluster-1",
  bio: "default cluster",
  config: { candidate_parent_limit: 4, back_to_source_limit: 1, peer_upload_limit: 0 },
} as const;

/** Defaults and limits of preheat arguments (Dragonfly's `PreheatArgs`). */
export const PREHEAT_DEFAULTS = {
  scope: "single_seed_peer",
  platform: "linux/amd64",
  /** Seconds. */
  timeoutSeconds: 3600,
  concurrentTaskCount: 8,
  maxConcurrentTaskCount: 100,
  concurrentPeerCount: 500,
  maxConcurrentPeerCount: 1000,
  minPieceLength: 4 * 1024 * 1024,
  maxPieceLength: 64 * 1024 * 1024,
  maxUrls: 10_000,
} as const;

/** Pagination of list endpoints (Dragonfly's `page` / `per_page`). */
export const PAGINATION = { page: 1, perPage: 10, maxPerPage: 1000 } as const;

/** Default scopes of a personal access token. */
export const TOKEN_SCOPES = ["job", "cluster"] as const;

const durationMs = durationSchema;
const byteSize = byteSizeSchema;

/** "a,b" from a flag, or a YAML list. */
const hostList = z
  .union([z.string(), z.array(z.string())])
  .transform((value) => (typeof value === "string" ? value.split(",") : value).map((host) => host.trim()))
  .transform((hosts) => hosts.filter((host) => host.length > 0));

const port = z.number().int().min(0).max(65535);
const HOUR = 3_600_000;

export const managerConfigSchema = z
  .object({
    logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default(DEFAULTS.logLevel),
    host: z.string().min(1).default(DEFAULTS.host),
    port: port.default(DEFAULTS.port),
    rpcHost: z.string().min(1).default(DEFAULTS.rpcHost),
    rpcPort: port.default(DEFAULTS.rpcPort),
    dataDir: z.string().min(1).default(DEFAULTS.dataDir),
    bodyLimitBytes: byteSize(1024, 64 * 1024 * 1024).prefault(DEFAULTS.bodyLimitBytes),
    registryTimeoutMs: durationMs(100, HOUR).prefault(DEFAULTS.registryTimeoutMs),
    insecureRegistries: hostList.prefault([...DEFAULTS.insecureRegistries]),
    maxRunningJobs: z.number().int().min(1).max(1000).default(DEFAULTS.maxRunningJobs),
    resumeGraceMs: durationMs(0, HOUR).prefault(DEFAULTS.resumeGraceMs),
    schedulerTimeoutMs: durationMs(100, HOUR).prefault(DEFAULTS.schedulerTimeoutMs),
    keepAliveTimeoutMs: durationMs(100, HOUR).prefault(DEFAULTS.keepAliveTimeoutMs),
    /** OTLP/HTTP traces endpoint (e.g. http://jaeger:4318/v1/traces); "" = tracing off. */
    tracingEndpoint: z.union([z.literal(""), z.url()]).default(""),
    tracingSampleRatio: z.number().min(0).max(1).default(1),
    /** Prometheus metrics at GET /metrics on their own port. */
    metricsHost: z.string().min(1).default(DEFAULTS.metricsHost),
    metricsPort: port.default(DEFAULTS.metricsPort),
    metricsEnable: z.boolean().default(DEFAULTS.metricsEnable),
    /** CPU/heap profiles at GET /debug/pprof/ on their own port; -1 = off. */
    pprofHost: z.string().min(1).default(DEFAULTS.pprofHost),
    pprofPort: z.number().int().min(-1).max(65535).default(DEFAULTS.pprofPort),
  })
  .strict();

export type ManagerConfig = z.output<typeof managerConfigSchema>;
export type ManagerConfigInput = z.input<typeof managerConfigSchema>;
