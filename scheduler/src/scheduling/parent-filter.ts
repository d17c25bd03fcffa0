import type { Host } from "../resource/host.js";
import type { Peer } from "../resource/peer.js";
import type { Task } from "../resource/task.js";

/** What the filter reads from the state. */
export interface ParentView {
  readonly peers: ReadonlyMap<string, Peer>;
  /** The host when known and not expired. */
  liveHost(hostId: string): Host | undefined;
  isSuspect(hostId: string): boolean;
}

export interface EligibleParent {
  peer: Peer;
  host: Host;
}

/**
 * Peers that depend, directly or not, on `child` (offering one of them to it would make a cycle).
 * Finished peers depend on nobody. Bounded by the task's peer count.
 */
export function descendantsOf(child: Peer, task: Task, view: ParentView): Set<string> {
  const children = new Map<string, string[]>();
  for (const id of task.peers) {
    const peer = view.peers.get(id);
    if (!peer) continue;
    for (const parentId of peer.dependsOn()) {
      const list = children.get(parentId);
      if (list) list.push(peer.id);
      else children.set(parentId, [peer.id]);
    }
  }
  const found = new Set<string>();
  const queue = [child.id];
  for (let index = 0; index < queue.length && index <= task.peers.size; index++) {
    for (const next of children.get(queue[index]!) ?? []) {
      if (next === child.id || found.has(next)) continue;
      found.add(next);
      queue.push(next);
    }
  }
  return found;
}

/** Why `parent` cannot serve `child` now, or undefined when it can. */
export function parentRejection(
  child: Peer,
  parent: Peer,
  view: ParentView,
  descendants: ReadonlySet<string>,
): string | undefined {
  if (parent.id === child.id) return "itself";
  if (parent.hostId === child.hostId) return "same host";
  if (child.blockedPeers.has(parent.id) || child.blockedHosts.has(parent.hostId)) return "blocked";
  if (view.isSuspect(parent.hostId)) return "suspect host";
  if (parent.state === "failed" || parent.state === "left" || parent.state === "pending") return parent.state;
  const host = view.liveHost(parent.hostId);
  if (!host) return "host expired";
  if (!host.hasFreeUploadSlot()) return "no free upload slot";
  if (descendants.has(parent.id)) return "descendant";
  if (
    !host.isSeed &&
    parent.finishedPieces.size === 0 &&
    parent.state !== "back_to_source" &&
    parent.state !== "succeeded"
  ) {
    return "no pieces yet";
  }
  return undefined;
}

/** The peers of the task that may serve `child` now, each with its host. */
export function filterParents(child: Peer, task: Task, view: ParentView): EligibleParent[] {
  const descendants = descendantsOf(child, task, view);
  const eligible: EligibleParent[] = [];
  for (const id of task.peers) {
    const parent = view.peers.get(id);
    if (!parent || parentRejection(child, parent, view, descendants) !== undefined) continue;
    const host = view.liveHost(parent.hostId);
    if (host) eligible.push({ peer: parent, host });
  }
  return eligible;
}
