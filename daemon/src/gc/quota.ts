import type { Logger } from "@d7y/observability";
import type { ContentStore, MetadataStore, TaskRecord } from "../storage/index.js";

export interface QuotaPolicy {
  /** Bytes of content the cache may hold. */
  quota: number;
  /** Fractions of the quota: eviction starts above high and stops at or below low. */
  highWatermark: number;
  lowWatermark: number;
}

export interface QuotaDeps {
  metadata: MetadataStore;
  content: ContentStore;
  logger: Logger;
  /** True while a task is downloading or being read: such tasks are never evicted. */
  isBusy: (taskId: string) => boolean;
}

export interface EvictionResult {
  usedBefore: number;
  usedAfter: number;
  evicted: string[];
}

/** Bytes our own tasks occupy (not the whole file system's usage). */
export function usedBytes(tasks: TaskRecord[]): number {
  return tasks.reduce((sum, task) => sum + task.contentLength, 0);
}

/**
 * Evicts least recently used complete tasks nobody is reading until usage is at or below the low
 * watermark, once it went above the high one. Failed partial tasks go first.
 */
export async function enforceQuota(policy: QuotaPolicy, deps: QuotaDeps): Promise<EvictionResult> {
  const tasks = await deps.metadata.listTasks();
  const usedBefore = usedBytes(tasks);
  let used = usedBefore;
  const evicted: string[] = [];
  if (used <= policy.quota * policy.highWatermark) return { usedBefore, usedAfter: used, evicted };
  const target = policy.quota * policy.lowWatermark;
  const candidates = tasks
    .filter((task) => task.status !== "running" && !deps.isBusy(task.id))
    .sort((a, b) => (a.status === b.status ? a.accessedAt - b.accessedAt : a.status === "failed" ? -1 : 1));
  for (const task of candidates) {
    if (used <= target) break;
    if (deps.isBusy(task.id)) continue;
    await deps.metadata.deleteTask(task.id);
    await deps.content.remove(task.id);
    used -= task.contentLength;
    evicted.push(task.id);
  }
  deps.logger.info({ usedBefore, usedAfter: used, evicted: evicted.length, quota: policy.quota }, "quota enforced");
  return { usedBefore, usedAfter: used, evicted };
}
