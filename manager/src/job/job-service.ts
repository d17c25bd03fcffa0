import { randomUUID } from "node:crypto";
import type { Clusters } from "../cluster/clusters.js";
import { invalid, notFound } from "../errors.js";
import type { ManagerMetrics } from "../metrics.js";
import type { ManagerDatabase } from "../storage/manager-database.js";
import { idKey } from "../storage/record-table.js";
import type { JobRecord, JobState, JobType } from "../storage/records.js";
import { parseJobRequest } from "./job-request.js";
import type { JobRunner } from "./job-runner.js";

export interface JobFilter {
  type?: JobType;
  /** A job matches when its state is one of these. */
  states?: readonly JobState[];
  userId?: number;
}

export interface JobPage {
  jobs: JobRecord[];
  total: number;
}

/** Creating, reading, listing and deleting jobs; the runner runs them. */
export class JobService {
  constructor(
    private readonly db: ManagerDatabase,
    private readonly clusters: Clusters,
    private readonly runner: JobRunner,
    private readonly now: () => number,
    private readonly metrics?: Pick<ManagerMetrics, "jobCreated">,
  ) {}

  /** Validates a `POST /jobs` body, stores the job PENDING and queues it. */
  async create(body: unknown): Promise<JobRecord> {
    const request = parseJobRequest(body);
    const known = (await this.clusters.list()).map((cluster) => cluster.id);
    for (const id of request.schedulerClusterIds) {
      if (!known.includes(id)) throw invalid(`scheduler_cluster_ids: cluster ${id} not found`);
    }
    const allClusters = request.schedulerClusterIds.length === 0;
    const at = new Date(this.now()).toISOString();
    const job: JobRecord = {
      id: await this.db.nextId("jobs"),
      taskId: `group_${randomUUID()}`,
      type: request.type,
      state: "PENDING",
      args: request.args,
      result: null,
      schedulerClusterIds: allClusters ? known : request.schedulerClusterIds,
      allClusters,
      bio: request.bio,
      userId: request.userId,
      createdAt: at,
      updatedAt: at,
    };
    await this.db.jobs.put(idKey(job.id), job);
    this.runner.submit(job);
    this.metrics?.jobCreated(job.type);
    return job;
  }

  /** The job as it is now: a running job comes with its result so far. */
  async get(id: number): Promise<JobRecord> {
    const job = this.runner.live(id) ?? (await this.db.jobs.get(idKey(id)));
    if (!job) throw notFound(`job ${id} not found`);
    return job;
  }

  /** Matching jobs, newest first, one page of them, and how many match in all. */
  async list(filter: JobFilter, page: number, perPage: number): Promise<JobPage> {
    const stored = await this.db.jobs.all({ reverse: true });
    const matching = stored
      .map((job) => this.runner.live(job.id) ?? job)
      .filter(
        (job) =>
          (filter.type === undefined || job.type === filter.type) &&
          (filter.states === undefined || filter.states.includes(job.state)) &&
          (filter.userId === undefined || job.userId === filter.userId),
      );
    return { jobs: matching.slice((page - 1) * perPage, page * perPage), total: matching.length };
  }

  /** Deletes a job; a queued or running one is cancelled first. */
  async delete(id: number): Promise<void> {
    await this.get(id);
    await this.runner.cancel(id);
    await this.db.jobs.del(idKey(id));
  }
}
