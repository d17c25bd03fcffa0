import { byteSizeSchema, durationSchema } from "@d7y/config";
import { z } from "zod";

/** Every default of the daemon lives here, named. */
export const DEFAULTS = {
  dataDir: "/var/lib/d7y/daemon",
  logLevel: "info",
  proxyHost: "0.0.0.0",
  proxyPort: 4001,
  apiHost: "127.0.0.1",
  apiPort: 4000,
  registries: ["https://index.docker.io"],
  concurrentPieces: 8,
  pieceRetries: 3,
  pieceTimeout: "2m",
  connectTimeout: "10s",
  quota: "20GiB",
  highWatermark: 0.9,
  lowWatermark: 0.7,
  gcInterval: "1m",
  uploadHost: "0.0.0.0",
  uploadPort: 4005,
  uploadLimit: 64,
  seedCopiesPerPiece: 0,
  announceInterval: "30s",
  scheduleTimeout: "30s",
  stallTimeout: "10s",
  hedgeAfter: "2s",
  maxReschedules: 5,
  clusterId: 1,
  managerKeepAlive: "5s",
  managerRefresh: "30s",
  /** Prometheus /metrics (Dragonfly's client serves it on 4002). */
  metricsHost: "0.0.0.0",
  metricsPort: 4002,
  metricsEnable: true,
  /**
   * Profiling endpoint at /debug/pprof/ (Dragonfly's `pprofPort`; its charts use 18066); -1 = off, 0 = any free
   * port. It binds loopback by default: heap snapshots hold the process's memory (tokens, credentials), and
   * `kubectl port-forward` reaches loopback; set pprofHost 0.0.0.0 for Dragonfly's every-address binding.
   */
  pprofHost: "127.0.0.1",
  pprofPort: -1,
  /** Blob GETs served from the cache or peers are checked with the origin (HEAD with the client's headers). */
  authCheckEnable: true,
  /** A positive verdict younger than this skips the HEAD. */
  authCheckTtl: "5m",
  /** A positive verdict younger than this still serves when the origin cannot answer. */
  authCheckStaleIfError: "24h",
} as const;

const byteSize = byteSizeSchema();
const duration = durationSchema();

const registryUrl = z.string().transform((value, ctx) => {
  try {
    const url = new URL(value.includes("://") ? value : `https://${value}`);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("scheme must be http or https");
    return url.origin;
  } catch (error) {
    ctx.addIssue({ code: "custom", message: `invalid registry "${value}": ${(error as Error).message}` });
    return z.NEVER;
  }
});

const port = z.number().int().min(0).max(65535);

