import type { TopHost, TopTask } from "../top/top-model.js";

/** Text cut to `width` (an ellipsis marks the cut) and padded to it. */
export function fit(text: string, width: number, align: "left" | "right" = "left"): string {
  if (width <= 0) return "";
  const cut = text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text;
  return align === "left" ? cut.padEnd(width) : cut.padStart(width);
}

const UNITS = ["B", "K", "M", "G", "T", "P"];

/** At most 7 characters: 512B, 1.5K, 1023.9M, 12.0G. */
export function compactBytes(bytes: number): string {
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)}B` : `${value.toFixed(1)}${UNITS[unit]}`;
}

/** Megabytes (10^6) per second with one decimal. */
export function megabytesPerSecond(bytesPerSec: number): string {
  return (bytesPerSec / 1_000_000).toFixed(1);
}

export function cacheUse(host: TopHost): string {
  if (host.diskQuotaBytes <= 0) return compactBytes(host.diskUsedBytes);
  const percent = Math.min(999, Math.round((100 * host.diskUsedBytes) / host.diskQuotaBytes));
  return `${compactBytes(host.diskUsedBytes)} ${percent}%`;
}

/** `repo@sha256:0123456789ab` for a registry blob URL, else the URL's last path segment. */
export function taskLabel(task: TopTask): string {
  const blob = /\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{12})/.exec(task.url);
  if (blob) return `${blob[1]}@${blob[2]}`;
  const segment = task.url.split("?")[0]?.split("/").filter(Boolean).at(-1);
  return segment || task.taskId.slice(0, 16);
}

/** `[#####.....]` of `width` cells for done/total. */
export function progressBar(done: number, total: number, width: number): string {
  const inner = Math.max(1, width - 2);
  const filled = total > 0 ? Math.min(inner, Math.round((inner * done) / total)) : 0;
  return `[${"#".repeat(filled)}${".".repeat(inner - filled)}]`;
}

/** The hosts table's fixed columns (the host name takes what is left). */
export const HOST_COLUMNS = [
  { key: "role", title: "ROLE", width: 6 },
  { key: "down", title: "DOWN MB/s", width: 10 },
  { key: "up", title: "UP MB/s", width: 8 },
  { key: "peers", title: "PEERS", width: 7 },
  { key: "origin", title: "ORIGIN", width: 7 },
  { key: "cache", title: "CACHE", width: 12 },
] as const;

export function hostCells(host: TopHost): Record<(typeof HOST_COLUMNS)[number]["key"], string> {
  return {
    role: host.role,
    down: megabytesPerSecond(host.downBytesPerSec),
    up: megabytesPerSecond(host.upBytesPerSec),
    peers: compactBytes(host.bytesFromPeers),
    origin: compactBytes(host.bytesFromSource),
    cache: cacheUse(host),
  };
}
