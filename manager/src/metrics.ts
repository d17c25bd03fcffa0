import { Counter, createMetricsRegistry, Gauge, MetricsEndpoint, type Registry } from "@d7y/observability";
import type { InstanceKind, InstanceRegistry } from "./cluster/instances.js";
import type { ManagerConfig } from "./config.js";
import type { JobService } from "./job/job-service.js";
import type { BlobDownloader } from "./preheat/blob-downloader.js";
import { type InstanceState, JOB_STATES, JOB_TYPES, type JobRecord, type JobType } from "./storage/records.js";

/** How one (blob, host) download of a preheat ended. */
export type PreheatBlobResult = "success" | "failure" | "cancelled";
export const PREHEAT_BLOB_RESULTS: readonly PreheatBlobResult[] = ["success", "failure", "cancelled"];

const INSTANCE_KINDS: readonly InstanceKind[] = ["scheduler", "seed-peer"];
const INSTANCE_STATES: readonly InstanceState[] = ["active", "inactive"];

/** What the manager's gauges read when Prometheus scrapes. */
export interface ManagerMetricSources {
  /** Every job as it is now (running ones with their live state). */
  jobs(): Promise<Array<Pick<JobRecord, "type" | "state">>>;
  /** Every registered scheduler and seed peer. */
  instances(): Promise<Array<{ kind: InstanceKind; state: InstanceState }>>;
}

/** The manager's metrics (README "Metrics") in their own registry. */
export class ManagerMetrics {
  private readonly jobsCreated: Counter<"type">;
  private readonly preheatBlobs: Counter<"result">;

  constructor(
    readonly registry: Registry,
    sources: ManagerMetricSources,
  ) {
    const registers = [registry];
    this.jobsCreated = new Counter({
      name: "d7y_manager_jobs_created_total",
      help: "Jobs created through the REST API, by type.",
      labelNames: ["type"],
      registers,
    });
    for (const type of JOB_TYPES) this.jobsCreated.inc({ type }, 0);
    this.preheatBlobs = new Counter({
      name: "d7y_manager_preheat_blobs_total",
      help: "Blob downloads preheats asked hosts to do (one per blob and host tried), by result: success, failure, cancelled.",
      labelNames: ["result"],
      registers,
    });
    for (const result of PREHEAT_BLOB_RESULTS) this.preheatBlobs.inc({ result }, 0);
    let jobs: Array<Pick<JobRecord, "type" | "state">> = [];
    new Gauge({
      name: "d7y_manager_jobs",
      help: "Jobs in the job store, by type and state.",
      labelNames: ["type", "state"],
      registers,
      async collect() {
        try {
          jobs = await sources.jobs();
        } catch {
          // The store is closing: keep the last counts.
        }
        for (const type of JOB_TYPES) {
          for (const state of JOB_STATES) {
            this.set({ type, state }, jobs.filter((job) => job.type === type && job.state === state).length);
          }
        }
      },
    });
    let instances: Array<{ kind: InstanceKind; state: InstanceState }> = [];
    new Gauge({
      name: "d7y_manager_instances",
      help: "Registered schedulers and seed peers, by kind and state (active while their keepalive stream lives).",
      labelNames: ["kind", "state"],
      registers,
      async collect() {
        try {
          instances = await sources.instances();
        } catch {
          // The store is closing: keep the last counts.
        }
        for (const kind of INSTANCE_KINDS) {
          for (const state of INSTANCE_STATES) {
            this.set({ kind, state }, instances.filter((i) => i.kind === kind && i.state === state).length);
          }
        }
      },
    });
  }

  jobCreated(type: JobType): void {
    this.jobsCreated.inc({ type });
  }

  preheatBlob(result: PreheatBlobResult): void {
    this.preheatBlobs.inc({ result });
  }
}

/** The downloader, counting how each of its downloads ends. */
export function countingDownloader(downloader: BlobDownloader, metrics: ManagerMetrics | undefined): BlobDownloader {
  if (!metrics) return downloader;
  return async (host, blob, signal) => {
    try {
      await downloader(host, blob, signal);
      metrics.preheatBlob("success");
    } catch (error) {
      metrics.preheatBlob(signal.aborted ? "cancelled" : "failure");
      throw error;
    }
  };
}

/** The manager's metrics over its job store and instances, and their /metrics endpoint; neither when disabled. */
export function createManagerMetrics(
  config: Pick<ManagerConfig, "metricsEnable" | "metricsHost" | "metricsPort">,
  state: { jobs: () => JobService; instances: InstanceRegistry },
): { metrics: ManagerMetrics; endpoint: MetricsEndpoint } | undefined {
  if (!config.metricsEnable) return undefined;
  const metrics = new ManagerMetrics(createMetricsRegistry("manager"), {
    jobs: async () => (await state.jobs().list({}, 1, Number.MAX_SAFE_INTEGER)).jobs,
    instances: async () => [
      ...(await state.instances.listSchedulers()).map(({ state }) => ({ kind: "scheduler" as const, state })),
      ...(await state.instances.listSeedPeers()).map(({ state }) => ({ kind: "seed-peer" as const, state })),
    ],
  });
  return {
    metrics,
    endpoint: new MetricsEndpoint({ registry: metrics.registry, host: config.metricsHost, port: config.metricsPort }),
  };
}
