import { performance } from "node:perf_hooks";
import type { Logger } from "@d7y/observability";
import type { DecisionLabel } from "../metrics.js";
import { pause } from "../resource/change-signal.js";
import type { Peer } from "../resource/peer.js";
import type { SchedulerState } from "../resource/scheduler-state.js";
import type { Task } from "../resource/task.js";
import { selectParents } from "./evaluator.js";
import { filterParents } from "./parent-filter.js";

export type ScheduleDecision =
  | { kind: "normal"; parents: Peer[] }
  | { kind: "back_to_source"; reason: string }
  | { kind: "empty" };

/** How often a peer waiting for its seed looks again when nothing changed. */
export const SEED_POLL_MS = 50;
/** Upper bound on wake-ups in one seed wait (changes can be frequent: every piece is one). */
const MAX_SEED_WAKEUPS = 100_000;

const DECISION_LABELS: Record<ScheduleDecision["kind"], DecisionLabel> = {
  normal: "parents",
  back_to_source: "back_to_source",
  empty: "empty",
};

/**
 * Answers "where do I download from": parents, the origin, or nothing to do. Every wait is bounded
 * and every path ends in an answer: a pull never fails because of the scheduler.
 */
export class PeerScheduler {
  constructor(
    private readonly state: SchedulerState,
    private readonly logger: Logger,
  ) {}

  /** The answer to a register_peer. */
  register(peer: Peer, signal: AbortSignal): Promise<ScheduleDecision> {
    return this.counted(() => this.decideRegister(peer, signal));
  }

  private async decideRegister(peer: Peer, signal: AbortSignal): Promise<ScheduleDecision> {
    const task = this.state.tasks.get(peer.taskId);
    if (!task) return this.backToSource(peer, "task is no longer known");
    if (task.pieceCount && task.pieceCount > 0 && peer.finishedPieces.size >= task.pieceCount) {
      this.state.progress.succeeded(peer, {});
      this.log(peer).debug("peer holds every piece: empty task");
      return { kind: "empty" };
    }
    if (peer.download.needBackToSource) return this.backToSource(peer, "the download asked for the origin");
    return this.schedule(peer, signal);
  }

  /** The answer to a reschedule_peer (its blocked parents are already recorded). */
  reschedule(peer: Peer, signal: AbortSignal, options: { moreParents?: boolean } = {}): Promise<ScheduleDecision> {
    if (options.moreParents) {
      // A running download asking for extra parents: answer now, keep the parents it has.
      const parents = this.candidates(peer);
      for (const parent of peer.offeredParents) {
        const known = this.state.peers.get(parent);
        if (known && !parents.includes(known)) parents.push(known);
      }
      return Promise.resolve(this.offer(peer, parents));
    }
    return this.counted(() => this.schedule(peer, signal));
  }

  /** The best parents for the peer now (filtered and scored), without recording anything. */
  candidates(peer: Peer): Peer[] {
    const task = this.state.tasks.get(peer.taskId);
    if (!task) return [];
    const eligible = filterParents(peer, task, this.state);
    const childHost = this.state.hosts.get(peer.hostId);
    return selectParents(eligible, peer, childHost, task, this.state.options.candidateParentLimit);
  }

  private async schedule(peer: Peer, streamSignal: AbortSignal): Promise<ScheduleDecision> {
    const signal = AbortSignal.any([streamSignal, this.state.stopSignal]);
    const task = this.state.tasks.get(peer.taskId);
    if (!task) return this.backToSource(peer, "task is no longer known");
    let parents = this.candidates(peer);
    if (parents.length > 0) return this.offer(peer, parents);
    // Seed peers are scheduled like the others (a seed already holding the task feeds them: seeds
    // warm each other instead of all hitting the origin) but never wait for a seed themselves.
    const isSeed = this.state.hosts.get(peer.hostId)?.isSeed ?? false;
    if (!isSeed && (await this.waitForSeed(peer, task, signal))) {
      parents = this.candidates(peer);
      if (parents.length > 0) return this.offer(peer, parents);
    }

    const { backToSourceLimit, retryLimit, retryIntervalMs } = this.state.options;
    for (let attempt = 0; attempt <= retryLimit; attempt++) {
      if (this.state.backToSourceCount(task) < backToSourceLimit) {
        return this.backToSource(peer, "no parent has the task; within the back-to-source limit");
      }
      if (attempt === retryLimit || signal.aborted || !this.state.isCurrent(peer)) break;
      await pause(retryIntervalMs, signal);
      parents = this.candidates(peer);
      if (parents.length > 0) return this.offer(peer, parents);
    }
    return this.backToSource(peer, `no parent after ${retryLimit} retries`);
  }

  /**
   * With seed hosts and no failed seed attempt: triggers the task's seed if needed and waits (bounded by
   * seedWaitMs) until the seed peer is Running, BackToSource or Succeeded. Returns whether it is.
   */
  private async waitForSeed(peer: Peer, task: Task, signal: AbortSignal): Promise<boolean> {
    if (!this.state.seeds.ensureSeed(task, peer.download)) return false;
    const deadline = performance.now() + this.state.options.seedWaitMs;
    for (let wakeups = 0; wakeups < MAX_SEED_WAKEUPS; wakeups++) {
      const seed = this.state.seedPeerOf(task);
      if (seed && (seed.state === "running" || seed.state === "back_to_source" || seed.state === "succeeded")) {
        return true;
      }
      const left = deadline - performance.now();
      if (task.seedAttempt === "failed" || signal.aborted || left <= 0) break;
      await this.state.changes.wait(Math.min(SEED_POLL_MS, left), signal);
    }
    this.log(peer).debug({ seedAttempt: task.seedAttempt }, "no seed peer in time");
    return false;
  }

  private offer(peer: Peer, parents: Peer[]): ScheduleDecision {
    peer.offeredParents = new Set(parents.map((parent) => parent.id));
    for (const parent of parents) peer.parentHistory.add(parent.id);
    this.log(peer).debug({ parents: parents.map((parent) => parent.id) }, "offering parents");
    return { kind: "normal", parents };
  }

  private backToSource(peer: Peer, reason: string): ScheduleDecision {
    this.state.progress.grantBackToSource(peer);
    this.log(peer).debug({ reason }, "back to source");
    return { kind: "back_to_source", reason };
  }

  /** Counts an answer and how long it took (the periodic "more parents" refreshes are not counted). */
  private async counted(decide: () => Promise<ScheduleDecision>): Promise<ScheduleDecision> {
    const metrics = this.state.metrics;
    if (!metrics) return decide();
    const began = performance.now();
    const decision = await decide();
    const parents = decision.kind === "normal" ? decision.parents.length : 0;
    metrics.scheduled(DECISION_LABELS[decision.kind], parents, (performance.now() - began) / 1000);
    return decision;
  }

  private log(peer: Peer): Logger {
    return this.logger.child({ peerId: peer.id, taskId: peer.taskId, hostId: peer.hostId });
  }
}
