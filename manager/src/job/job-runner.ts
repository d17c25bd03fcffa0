import { setMaxListeners } from "node:events";
import { activeContext, type Context, inSpan, type Logger, tracerFor } from "@d7y/observability";
import { ManagerError } from "../errors.js";
import { PlatformNotFoundError } from "../oci/image-resolver.js";
import { RegistryError } from "../oci/registry-error.js";
import { failedResult, type PreheatResult } from "../preheat/preheat-result.js";
import { type PreheatDeps, runPreheat } from "../preheat/preheat-run.js";
import type { ManagerDatabase } from "../storage/manager-database.js";
import { idKey } from "../storage/record-table.js";
import type { JobRecord, JobState } from "../storage/records.js";
import { JobAbort } from "./job-abort.js";

export interface JobRunnerOptions {
  maxRunningJobs: number;
  /** How long a job found unfinished at start waits for its hosts to keep alive again. */
  resumeGraceMs: number;
}

export interface JobRunnerDeps {
  db: ManagerDatabase;
  preheat: PreheatDeps;
  logger: Logger;
  now: () => number;
}

const TRACER = tracerFor("manager");

interface Running {
  /** The job as it is now, with its result so far. */
  record: JobRecord;
  controller: AbortController;
  done: Promise<void>;
}

const FINAL_STATES = new Set<JobState>(["SUCCESS", "FAILURE"]);

export function isFinal(state: JobState): boolean {
  return FINAL_STATES.has(state);
}

/** Errors that are a job's outcome (the registry said no, no host...), not a bug of the manager. */
function isExpected(error: unknown): boolean {
  return error instanceof RegistryError || error instanceof PlatformNotFoundError || error instanceof ManagerError;
}

/**
 * Runs jobs, at most maxRunningJobs at once (the others wait in PENDING), each bounded by its timeout, and
 * persists every state change. At start, jobs left PENDING or STARTED by a previous run are run again (a
 * preheat is idempotent: daemons keep what they downloaded) unless their timeout has passed.
 */
export class JobRunner {
  private readonly queue: Array<{ record: JobRecord; resumed: boolean; trace?: Context }> = [];
  private readonly running = new Map<number, Running>();
  private stopping = false;

  constructor(
    private readonly options: JobRunnerOptions,
    private readonly deps: JobRunnerDeps,
  ) {}

  async start(): Promise<void> {
    const now = this.deps.now();
    for (const job of await this.deps.db.jobs.all()) {
      if (isFinal(job.state)) continue;
      const deadline = job.startedAt ? Date.parse(job.startedAt) + job.args.timeout * 1000 : undefined;
      if (deadline !== undefined && deadline <= now) {
        const message = `manager restarted while the job was running, and its timeout (${job.args.timeout}s) has passed`;
        await this.persist({
          ...job,
          state: "FAILURE",
          result: failedResult(job.schedulerClusterIds, message, this.timestamp(), job.result ?? undefined),
          updatedAt: this.timestamp(),
        });
        this.deps.logger.warn({ jobId: job.id }, message);
        continue;
      }
      this.deps.logger.info({ jobId: job.id, state: job.state }, "resuming a job left unfinished by the last run");
      this.queue.push({ record: job, resumed: true });
    }
    this.pump();
  }

  submit(record: JobRecord): void {
    if (this.stopping) throw new ManagerError("unavailable", "the manager is stopping");
    // The job's trace continues the request that created it, even when it starts later.
    this.queue.push({ record, resumed: false, trace: activeContext() });
    this.pump();
  }

  /** The job as the runner holds it (queued, or running with its result so far). */
  live(id: number): JobRecord | undefined {
    return this.running.get(id)?.record ?? this.queue.find((entry) => entry.record.id === id)?.record;
  }

  /** Takes a job out of the queue, or aborts it and waits until it has wound down. Nothing of it is persisted after. */
  async cancel(id: number): Promise<void> {
    const queued = this.queue.findIndex((entry) => entry.record.id === id);
    if (queued >= 0) this.queue.splice(queued, 1);
    const running = this.running.get(id);
    if (!running) return;
    running.controller.abort(new JobAbort("cancelled", "the job was deleted"));
    await running.done;
  }

