import { create } from "@bufbuild/protobuf";
import { HostType } from "@d7y/proto/common/v1";
import {
  type ClusterStats,
  ClusterStatsSchema,
  type HostStats,
  HostStatsSchema,
  type TaskInFlight,
  TaskInFlightSchema,
} from "@d7y/proto/scheduler/v1";
import { every } from "@d7y/rpc";
import type { Host } from "../resource/host.js";
import type { SchedulerState } from "../resource/scheduler-state.js";
import type { Task } from "../resource/task.js";
import { hostToProto } from "./proto-views.js";

/** Bounds of WatchStats' interval: faster would only burn CPU on snapshots nobody can read. */
export const MIN_STATS_INTERVAL_MS = 200;
export const MAX_STATS_INTERVAL_MS = 60_000;
const DEFAULT_STATS_INTERVAL_MS = 1_000;

/** 0 means the default; anything else is clamped into [MIN, MAX]. */
export function statsIntervalMs(requested: number): number {
  if (!requested) return DEFAULT_STATS_INTERVAL_MS;
  return Math.min(MAX_STATS_INTERVAL_MS, Math.max(MIN_STATS_INTERVAL_MS, requested));
}

function hostStats(state: SchedulerState, host: Host): HostStats {
  let fromPeers = 0;
  let fromSource = 0;
  for (const peerId of host.peers) {
    const peer = state.peers.get(peerId);
    if (!peer) continue;
    fromPeers += peer.bytesFromPeers;
    fromSource += peer.bytesFromSource;
  }
  return create(HostStatsSchema, {
    host: hostToProto(host.spec),
    type: host.isSeed ? HostType.SEED : HostType.NORMAL,
    peers: host.peers.size,
    bytesFromPeers: BigInt(fromPeers),
    bytesFromSource: BigInt(fromSource),
    bytesUploaded: BigInt(host.bytesUploaded),
    diskUsedBytes: BigInt(host.spec.diskUsedBytes),
    diskQuotaBytes: BigInt(host.spec.diskQuotaBytes),
    uploadInFlight: host.spec.uploadInFlight,
  });
}

/** The task when some peer of it still downloads, else undefined. */
function taskInFlight(state: SchedulerState, task: Task): TaskInFlight | undefined {
  let running = 0;
  let finishedMax = 0;
  for (const peerId of task.peers) {
    const peer = state.peers.get(peerId);
    if (!peer || peer.isFinished()) continue;
    running++;
    finishedMax = Math.max(finishedMax, peer.finishedPieces.size);
  }
  if (running === 0) return undefined;
  return create(TaskInFlightSchema, {
    taskId: task.id,
    url: task.url,
    contentLength: BigInt(task.contentLength ?? 0),
    peersRunning: running,
    finishedPiecesMax: finishedMax,
    pieceCount: task.pieceCount ?? 0,
  });
}

/** What the scheduler knows now: live hosts with their cumulative traffic, and the tasks being downloaded. */
export function clusterStats(state: SchedulerState): ClusterStats {
  const now = state.now();
  const hosts = [...state.hosts.values()].filter((host) => !host.isExpired(now)).map((h) => hostStats(state, h));
  const tasks: TaskInFlight[] = [];
  for (const task of state.tasks.values()) {
    const stats = taskInFlight(state, task);
    if (stats) tasks.push(stats);
  }
  let fromPeers = 0n;
  let fromSource = 0n;
  for (const host of hosts) {
    fromPeers += host.bytesFromPeers;
    fromSource += host.bytesFromSource;
  }
  return create(ClusterStatsSchema, {
    timeMs: BigInt(now),
    hosts,
    tasksInFlight: tasks,
    bytesFromPeers: fromPeers,
    bytesFromSource: fromSource,
  });
}

/** WatchStats: a snapshot at once, then one per (bounded) interval until the client or the scheduler stops. */
export function watchStats(
  state: SchedulerState,
  requestedMs: number,
  signal: AbortSignal,
): AsyncIterable<ClusterStats> {
  const both = AbortSignal.any([signal, state.stopSignal]);
  return every(statsIntervalMs(requestedMs), both, () => clusterStats(state));
}
