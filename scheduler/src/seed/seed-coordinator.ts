import type { Logger } from "@d7y/observability";
import { HashRing } from "@d7y/proto";
import type { Host } from "../resource/host.js";
import type { DownloadSpec } from "../resource/peer.js";
import type { SchedulerState } from "../resource/scheduler-state.js";
import type { Task } from "../resource/task.js";
import type { SeedTrigger, SeedTriggerResult } from "./seed-trigger.js";

/** How long stop() waits for aborted seed triggers to wind down. */
const SETTLE_LIMIT_MS = 2_000;

/** Chooses the seed host of a task (consistent hashing) and triggers its download, at most once at a time. */
export class SeedCoordinator {
  private ring: HashRing | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly logger: Logger;

  constructor(
    private readonly state: SchedulerState,
    private readonly trigger: SeedTrigger,
    logger: Logger,
  ) {
    this.logger = logger.child({ component: "seeds" });
  }

  /** The live seed host that owns `taskId` on the ring of live seed hosts. */
  pickSeedHost(taskId: string): Host | undefined {
    const seeds = this.state.liveSeedHosts();
    if (seeds.length === 0) return undefined;
    const ids = seeds.map((host) => host.id).sort();
    if (!this.ring || this.ring.members.join("\n") !== ids.join("\n")) this.ring = new HashRing(ids);
    const id = this.ring.get(taskId);
    return seeds.find((host) => host.id === id);
  }

  /**
   * Makes sure a seed is on its way for the task: triggers one unless a seed peer exists, a trigger is in
   * flight, or a seed attempt failed. Returns whether a seed is (or will soon be) downloading the task.
   */
  ensureSeed(task: Task, download: DownloadSpec): boolean {
    if (task.seedAttempt === "failed") return false;
    if (this.state.seedPeerOf(task)) return true;
    if (task.seedAttempt === "triggered") return true;
    const host = this.pickSeedHost(task.id);
    if (!host) return false;
    task.seedAttempt = "triggered";
    this.logger.debug({ taskId: task.id, seedHostId: host.id }, "triggering seed download");
    const request = { taskId: task.id, host: host.spec, download: { ...download, needBackToSource: true } };
    // Started on the next tick so a trigger that throws synchronously is handled like one that rejects.
    const tracked: Promise<void> = Promise.resolve()
      .then(() => this.trigger(request, this.state.stopSignal))
      .then(
        (result) => this.onDone(task.id, host.id, result),
        (error: unknown) => this.onFailed(task.id, host.id, error),
      )
      .catch((error: unknown) => this.logger.error({ err: error, taskId: task.id }, "seed bookkeeping failed"))
      .finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
    return true;
  }

  /** Waits (bounded) for in-flight triggers to settle; they are aborted when the state stops. */
  async settle(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, SETTLE_LIMIT_MS);
      timer.unref();
    });
    await Promise.race([Promise.allSettled([...this.inFlight]), limit]);
    clearTimeout(timer);
  }

  private onDone(taskId: string, hostId: string, result: SeedTriggerResult): void {
    const task = this.state.tasks.get(taskId);
    if (!task || this.state.seedPeerOf(task)) return;
    const host = this.state.liveHost(hostId);
    if (host && result.fromCache && result.pieceLength > 0) {
      // The seed had it already and registered no peer: learn it as we learn announced tasks.
      this.state.adoptCompleteTask(host, {
        taskId,
        url: task.url,
        digest: task.digest,
        contentLength: result.contentLength,
        pieceLength: result.pieceLength,
        pieceCount: result.pieceCount,
      });
    }
    if (!this.state.seedPeerOf(task)) {
      task.seedAttempt = "failed";
      this.logger.warn({ taskId, seedHostId: hostId }, "seed download ended without a seed peer");
    } else {
      task.seedAttempt = "started";
    }
    this.state.changes.notify();
  }

  private onFailed(taskId: string, hostId: string, error: unknown): void {
    const task = this.state.tasks.get(taskId);
    if (this.state.stopSignal.aborted) return;
    this.logger.warn({ taskId, seedHostId: hostId, err: error }, "seed download failed; peers go back to source");
    if (task && this.state.seedPeerOf(task)?.state !== "succeeded") task.seedAttempt = "failed";
    this.state.changes.notify();
  }
}
