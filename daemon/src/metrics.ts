import type { ServerResponse } from "node:http";
import { Counter, createMetricsRegistry, Gauge, Histogram, MetricsEndpoint, type Registry } from "@d7y/observability";
import type { DaemonConfig } from "./config.js";
import { usedBytes } from "./gc/quota.js";
import { AUTH_CHECK_RESULTS, type AuthCheckResult } from "./proxy/auth-check.js";
import type { MetadataStore, TrafficType } from "./storage/index.js";
import type { TaskManager } from "./task/task-manager.js";

/** Where bytes delivered by this daemon came from: the origin, another peer, or its own complete cache. */
export type DownloadSource = "origin" | "peer" | "cache";
export const DOWNLOAD_SOURCES: readonly DownloadSource[] = ["origin", "peer", "cache"];

/** Why a piece request failed: the origin's answer, a parent's error, or a parent's bytes failing verification. */
export type PieceFailureReason = "origin_error" | "peer_error" | "peer_corrupt";
export const PIECE_FAILURE_REASONS: readonly PieceFailureReason[] = ["origin_error", "peer_error", "peer_corrupt"];

/** How the mirror routed a request: a blob GET through the piece engine, a pass-through, or neither (refused, health). */
export type MirrorRequestKind = "blob" | "passthrough" | "other";

const SOURCE_OF_TRAFFIC: Record<TrafficType, DownloadSource> = {
  back_to_source: "origin",
  remote_peer: "peer",
  local_peer: "cache",
};

/** Seconds; pieces are 4-64 MiB, fetched on loopback in milliseconds and over slow links in tens of seconds. */
const PIECE_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** What the daemon's gauges read when Prometheus scrapes. */
export interface DaemonMetricSources {
  /** Task downloads in flight now. */
  downloading(): number;
  /** Bytes of content the cache holds (every stored task, as the quota counts them). */
  cacheBytes(): Promise<number>;
}

/**
 * The daemon's metrics (README "Metrics"), registered in its own registry. Components get this object
 * through their deps and report what happened; the gauges read the state when scraped.
 */
export class DaemonMetrics {
  private readonly downloadBytes: Counter<"source">;
  private readonly pieceSeconds: Histogram<"source">;
  private readonly pieceFailures: Counter<"reason">;
  private readonly uploadBytes: Counter;
  private readonly uploadPieces: Counter;
  private readonly mirrorRequests: Counter<"kind" | "code">;
  private readonly authChecks: Counter<"result">;
  private readonly mirrorKinds = new WeakMap<ServerResponse, MirrorRequestKind>();

