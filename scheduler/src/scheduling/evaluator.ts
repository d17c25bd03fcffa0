import type { Host } from "../resource/host.js";
import type { Peer } from "../resource/peer.js";
import type { Task } from "../resource/task.js";
import type { EligibleParent } from "./parent-filter.js";

/** Weights of the parent score; they sum to 1. */
export const SCORE_WEIGHTS = {
  pieces: 0.3,
  uploadSuccess: 0.2,
  freeUploadSlots: 0.2,
  hostType: 0.2,
  locality: 0.1,
} as const;

/** Subtracted from hosts that ever served bytes failing verification (after their suspect period). */
export const CORRUPT_PARENT_PENALTY = 0.5;

function sameLabel(a: string, b: string): boolean {
  return a !== "" && a.toLowerCase() === b.toLowerCase();
}

/** Fraction of the task the parent holds: 1 when Succeeded, 0 while the piece count is unknown. */
export function pieceScore(parent: Peer, task: Task): number {
  if (parent.state === "succeeded") return 1;
  if (!task.pieceCount) return 0;
  return Math.min(1, parent.finishedPieces.size / task.pieceCount);
}

/** Same IDC 0.5 plus same location 0.5 (empty labels never match). */
export function localityScore(parentHost: Host, childHost: Host | undefined): number {
  if (!childHost) return 0;
  return (
    (sameLabel(parentHost.spec.idc, childHost.spec.idc) ? 0.5 : 0) +
    (sameLabel(parentHost.spec.location, childHost.spec.location) ? 0.5 : 0)
  );
}

/** The load- and progress-aware score of one parent for one child (higher is better). */
export function scoreParent(parent: EligibleParent, childHost: Host | undefined, task: Task): number {
  const { host } = parent;
  const score =
    SCORE_WEIGHTS.pieces * pieceScore(parent.peer, task) +
    SCORE_WEIGHTS.uploadSuccess * host.uploadSuccessRate() +
    SCORE_WEIGHTS.freeUploadSlots * host.freeUploadFraction() +
    SCORE_WEIGHTS.hostType * (host.isSeed ? 1 : 0.5) +
    SCORE_WEIGHTS.locality * localityScore(host, childHost);
  return host.corruptPieceCount > 0 ? score - CORRUPT_PARENT_PENALTY : score;
}

/** FNV-1a: a cheap, stable tie-breaker so equal parents are spread over different children. */
function tieBreak(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** The best `limit` parents for a child, best first. */
export function selectParents(
  eligible: EligibleParent[],
  child: Peer,
  childHost: Host | undefined,
  task: Task,
  limit: number,
): Peer[] {
  return eligible
    .map((parent) => ({
      peer: parent.peer,
      score: scoreParent(parent, childHost, task),
      tie: tieBreak(`${child.id}|${parent.peer.id}`),
    }))
    .sort((a, b) => b.score - a.score || a.tie - b.tie)
    .slice(0, limit)
    .map((entry) => entry.peer);
}
