import { create } from "@bufbuild/protobuf";
import {
  type ClusterStats,
  ClusterStatsSchema,
  type HostStats,
  HostStatsSchema,
  type TaskInFlight,
} from "@d7y/proto/scheduler/v1";

/**
 * Merges the latest snapshot of each scheduler. A daemon talks to several schedulers (tasks are spread over
 * them by hash ring), so one host's counters are summed across them; its announced load (disk, uploads in
 * flight) is the same everywhere and taken from the first. A task lives on one scheduler: first one wins.
 */
export function mergeClusterStats(snapshots: readonly ClusterStats[], timeMs: number): ClusterStats {
  const hosts = new Map<string, HostStats>();
  const tasks = new Map<string, TaskInFlight>();
  let fromPeers = 0n;
  let fromSource = 0n;
  for (const snapshot of snapshots) {
    fromPeers += snapshot.bytesFromPeers;
    fromSource += snapshot.bytesFromSource;
    for (const host of snapshot.hosts) {
      const id = host.host?.id ?? "";
      const known = hosts.get(id);
      if (!known) {
        hosts.set(id, create(HostStatsSchema, host));
        continue;
      }
      known.peers += host.peers;
      known.bytesFromPeers += host.bytesFromPeers;
      known.bytesFromSource += host.bytesFromSource;
      known.bytesUploaded += host.bytesUploaded;
    }
    for (const task of snapshot.tasksInFlight) if (!tasks.has(task.taskId)) tasks.set(task.taskId, task);
  }
  return create(ClusterStatsSchema, {
    timeMs: BigInt(timeMs),
    hosts: [...hosts.values()],
    tasksInFlight: [...tasks.values()],
    bytesFromPeers: fromPeers,
    bytesFromSource: fromSource,
  });
}