  constructor(
    readonly registry: Registry,
    sources: DaemonMetricSources,
  ) {
    const registers = [registry];
    this.downloadBytes = new Counter({
      name: "d7y_daemon_download_bytes_total",
      help: "Bytes this daemon delivered, by source: pieces fetched from the origin or from parent peers, and bytes served to mirror clients from complete cached tasks.",
      labelNames: ["source"],
      registers,
    });
    for (const source of DOWNLOAD_SOURCES) this.downloadBytes.inc({ source }, 0);
    this.pieceSeconds = new Histogram({
      name: "d7y_daemon_piece_download_duration_seconds",
      help: "Time to fetch one piece, by source (origin or peer).",
      labelNames: ["source"],
      buckets: PIECE_SECONDS_BUCKETS,
      registers,
    });
    this.pieceSeconds.zero({ source: "origin" });
    this.pieceSeconds.zero({ source: "peer" });
    this.pieceFailures = new Counter({
      name: "d7y_daemon_piece_failures_total",
      help: "Failed piece requests, by reason: origin_error, peer_error, peer_corrupt (bytes failed verification).",
      labelNames: ["reason"],
      registers,
    });
    for (const reason of PIECE_FAILURE_REASONS) this.pieceFailures.inc({ reason }, 0);
    this.uploadBytes = new Counter({
      name: "d7y_daemon_upload_bytes_total",
      help: "Piece bytes this daemon uploaded to other peers.",
      registers,
    });
    this.uploadPieces = new Counter({
      name: "d7y_daemon_upload_pieces_total",
      help: "Pieces this daemon uploaded to other peers.",
      registers,
    });
    this.mirrorRequests = new Counter({
      name: "d7y_daemon_mirror_requests_total",
      help: 'Requests the registry mirror answered, by kind (blob, passthrough, other) and HTTP status code ("aborted" when the response was cut short).',
      labelNames: ["kind", "code"],
      registers,
    });
    this.authChecks = new Counter({
      name: "d7y_daemon_auth_checks_total",
      help: "Access checks of blob GETs served from the cache or from peers, by result: allowed or denied by the origin's HEAD, cached (a recent yes for the credential), stale (origin unreachable, an older yes), unavailable (origin unreachable, refused with 502).",
      labelNames: ["result"],
      registers,
    });
    for (const result of AUTH_CHECK_RESULTS) this.authChecks.inc({ result }, 0);
    new Gauge({
      name: "d7y_daemon_tasks_downloading",
      help: "Task downloads in flight.",
      registers,
      collect() {
        this.set(sources.downloading());
      },
    });
    let cacheBytes = 0;
    new Gauge({
      name: "d7y_daemon_cache_bytes",
      help: "Bytes of content stored in the cache (what the quota counts).",
      registers,
      async collect() {
        try {
          cacheBytes = await sources.cacheBytes();
        } catch {
          // The store is closing: keep the last value.
        }
        this.set(cacheBytes);
      },
    });
  }

  /** A piece was verified and stored: its bytes and fetch time count for its source. */
  pieceStored(trafficType: TrafficType, bytes: number, costMs: number): void {
    const source = SOURCE_OF_TRAFFIC[trafficType];
    this.downloadBytes.inc({ source }, bytes);
    if (source !== "cache") this.pieceSeconds.observe({ source }, costMs / 1000);
  }

  /** Bytes served to a mirror client from a task that was already complete on disk. */
  servedFromCache(bytes: number): void {
    this.downloadBytes.inc({ source: "cache" }, bytes);
  }

  pieceFailed(reason: PieceFailureReason): void {
    this.pieceFailures.inc({ reason });
  }

  pieceUploaded(bytes: number): void {
    this.uploadBytes.inc(bytes);
    this.uploadPieces.inc();
  }

  /** A blob GET not served from the origin for its own request was checked with the origin (or the verdict cache). */
  authChecked(result: AuthCheckResult): void {
    this.authChecks.inc({ result });
  }

  /** Counts the mirror response once it closes; a later call for the same response only changes its kind. */
  trackMirrorRequest(res: ServerResponse, kind: MirrorRequestKind): void {
    const tracked = this.mirrorKinds.has(res);
    this.mirrorKinds.set(res, kind);
    if (tracked) return;
    res.once("close", () => {
      const code = res.writableFinished ? String(res.statusCode) : "aborted";
      this.mirrorRequests.inc({ kind: this.mirrorKinds.get(res) ?? kind, code });
    });
  }
}

/** The daemon's metrics and their /metrics endpoint, or neither when `metrics.enable` is false. */
export function createDaemonMetrics(
  config: DaemonConfig["metrics"],
  state: { tasks: () => TaskManager; metadata: MetadataStore },
): { metrics: DaemonMetrics; endpoint: MetricsEndpoint } | undefined {
  if (!config.enable) return undefined;
  const metrics = new DaemonMetrics(createMetricsRegistry("daemon"), {
    downloading: () => state.tasks().downloadingCount,
    cacheBytes: async () => usedBytes(await state.metadata.listTasks()),
  });
  return {
    metrics,
    endpoint: new MetricsEndpoint({ registry: metrics.registry, host: config.host, port: config.port }),
  };
}