export const daemonConfigSchema = z
  .object({
    dataDir: z.string().min(1).default(DEFAULTS.dataDir),
    logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default(DEFAULTS.logLevel),
    proxy: z
      .strictObject({
        host: z.string().default(DEFAULTS.proxyHost),
        port: port.default(DEFAULTS.proxyPort),
        /** Upstream registries the mirror may reach. The first one is the default upstream. */
        registries: z
          .array(registryUrl)
          .min(1)
          .default([...DEFAULTS.registries]),
        /** Default upstream when a request names none (skopeo, podman); defaults to registries[0]. */
        defaultRegistry: registryUrl.optional(),
        /**
         * Reach any registry a request names (X-Dragonfly-Registry or containerd's ?ns=), not only those in
         * `registries`: for containerd's `_default/hosts.toml` (every registry through the mirror). Over
         * https unless the header names http.
         */
        allowAllRegistries: z.boolean().default(false),
        /**
         * Before a blob is served from the cache or from peers, the origin is asked (HEAD with the client's
         * headers) whether this client may read it; false: any client reaching the mirror may (one tenant).
         */
        authCheck: z
          .strictObject({
            enable: z.boolean().default(DEFAULTS.authCheckEnable),
            /** A positive verdict for (registry, repo, digest, credential) younger than this skips the HEAD. */
            ttl: duration.prefault(DEFAULTS.authCheckTtl),
            /** When the origin cannot answer, a positive verdict younger than this still serves. */
            staleIfError: duration.prefault(DEFAULTS.authCheckStaleIfError),
          })
          .prefault({}),
      })
      .prefault({}),
    api: z
      .strictObject({ host: z.string().default(DEFAULTS.apiHost), port: port.default(DEFAULTS.apiPort) })
      .prefault({}),
    /** Run as a seed peer: the scheduler sends it to the origin first and others download from it. */
    seed: z.boolean().default(false),
    host: z
      .strictObject({
        /** Unique host id; default <ip>-<hostname>-<upload port>[-seed]. */
        id: z.string().min(1).optional(),
        hostname: z.string().min(1).optional(),
        /** Address other daemons reach this one at; default the first non-loopback IPv4. */
        ip: z.string().min(1).optional(),
        idc: z.string().default(""),
        location: z.string().default(""),
      })
      .prefault({}),
    scheduler: z
      .strictObject({
        /** Scheduler URLs (http://host:8002); none means every task goes to the origin. */
        addresses: z.array(z.url()).default([]),
        announceInterval: duration.prefault(DEFAULTS.announceInterval),
        /** How long to wait for a scheduler's answer before going to the origin. */
        scheduleTimeout: duration.prefault(DEFAULTS.scheduleTimeout),
      })
      .prefault({}),
    tracing: z
      .strictObject({
        /** OTLP/HTTP traces endpoint (e.g. http://jaeger:4318/v1/traces); "" = tracing off. */
        endpoint: z.union([z.literal(""), z.url()]).default(""),
        sampleRatio: z.number().min(0).max(1).default(1),
      })
      .prefault({}),
    manager: z
      .strictObject({
        /** The manager's Connect address (http://manager:65003); "" = none, static schedulers only. */
        address: z.union([z.literal(""), z.url()]).default(""),
        clusterId: z.number().int().min(1).default(DEFAULTS.clusterId),
        keepAliveInterval: duration.prefault(DEFAULTS.managerKeepAlive),
        /** How often the cluster's schedulers are read from the manager. */
        refreshInterval: duration.prefault(DEFAULTS.managerRefresh),
      })
      .prefault({}),
    upload: z
      .strictObject({
        host: z.string().default(DEFAULTS.uploadHost),
        port: port.default(DEFAULTS.uploadPort),
        /** Piece uploads served at once. */
        limit: z.number().int().min(1).max(10_000).default(DEFAULTS.uploadLimit),
        /** Seeds only: copies of a piece served before children must trade it among themselves (0: no limit). */
        seedCopiesPerPiece: z.number().int().min(0).max(1000).default(DEFAULTS.seedCopiesPerPiece),
        /** Test only: corrupt every piece this daemon uploads, to prove that children detect it. */
        testCorruptPieces: z.boolean().default(false),
      })
      .prefault({}),
    download: z
      .strictObject({
        concurrentPieces: z.number().int().min(1).max(64).default(DEFAULTS.concurrentPieces),
        pieceRetries: z.number().int().min(0).max(10).default(DEFAULTS.pieceRetries),
        pieceTimeout: duration.prefault(DEFAULTS.pieceTimeout),
        connectTimeout: duration.prefault(DEFAULTS.connectTimeout),
        /** No piece from any parent for this long: ask the scheduler for other parents. */
        stallTimeout: duration.prefault(DEFAULTS.stallTimeout),
        /** A piece request to a parent slower than this (or 4x the median) is asked again elsewhere. */
        hedgeAfter: duration.prefault(DEFAULTS.hedgeAfter),
        maxReschedules: z.number().int().min(0).max(100).default(DEFAULTS.maxReschedules),
      })
      .prefault({}),
    storage: z
      .strictObject({
        /** Bytes of content the cache may hold; eviction starts above highWatermark x quota. */
        quota: byteSize.prefault(DEFAULTS.quota),
        highWatermark: z.number().gt(0).max(1).default(DEFAULTS.highWatermark),
        lowWatermark: z.number().gt(0).max(1).default(DEFAULTS.lowWatermark),
        gcInterval: duration.prefault(DEFAULTS.gcInterval),
      })
      .prefault({})
      .refine((s) => s.lowWatermark < s.highWatermark, { message: "lowWatermark must be below highWatermark" }),
    /** Prometheus metrics at GET /metrics on their own port. */
    metrics: z
      .strictObject({
        host: z.string().default(DEFAULTS.metricsHost),
        port: port.default(DEFAULTS.metricsPort),
        enable: z.boolean().default(DEFAULTS.metricsEnable),
      })
      .prefault({}),
    /** CPU/heap profiles at GET /debug/pprof/ on their own port; -1 = off. */
    pprofHost: z.string().min(1).default(DEFAULTS.pprofHost),
    pprofPort: z.number().int().min(-1).max(65535).default(DEFAULTS.pprofPort),
  })
  .strict()
  .transform((config) => ({
    ...config,
    proxy: { ...config.proxy, defaultRegistry: config.proxy.defaultRegistry ?? config.proxy.registries[0]! },
  }));

export type DaemonConfig = z.output<typeof daemonConfigSchema>;
export type DaemonConfigInput = z.input<typeof daemonConfigSchema>;
