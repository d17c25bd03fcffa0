import { HashRing } from "@d7y/proto";
import type { PreheatArgs } from "../job/preheat-args.js";
import type { SchedulerRecord, SeedPeerRecord } from "../storage/records.js";

/** A daemon a preheat downloads on: its Connect API at ip:port. */
export interface TargetHost {
  /** Host id (the hash ring key): a seed peer's announced host id, a scheduler's host id. */
  id: string;
  hostname: string;
  ip: string;
  port: number;
  clusterId: number;
}

/** Lists the hosts a scheduler knows (its ListHosts): the members of scope all_peers. */
export type HostLister = (scheduler: SchedulerRecord, signal: AbortSignal) => Promise<TargetHost[]>;

export function seedPeerHost(seed: SeedPeerRecord): TargetHost {
  return {
    id: seed.hostId || `${seed.hostname}-${seed.ip}`,
    hostname: seed.hostname,
    ip: seed.ip,
    port: seed.port,
    clusterId: seed.clusterId,
  };
}

/**
 * Dragonfly's selection for all_seed_peers / all_peers: the hosts with the given ips if any; else `count`
 * hosts; else `percentage` of them (at least one); else all. Picks are deterministic (sorted by host id).
 */
export function selectHosts(hosts: readonly TargetHost[], args: Pick<PreheatArgs, "ips" | "count" | "percentage">) {
  const sorted = [...hosts].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (args.ips && args.ips.length > 0) {
    const ips = new Set(args.ips);
    return sorted.filter((host) => ips.has(host.ip));
  }
  if (args.count !== undefined) return sorted.slice(0, args.count);
  if (args.percentage !== undefined) {
    return sorted.slice(0, Math.max(1, Math.floor((sorted.length * args.percentage) / 100)));
  }
  return sorted;
}

/** The single seed owning a task: consistent hashing of the task id over the seeds' host ids. */
export function seedForTask(ring: HashRing, seeds: readonly TargetHost[], taskId: string): TargetHost | undefined {
  const id = ring.get(taskId);
  return seeds.find((seed) => seed.id === id);
}

export function ringOf(hosts: readonly TargetHost[]): HashRing {
  return new HashRing(hosts.map((host) => host.id));
}
