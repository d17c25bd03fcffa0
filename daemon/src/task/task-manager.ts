import type { Logger } from "@d7y/observability";
import type { HttpOrigin } from "../backend/http-origin.js";
import { DaemonError } from "../errors.js";
import type { SchedulerClient } from "../scheduler/scheduler-client.js";
import type { ContentStore, MetadataStore, PieceRecord, TaskRecord } from "../storage/index.js";
import { TaskDownload, type TaskDownloadDeps, type TaskSpec } from "./task-download.js";

export interface TaskManagerDeps {
  origin: HttpOrigin;
  metadata: MetadataStore;
  content: ContentStore;
  logger: Logger;
  concurrentPieces: number;
  pieceRetries: number;
  scheduler?: SchedulerClient;
  peers?: TaskDownloadDeps["peers"];
  metrics?: TaskDownloadDeps["metrics"];
  /** Called after a task completes (the quota check hooks in here). */
  onTaskComplete?: (record: TaskRecord) => void;
}

/**
 * A task the caller can read: complete on disk, or being downloaded right now (`created`: by this call,
 * with its spec's headers; otherwise it joined a download someone else started).
 */
export type TaskHandle =
  | { kind: "complete"; record: TaskRecord }
  | { kind: "downloading"; download: TaskDownload; record: TaskRecord; created: boolean };

export interface TaskView {
  record: TaskRecord;
  pieces: PieceRecord[];
  readers: number;
  downloading: boolean;
}

/** Owns every task: joins concurrent requests to one download, serves complete tasks, counts readers. */
export class TaskManager {
  private readonly active = new Map<string, TaskDownload>();
  private readonly readers = new Map<string, number>();
  private stopped = false;

  constructor(private readonly deps: TaskManagerDeps) {}

  /**
   * Returns the task complete from the cache, or the shared in-flight download once its length is known.
   * Rejects with the origin's error (e.g. UpstreamResponseError for a 401) when the download cannot start.
   */
  async acquire(spec: TaskSpec): Promise<TaskHandle> {
    if (this.stopped) throw new DaemonError("unavailable", "daemon is stopping");
    const running = this.active.get(spec.id);
    if (running) return { kind: "downloading", download: running, record: await running.started, created: false };
    const record = await this.deps.metadata.getTask(spec.id);
    if (record?.status === "succeeded" && (await this.deps.content.exists(spec.id))) {
      record.accessedAt = Date.now();
      await this.deps.metadata.putTask(record);
      return { kind: "complete", record };
    }
    // Another request may have started it while we looked at the metadata.
    const raced = this.active.get(spec.id);
    if (raced) return { kind: "downloading", download: raced, record: await raced.started, created: false };
    const download = new TaskDownload(spec, this.deps);
    this.active.set(spec.id, download);
    download.done.then(
      (done) => {
        this.active.delete(spec.id);
        void this.deps.content.release(spec.id);
        this.deps.onTaskComplete?.(done);
      },
      () => this.active.delete(spec.id),
    );
    void download.run();
    return { kind: "downloading", download, record: await download.started, created: true };
  }

  /** The in-flight download of a task, if any. */
  activeDownload(taskId: string): TaskDownload | undefined {
    return this.active.get(taskId);
  }

  /** Downloads in flight now. */
  get downloadingCount(): number {
    return this.active.size;
  }

  /** Marks a reader of a task for as long as it streams (eviction skips tasks being read). */
  beginRead(taskId: string): () => void {
    this.readers.set(taskId, (this.readers.get(taskId) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = (this.readers.get(taskId) ?? 1) - 1;
      if (left <= 0) this.readers.delete(taskId);
      else this.readers.set(taskId, left);
    };
  }

  readerCount(taskId: string): number {
    return this.readers.get(taskId) ?? 0;
  }

  isBusy(taskId: string): boolean {
    return this.active.has(taskId) || this.readerCount(taskId) > 0;
  }

  async stat(taskId: string): Promise<TaskView | undefined> {
    const download = this.active.get(taskId);
    if (download?.record) {
      return {
        record: download.record,
        pieces: download.pieces(),
        readers: this.readerCount(taskId),
        downloading: true,
      };
    }
    const record = await this.deps.metadata.getTask(taskId);
    if (!record) return undefined;
    const pieces = await this.deps.metadata.listPieces(taskId);
    return { record, pieces, readers: this.readerCount(taskId), downloading: false };
  }

  async list(): Promise<TaskRecord[]> {
    const stored = await this.deps.metadata.listTasks();
    const byId = new Map(stored.map((record) => [record.id, record]));
    for (const download of this.active.values()) if (download.record) byId.set(download.id, download.record);
    return [...byId.values()];
  }

  /** Deletes a task (aborting its download). Refuses while clients are reading it. */
  async delete(taskId: string, options: { force?: boolean } = {}): Promise<boolean> {
    if (!options.force && this.readerCount(taskId) > 0) {
      throw new DaemonError("conflict", `task ${taskId} is being read by ${this.readerCount(taskId)} client(s)`);
    }
    const download = this.active.get(taskId);
    if (download) {
      download.cancel(`task ${taskId} was deleted`);
      await download.done.catch(() => undefined);
    }
    const existed = (await this.deps.metadata.getTask(taskId)) !== undefined;
    await this.deps.metadata.deleteTask(taskId);
    await this.deps.content.remove(taskId);
    return existed || download !== undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const downloads = [...this.active.values()];
    for (const download of downloads) download.cancel("daemon is stopping");
    await Promise.all(downloads.map((download) => download.done.catch(() => undefined)));
  }
}
