import { setTimeout as sleep } from "node:timers/promises";
import { ManagerError } from "../errors.js";
import type { PreheatDeps, PreheatRun } from "./preheat-run.js";
import { seedPeerHost, selectHosts, type TargetHost } from "./target-hosts.js";

/** How often a resumed job looks again for active hosts while it waits for them. */
const WAIT_POLL_MS = 500;

async function clusterHosts(run: PreheatRun, deps: PreheatDeps, clusterId: number): Promise<TargetHost[]> {
  const { args } = run;
  if (args.scope !== "all_peers") {
    const seeds = await deps.instances.listSeedPeers({ clusterId, activeOnly: true });
    const hosts = seeds.map(seedPeerHost);
    return args.scope === "all_seed_peers" ? selectHosts(hosts, args) : hosts;
  }
  const schedulers = await deps.instances.listSchedulers({ clusterId, activeOnly: true });
  const byId = new Map<string, TargetHost>();
  for (const scheduler of schedulers) {
    try {
      for (const host of await deps.hostLister(scheduler, run.signal)) byId.set(host.id, host);
    } catch (error) {
      if (run.signal.aborted) throw run.signal.reason;
      deps.logger.warn({ err: error, scheduler: scheduler.hostname }, "ListHosts failed; using the other schedulers");
    }
  }
  return selectHosts([...byId.values()], args);
}

function missing(run: PreheatRun, clusterIds: readonly number[]): string {
  const what = run.args.scope === "all_peers" ? "host (from an active scheduler)" : "active seed peer";
  const selection = run.args.ips?.length ? ` with ips ${run.args.ips.join(", ")}` : "";
  if (clusterIds.length === 1) return `no ${what}${selection} in cluster ${clusterIds[0]}`;
  return `no ${what}${selection} in clusters ${clusterIds.join(", ")}`;
}

/**
 * The hosts of each cluster a preheat downloads on. A job naming its clusters needs hosts in each of them; a
 * job for every cluster skips clusters without hosts and needs at least one. A resumed job waits up to
 * `waitForHostsMs` for hosts to come back (their keepalive streams broke when the manager stopped).
 */
export async function findTargets(run: PreheatRun, deps: PreheatDeps): Promise<Map<number, TargetHost[]>> {
  const attempts = Math.floor(run.waitForHostsMs / WAIT_POLL_MS) + 1;
  let empty: number[] = [];
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) await sleep(WAIT_POLL_MS, undefined, { signal: run.signal, ref: false }).catch(() => undefined);
    if (run.signal.aborted) throw run.signal.reason;
    const targets = new Map<number, TargetHost[]>();
    empty = [];
    for (const clusterId of run.clusterIds) {
      const hosts = await clusterHosts(run, deps, clusterId);
      if (hosts.length > 0) targets.set(clusterId, hosts);
      else empty.push(clusterId);
    }
    if (run.allClusters ? targets.size > 0 : empty.length === 0) return targets;
  }
  throw new ManagerError("unavailable", missing(run, empty));
}
