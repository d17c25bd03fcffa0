import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "@d7y/observability";
import { taskIdForDigest, taskIdForUrl } from "@d7y/proto";
import type { InstanceRegistry } from "../cluster/instances.js";
import type { PreheatArgs } from "../job/preheat-args.js";
import { parseImageLocation } from "../oci/image-reference.js";
import { type ResolvedImage, resolveImage } from "../oci/image-resolver.js";
import { parsePlatform } from "../oci/platform.js";
import type { RegistryHttp } from "../oci/registry-http.js";
import { RegistrySession } from "../oci/registry-session.js";
import type { BlobDownloader } from "./blob-downloader.js";
import { forEachBounded } from "./bounded-pool.js";
import { buildResult, type PreheatHostOutcome, type PreheatLayer, type PreheatResult } from "./preheat-result.js";
import { findTargets } from "./preheat-targets.js";
import { type HostLister, ringOf, type TargetHost } from "./target-hosts.js";

export interface PreheatDeps {
  instances: InstanceRegistry;
  registry: RegistryHttp;
  downloader: BlobDownloader;
  hostLister: HostLister;
  logger: Logger;
  now: () => number;
}

export interface PreheatRun {
  args: PreheatArgs;
  /** The clusters to preheat in. */
  clusterIds: number[];
  /** True when the job named no cluster: clusters without hosts are skipped rather than failed. */
  allClusters: boolean;
  /** Aborted on timeout, cancellation or stop; `reason` says which. */
  signal: AbortSignal;
  /** How long to wait for active hosts to appear (a job resumed after a restart); 0 fails at once. */
  waitForHostsMs: number;
  /** Called with the result so far after each blob. */
  onProgress?: (result: PreheatResult) => void;
}

/** A seed that refuses connections is skipped for the next one on the ring, this many times at most. */
const MAX_SEED_FALLBACKS = 2;

interface Blob {
  url: string;
  digest?: string;
  size?: number;
  /** The ring key: the task id the daemons compute for it. */
  taskId: string;
}

function describeError(error: unknown, signal: AbortSignal): string {
  if (signal.aborted) return String((signal.reason as Error)?.message ?? signal.reason);
  return error instanceof Error ? error.message : String(error);
}

/** True when a host could not be reached at all (worth trying the next seed on the ring). */
function isUnreachable(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.Unavailable;
}

/**
 * One preheat: finds the target hosts of each cluster, resolves the blobs (the image's platform manifest,
 * or the file URLs), then has the hosts download each blob through their piece engine, at most
 * concurrent_task_count blobs and concurrent_peer_count hosts per blob at once. Throws for job-level
 * failures (no host, registry errors); per-(blob, host) failures end up in the result.
 */
export async function runPreheat(run: PreheatRun, deps: PreheatDeps): Promise<PreheatResult> {
  const { args, signal } = run;
  const targets = await findTargets(run, deps);
  const clusterIds = [...targets.keys()];

  let image: ResolvedImage | undefined;
  let blobs: Blob[];
  let headersFor: (signal: AbortSignal) => Promise<Record<string, string>>;
  const filtered = args.filtered_query_params?.split("&");
  if (args.type === "image") {
    const session = new RegistrySession(
      parseImageLocation(args.url!),
      {
        ...(args.username === undefined ? {} : { username: args.username }),
        ...(args.password === undefined ? {} : { password: args.password }),
        ...(args.headers ? { headers: args.headers } : {}),
      },
      deps.registry,
      deps.now,
    );
    image = await resolveImage(session, parsePlatform(args.platform ?? ""), signal);
    blobs = image.blobs.map((blob) => ({
      url: blob.url,
      digest: blob.digest,
      ...(blob.size === undefined ? {} : { size: blob.size }),
      taskId: taskIdForDigest(blob.digest),
    }));
    headersFor = (abort) => session.downloadHeaders(abort);
  } else {
    blobs = (args.urls ?? []).map((url) => ({
      url,
      taskId: taskIdForUrl(url, filtered ? { filteredQueryParams: filtered } : {}),
    }));
    headersFor = async () => ({ ...args.headers });
  }
  deps.logger.info({ blobs: blobs.length, clusters: clusterIds }, "preheating");

  const rings = new Map([...targets].map(([id, hosts]) => [id, ringOf(hosts)]));
  const layers: PreheatLayer[] = blobs.map((blob) => ({
    url: blob.url,
    ...(blob.digest ? { digest: blob.digest } : {}),
    ...(blob.size === undefined ? {} : { size: blob.size }),
    hosts: [],
  }));
  const at = () => new Date(deps.now()).toISOString();
  const imageSummary = image && {
    manifestUrl: image.manifestUrl,
    manifestDigest: image.manifestDigest,
    ...(image.platform ? { platform: image.platform } : {}),
  };

  /** For each cluster, the hosts to try for a blob: every selected host, or the ring's owner then fallbacks. */
  const hostsFor = (blob: Blob): TargetHost[][] =>
    [...targets].flatMap(([clusterId, hosts]) => {
      if (args.scope !== "single_seed_peer") return hosts.map((host) => [host]);
      const order = rings
        .get(clusterId)!
        .walk(blob.taskId)
        .slice(0, MAX_SEED_FALLBACKS + 1);
      return [order.map((id) => hosts.find((host) => host.id === id)!)];
    });

  await forEachBounded(blobs, args.concurrent_task_count, signal, async (blob, index) => {
    const layer = layers[index]!;
    let requestHeader: Record<string, string>;
    try {
      requestHeader = await headersFor(signal);
    } catch (error) {
      const message = describeError(error, signal);
      for (const candidates of hostsFor(blob)) layer.hosts.push(outcome(candidates[0]!, "FAILURE", 0, message));
      return;
    }
    const download = {
      url: blob.url,
      ...(blob.digest ? { digest: blob.digest } : {}),
      requestHeader,
      ...(filtered ? { filteredQueryParams: filtered } : {}),
      ...(args.piece_length ? { pieceLength: args.piece_length } : {}),
    };
    await forEachBounded(hostsFor(blob), args.concurrent_peer_count, signal, async (candidates) => {
      for (const [attempt, host] of candidates.entries()) {
        const started = deps.now();
        try {
          await deps.downloader(host, download, signal);
          layer.hosts.push(outcome(host, "SUCCESS", deps.now() - started));
          return;
        } catch (error) {
          const last = attempt === candidates.length - 1 || !isUnreachable(error) || signal.aborted;
          if (last) {
            layer.hosts.push(outcome(host, "FAILURE", deps.now() - started, describeError(error, signal)));
            return;
          }
          deps.logger.warn({ err: error, host: host.hostname, url: blob.url }, "seed unreachable, trying the next");
        }
      }
    });
    run.onProgress?.(buildResult({ clusterIds, layers, at: at(), ...(imageSummary ? { image: imageSummary } : {}) }));
  });
  if (signal.aborted) throw signal.reason;
  return buildResult({ clusterIds, layers, at: at(), ...(imageSummary ? { image: imageSummary } : {}) });
}

function outcome(host: TargetHost, state: "SUCCESS" | "FAILURE", costMs: number, error?: string): PreheatHostOutcome {
  return {
    hostname: host.hostname,
    ip: host.ip,
    scheduler_cluster_id: host.clusterId,
    state,
    ...(error === undefined ? {} : { error }),
    cost_ms: costMs,
  };
}
