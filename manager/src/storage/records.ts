import type { PreheatArgs } from "../job/preheat-args.js";
import type { PreheatResult } from "../preheat/preheat-result.js";

/** Timestamps are RFC 3339 strings (what the REST API returns). */
export type Timestamp = string;

/** A cluster's dynamic config, in the wire shape of the REST API (Dragonfly's scheduler-cluster config). */
export interface ClusterConfig {
  candidate_parent_limit: number;
  back_to_source_limit: number;
  peer_upload_limit: number;
}

/** One cluster = one scheduler cluster + one seed-peer cluster (Dragonfly v2.1+). */
export interface ClusterRecord {
  id: number;
  name: string;
  bio: string;
  isDefault: boolean;
  config: ClusterConfig;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

/** "active" while the instance's keepalive stream lives. */
export type InstanceState = "active" | "inactive";

interface InstanceRecord {
  id: number;
  hostname: string;
  ip: string;
  port: number;
  idc: string;
  location: string;
  clusterId: number;
  state: InstanceState;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface SchedulerRecord extends InstanceRecord {
  features: string[];
}

export interface SeedPeerRecord extends InstanceRecord {
  downloadPort: number;
  /** Host id as announced to the schedulers (the key of the preheat hash ring). */
  hostId: string;
}

/** Dragonfly's (machinery's) job states. */
export const JOB_STATES = ["PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE"] as const;
export type JobState = (typeof JOB_STATES)[number];

export const JOB_TYPES = ["preheat"] as const;
export type JobType = (typeof JOB_TYPES)[number];

export interface JobRecord {
  id: number;
  /** "group_<uuid>", as Dragonfly's machinery group id. */
  taskId: string;
  type: JobType;
  state: JobState;
  /** The normalized arguments (defaults filled in), as the API returns them. */
  args: PreheatArgs;
  result: PreheatResult | null;
  /** The clusters the job runs in (every cluster at creation when none was named). */
  schedulerClusterIds: number[];
  /** True when the request named no cluster: clusters without hosts are skipped rather than failed. */
  allClusters: boolean;
  bio: string;
  userId: number;
  createdAt: Timestamp;
  updatedAt: Timestamp;
  /** When the job first started running: its timeout counts from here, across restarts. */
  startedAt?: Timestamp;
}

export type TokenState = "active" | "inactive";

export interface TokenRecord {
  id: number;
  name: string;
  bio: string;
  scopes: string[];
  state: TokenState;
  /** null: never expires. */
  expiredAt: Timestamp | null;
  /** sha256 hex of the token: the token itself is never stored. */
  tokenHash: string;
  userId: number;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}
