/** A (blob, host) download that succeeded, in Dragonfly's shape. */
export interface PreheatSuccessTask {
  url: string;
  hostname: string;
  ip: string;
}

export interface PreheatFailureTask extends PreheatSuccessTask {
  description: string;
}

/** One cluster's results, in Dragonfly's (and Harbor's) shape. */
export interface PreheatClusterResult {
  success_tasks: PreheatSuccessTask[];
  failure_tasks: PreheatFailureTask[];
  scheduler_cluster_id: number;
}

/** One host's download of one blob. */
export interface PreheatHostOutcome {
  hostname: string;
  ip: string;
  scheduler_cluster_id: number;
  state: "SUCCESS" | "FAILURE";
  error?: string;
  cost_ms: number;
}

export interface PreheatLayer {
  url: string;
  /** Absent for file preheat. */
  digest?: string;
  size?: number;
  hosts: PreheatHostOutcome[];
}

/** Per-cluster state as machinery reports it; Harbor shows `error` of a FAILURE and `results` of a SUCCESS. */
export interface PreheatJobState {
  task_name: "preheat";
  state: "SUCCESS" | "FAILURE";
  error: string;
  results: PreheatClusterResult[];
  created_at: string;
  ttl: number;
}

/**
 * A preheat's result: Dragonfly's `{success_tasks, failure_tasks, scheduler_cluster_id}` (every cluster's
 * tasks; the id of the first cluster), Harbor's `job_states`, and d7y's per-layer view. `error` holds the
 * first failure and is present exactly when the job failed.
 */
export interface PreheatResult {
  success_tasks: PreheatSuccessTask[];
  failure_tasks: PreheatFailureTask[];
  scheduler_cluster_id: number;
  /** image: the manifest the layers come from, and the platform picked from an index. */
  manifest_url?: string;
  manifest_digest?: string;
  platform?: string;
  layers: PreheatLayer[];
  job_states: PreheatJobState[];
  error?: string;
}

/** Builds the result from per-layer outcomes; the job succeeded iff `error` is absent. */
export function buildResult(input: {
  clusterIds: readonly number[];
  layers: PreheatLayer[];
  at: string;
  error?: string;
  image?: { manifestUrl: string; manifestDigest: string; platform?: string };
}): PreheatResult {
  const perCluster = new Map<number, PreheatClusterResult>();
  for (const id of input.clusterIds) {
    perCluster.set(id, { success_tasks: [], failure_tasks: [], scheduler_cluster_id: id });
  }
  let firstError = input.error;
  for (const layer of input.layers) {
    for (const host of layer.hosts) {
      let cluster = perCluster.get(host.scheduler_cluster_id);
      if (!cluster) {
        cluster = { success_tasks: [], failure_tasks: [], scheduler_cluster_id: host.scheduler_cluster_id };
        perCluster.set(host.scheduler_cluster_id, cluster);
      }
      const task = { url: layer.url, hostname: host.hostname, ip: host.ip };
      if (host.state === "SUCCESS") {
        cluster.success_tasks.push(task);
      } else {
        const description = host.error ?? "failed";
        cluster.failure_tasks.push({ ...task, description });
        firstError ??= `${layer.url} on ${host.hostname} (${host.ip}): ${description}`;
      }
    }
  }
  const clusters = [...perCluster.values()];
  const jobStates: PreheatJobState[] = clusters.map((cluster) => {
    const failed = input.error !== undefined || cluster.failure_tasks.length > 0;
    const error = input.error ?? cluster.failure_tasks[0]?.description ?? "";
    return {
      task_name: "preheat",
      state: failed ? "FAILURE" : "SUCCESS",
      error,
      results: [cluster],
      created_at: input.at,
      ttl: 0,
    };
  });
  return {
    success_tasks: clusters.flatMap((cluster) => cluster.success_tasks),
    failure_tasks: clusters.flatMap((cluster) => cluster.failure_tasks),
    scheduler_cluster_id: input.clusterIds[0] ?? 0,
    ...(input.image
      ? {
          manifest_url: input.image.manifestUrl,
          manifest_digest: input.image.manifestDigest,
          ...(input.image.platform ? { platform: input.image.platform } : {}),
        }
      : {}),
    layers: input.layers,
    job_states: jobStates,
    ...(firstError === undefined ? {} : { error: firstError }),
  };
}

/** The result of a job that failed as a whole, keeping what was done before (`partial`). */
export function failedResult(
  clusterIds: readonly number[],
  error: string,
  at: string,
  partial?: PreheatResult,
): PreheatResult {
  return buildResult({
    clusterIds,
    layers: partial?.layers ?? [],
    at,
    error,
    ...(partial?.manifest_url && partial.manifest_digest
      ? {
          image: {
            manifestUrl: partial.manifest_url,
            manifestDigest: partial.manifest_digest,
            ...(partial.platform ? { platform: partial.platform } : {}),
          },
        }
      : {}),
  });
}
