import { HostType } from "@d7y/proto/common/v1";
import type { ClusterStats } from "@d7y/proto/scheduler/v1";

/** One row of `top`'s hosts table: counters of the latest snapshot and rates since the one before. */
export interface TopHost {
  id: string;
  hostname: string;
  ip: string;
  /** Its piece upload port: tells apart daemons of one machine. */
  downloadPort: number;
  role: "seed" | "normal";
  downBytesPerSec: number;
  upBytesPerSec: number;
  bytesFromPeers: number;
  bytesFromSource: number;
  bytesUploaded: number;
  diskUsedBytes: number;
  diskQuotaBytes: number;
}

export interface TopTask {
  taskId: string;
  url: string;
  contentLength: number;
  peersRunning: number;
  finishedPieces: number;
  pieceCount: number;
}

/** What `top` shows: derived from successive ClusterStats, no I/O. */
export interface TopSnapshot {
  timeMs: number;
  /** bytes from peers / (peers + origin); undefined before any byte moved. */
  p2pRatio: number | undefined;
  bytesFromPeers: number;
  bytesFromSource: number;
  hosts: TopHost[];
  tasks: TopTask[];
}

/** The per-host rates between two snapshots (0 for a host seen for the first time, never negative). */
export function topSnapshot(stats: ClusterStats, previous: ClusterStats | undefined): TopSnapshot {
  const seconds = previous ? Number(stats.timeMs - previous.timeMs) / 1000 : 0;
  const before = new Map((previous?.hosts ?? []).map((h) => [h.host?.id ?? "", h]));
  const rate = (now: bigint, then: bigint | undefined) =>
    seconds > 0 && then !== undefined ? Math.max(0, Number(now - then) / seconds) : 0;
  const hosts = stats.hosts.map((h): TopHost => {
    const id = h.host?.id ?? "";
    const old = before.get(id);
    const down = h.bytesFromPeers + h.bytesFromSource;
    return {
      id,
      hostname: h.host?.hostname || id,
      ip: h.host?.ip ?? "",
      downloadPort: h.host?.downloadPort ?? 0,
      role: h.type === HostType.SEED ? "seed" : "normal",
      downBytesPerSec: rate(down, old ? old.bytesFromPeers + old.bytesFromSource : undefined),
      upBytesPerSec: rate(h.bytesUploaded, old?.bytesUploaded),
      bytesFromPeers: Number(h.bytesFromPeers),
      bytesFromSource: Number(h.bytesFromSource),
      bytesUploaded: Number(h.bytesUploaded),
      diskUsedBytes: Number(h.diskUsedBytes),
      diskQuotaBytes: Number(h.diskQuotaBytes),
    };
  });
  const fromPeers = Number(stats.bytesFromPeers);
  const fromSource = Number(stats.bytesFromSource);
  return {
    timeMs: Number(stats.timeMs),
    p2pRatio: fromPeers + fromSource > 0 ? fromPeers / (fromPeers + fromSource) : undefined,
    bytesFromPeers: fromPeers,
    bytesFromSource: fromSource,
    hosts,
    tasks: stats.tasksInFlight.map((t) => ({
      taskId: t.taskId,
      url: t.url,
      contentLength: Number(t.contentLength),
      peersRunning: t.peersRunning,
      finishedPieces: t.finishedPiecesMax,
      pieceCount: t.pieceCount,
    })),
  };
}

/** The columns `s` cycles through, in order. */
export const SORT_KEYS = ["down", "up", "peers", "origin", "cache", "host"] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export function nextSortKey(key: SortKey): SortKey {
  return SORT_KEYS[(SORT_KEYS.indexOf(key) + 1) % SORT_KEYS.length] ?? "down";
}

const SORT_VALUE: Record<Exclude<SortKey, "host">, (h: TopHost) => number> = {
  down: (h) => h.downBytesPerSec,
  up: (h) => h.upBytesPerSec,
  peers: (h) => h.bytesFromPeers,
  origin: (h) => h.bytesFromSource,
  cache: (h) => h.diskUsedBytes,
};

/** Hosts sorted by `key` (numbers descending, names ascending; ties by name), keeping those matching `filter`. */
export function visibleHosts(hosts: readonly TopHost[], key: SortKey, filter: string): TopHost[] {
  const needle = filter.toLowerCase();
  const kept = hosts.filter((h) => !needle || `${h.hostname} ${h.ip} ${h.id} ${h.role}`.toLowerCase().includes(needle));
  const byName = (a: TopHost, b: TopHost) => a.hostname.localeCompare(b.hostname) || a.id.localeCompare(b.id);
  if (key === "host") return kept.sort(byName);
  const value = SORT_VALUE[key];
  return kept.sort((a, b) => value(b) - value(a) || byName(a, b));
}

/** Tasks matching `filter` (URL or id), the least finished first. */
export function visibleTasks(tasks: readonly TopTask[], filter: string): TopTask[] {
  const needle = filter.toLowerCase();
  const progress = (t: TopTask) => (t.pieceCount > 0 ? t.finishedPieces / t.pieceCount : 0);
  return tasks
    .filter((t) => !needle || `${t.url} ${t.taskId}`.toLowerCase().includes(needle))
    .sort((a, b) => progress(a) - progress(b) || a.url.localeCompare(b.url));
}
