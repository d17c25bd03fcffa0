import type { ClusterStats } from "@d7y/proto/scheduler/v1";
import { SchedulerService } from "@d7y/proto/scheduler/v1";
import { createRpcClient, every, keepRunning } from "@d7y/rpc";
import type { InstanceRegistry } from "../cluster/instances.js";
import { daemonUrl } from "../preheat/blob-downloader.js";
import type { SchedulerRecord } from "../storage/records.js";
import { mergeClusterStats } from "./cluster-stats-merge.js";

export const MIN_STATS_INTERVAL_MS = 200;
const MAX_STATS_INTERVAL_MS = 60_000;
const DEFAULT_STATS_INTERVAL_MS = 1_000;

/** 0 means the default; anything else is clamped into [200 ms, 60 s]. */
export function statsIntervalMs(requested: number): number {
  if (!requested) return DEFAULT_STATS_INTERVAL_MS;
  return Math.min(MAX_STATS_INTERVAL_MS, Math.max(MIN_STATS_INTERVAL_MS, requested));
}

/** One scheduler's WatchStats stream, reopened after it drops; `latest` is its last snapshot (none while down). */
class SchedulerSubscription {
  latest: ClusterStats | undefined;
  private readonly abort = new AbortController();

  constructor(scheduler: SchedulerRecord, intervalMs: number, signal: AbortSignal, onError: (error: unknown) => void) {
    const both = AbortSignal.any([signal, this.abort.signal]);
    const client = createRpcClient(SchedulerService, daemonUrl(scheduler));
    void keepRunning(
      async (taskSignal) => {
        try {
          for await (const stats of client.watchStats({ intervalMs }, { signal: taskSignal })) this.latest = stats;
        } finally {
          this.latest = undefined;
        }
      },
      intervalMs,
      both,
      onError,
    );
  }

  stop(): void {
    this.abort.abort();
  }
}

export interface WatchClusterStatsInput {
  clusterId: number;
  intervalMs: number;
  instances: InstanceRegistry;
  signal: AbortSignal;
  onError: (error: unknown) => void;
}

/**
 * WatchClusterStats: follows the cluster's active schedulers (re-listed every interval, so new ones join and
 * gone ones leave), keeps one WatchStats stream to each, and yields their merged latest snapshots per interval.
 */
export async function* watchClusterStats(input: WatchClusterStatsInput): AsyncGenerator<ClusterStats> {
  const intervalMs = statsIntervalMs(input.intervalMs);
  const subscriptions = new Map<string, SchedulerSubscription>();
  try {
    for await (const tick of every(intervalMs, input.signal, () => Date.now())) {
      const schedulers = await input.instances.listSchedulers({ clusterId: input.clusterId, activeOnly: true });
      const keys = new Set<string>();
      for (const scheduler of schedulers) {
        const key = `${scheduler.ip}:${scheduler.port}`;
        keys.add(key);
        if (!subscriptions.has(key)) {
          subscriptions.set(key, new SchedulerSubscription(scheduler, intervalMs, input.signal, input.onError));
        }
      }
      for (const [key, subscription] of subscriptions) {
        if (keys.has(key)) continue;
        subscription.stop();
        subscriptions.delete(key);
      }
      const snapshots = [...subscriptions.values()].flatMap((s) => (s.latest ? [s.latest] : []));
      yield mergeClusterStats(snapshots, tick);
    }
  } finally {
    for (const subscription of subscriptions.values()) subscription.stop();
  }
}