  /** Aborts every running job without recording an outcome: they stay STARTED and are resumed at the next start. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.queue.length = 0;
    const running = [...this.running.values()];
    for (const job of running) job.controller.abort(new JobAbort("stopping", "the manager is stopping"));
    await Promise.all(running.map((job) => job.done));
  }

  private pump(): void {
    // Bounded by the queue's length.
    while (!this.stopping && this.running.size < this.options.maxRunningJobs && this.queue.length > 0) {
      const entry = this.queue.shift()!;
      const controller = new AbortController();
      // Every download and registry request in flight listens to the job's signal (up to
      // concurrent_task_count x concurrent_peer_count at once); the signal lives as long as the job.
      setMaxListeners(0, controller.signal);
      const running: Running = { record: entry.record, controller, done: Promise.resolve() };
      this.running.set(entry.record.id, running);
      running.done = inSpan(
        TRACER,
        "preheat job",
        {
          ...(entry.trace ? { parent: entry.trace } : {}),
          attributes: { "d7y.job.id": entry.record.id, "d7y.job.resumed": entry.resumed },
        },
        (span) =>
          this.execute(running, entry.resumed).finally(() => span.setAttribute("d7y.job.state", running.record.state)),
      )
        .catch((error: unknown) =>
          this.deps.logger.error({ err: error, jobId: entry.record.id }, "job bookkeeping failed"),
        )
        .finally(() => {
          this.running.delete(entry.record.id);
          this.pump();
        });
    }
  }

  private async execute(running: Running, resumed: boolean): Promise<void> {
    const { controller } = running;
    const job = running.record;
    const logger = this.deps.logger.child({ jobId: job.id });
    const startedAt = job.startedAt ?? this.timestamp();
    running.record = { ...job, state: "STARTED", startedAt, updatedAt: this.timestamp() };
    await this.persist(running.record);
    logger.info({ type: job.type, resumed }, "job started");

    const remainingMs = Date.parse(startedAt) + job.args.timeout * 1000 - this.deps.now();
    const timer = setTimeout(
      () => controller.abort(new JobAbort("timeout", `the job timed out after ${job.args.timeout}s`)),
      Math.max(0, remainingMs),
    );
    timer.unref();
    let partial: PreheatResult | undefined;
    try {
      const result = await runPreheat(
        {
          args: job.args,
          clusterIds: job.schedulerClusterIds,
          allClusters: job.allClusters,
          signal: controller.signal,
          waitForHostsMs: resumed ? this.options.resumeGraceMs : 0,
          onProgress: (progress) => {
            partial = progress;
            running.record = { ...running.record, result: progress };
          },
        },
        { ...this.deps.preheat, logger },
      );
      await this.finish(running, result.error === undefined ? "SUCCESS" : "FAILURE", result);
    } catch (error) {
      const reason: unknown = controller.signal.aborted ? controller.signal.reason : undefined;
      // Deleted: nothing to record. Stopping: left STARTED, resumed at the next start.
      if (reason instanceof JobAbort && reason.kind !== "timeout") return;
      const message = reason instanceof JobAbort ? reason.message : (error as Error).message || String(error);
      if (!reason && !isExpected(error)) logger.error({ err: error }, "job failed unexpectedly");
      const result = failedResult(job.schedulerClusterIds, message, this.timestamp(), partial);
      await this.finish(running, "FAILURE", result);
    } finally {
      clearTimeout(timer);
    }
  }

  private async finish(running: Running, state: "SUCCESS" | "FAILURE", result: PreheatResult): Promise<void> {
    running.record = { ...running.record, state, result, updatedAt: this.timestamp() };
    await this.persist(running.record);
    this.deps.logger.info({ jobId: running.record.id, state, error: result.error }, "job finished");
  }

  private persist(record: JobRecord): Promise<void> {
    return this.deps.db.jobs.put(idKey(record.id), record);
  }

  private timestamp(): string {
    return new Date(this.deps.now()).toISOString();
  }
}
