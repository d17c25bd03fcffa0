import type { PreheatArgs } from "../job/preheat-args.js";
import type {
  ClusterRecord,
  JobRecord,
  JobState,
  SchedulerRecord,
  SeedPeerRecord,
  TokenRecord,
} from "../storage/records.js";

/** Secrets never leave the manager: what is shown instead. */
const REDACTED = "******";
const SECRET_HEADERS = new Set(["authorization", "proxy-authorization", "cookie"]);

export function clusterView(cluster: ClusterRecord) {
  return {
    id: cluster.id,
    name: cluster.name,
    bio: cluster.bio,
    is_default: cluster.isDefault,
    config: cluster.config,
    scheduler_cluster_id: cluster.id,
    seed_peer_cluster_id: cluster.id,
    created_at: cluster.createdAt,
    updated_at: cluster.updatedAt,
  };
}

export function schedulerView(scheduler: SchedulerRecord) {
  return {
    id: scheduler.id,
    hostname: scheduler.hostname,
    ip: scheduler.ip,
    port: scheduler.port,
    idc: scheduler.idc,
    location: scheduler.location,
    state: scheduler.state,
    features: scheduler.features,
    scheduler_cluster_id: scheduler.clusterId,
    created_at: scheduler.createdAt,
    updated_at: scheduler.updatedAt,
  };
}

export function seedPeerView(seed: SeedPeerRecord) {
  return {
    id: seed.id,
    hostname: seed.hostname,
    ip: seed.ip,
    port: seed.port,
    download_port: seed.downloadPort,
    idc: seed.idc,
    location: seed.location,
    state: seed.state,
    type: "super",
    host_id: seed.hostId,
    seed_peer_cluster_id: seed.clusterId,
    created_at: seed.createdAt,
    updated_at: seed.updatedAt,
  };
}

export function tokenView(token: TokenRecord) {
  return {
    id: token.id,
    name: token.name,
    bio: token.bio,
    scopes: token.scopes,
    state: token.state,
    expired_at: token.expiredAt,
    user_id: token.userId,
    created_at: token.createdAt,
    updated_at: token.updatedAt,
  };
}

function argsView(args: PreheatArgs): PreheatArgs {
  const view: PreheatArgs = { ...args };
  if (view.password !== undefined) view.password = REDACTED;
  if (view.headers) {
    view.headers = Object.fromEntries(
      Object.entries(view.headers).map(([name, value]) => [
        name,
        SECRET_HEADERS.has(name.toLowerCase()) ? REDACTED : value,
      ]),
    );
  }
  return view;
}

/**
 * The job as the API returns it (Dragonfly's shape). For /oapi/v1 (Harbor), states that are neither final nor
 * PENDING are shown as PENDING: that is Dragonfly's group-job state, and Harbor fails a preheat on any state
 * it does not know.
 */
export function jobView(job: JobRecord, clusters: ReadonlyMap<number, ClusterRecord>, openApi: boolean) {
  const state: JobState = openApi && job.state !== "SUCCESS" && job.state !== "FAILURE" ? "PENDING" : job.state;
  return {
    id: job.id,
    task_id: job.taskId,
    type: job.type,
    state,
    args: argsView(job.args),
    result: job.result,
    scheduler_clusters: job.schedulerClusterIds.map((id) => {
      const cluster = clusters.get(id);
      return cluster
        ? { id, name: cluster.name, bio: cluster.bio, created_at: cluster.createdAt, updated_at: cluster.updatedAt }
        : { id };
    }),
    bio: job.bio,
    user_id: job.userId,
    created_at: job.createdAt,
    updated_at: job.updatedAt,
  };
}
