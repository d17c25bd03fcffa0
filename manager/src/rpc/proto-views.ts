import { create } from "@bufbuild/protobuf";
import {
  type ClusterConfig,
  ClusterConfigSchema,
  type Scheduler,
  SchedulerSchema,
  type SeedPeer,
  SeedPeerSchema,
} from "@d7y/proto/manager/v1";
import type { ClusterRecord, SchedulerRecord, SeedPeerRecord } from "../storage/records.js";

export function clusterConfigProto(cluster: ClusterRecord): ClusterConfig {
  return create(ClusterConfigSchema, {
    clusterId: BigInt(cluster.id),
    candidateParentLimit: cluster.config.candidate_parent_limit,
    backToSourceLimit: cluster.config.back_to_source_limit,
    peerUploadLimit: cluster.config.peer_upload_limit,
  });
}

export function schedulerProto(scheduler: SchedulerRecord, cluster: ClusterRecord | undefined): Scheduler {
  return create(SchedulerSchema, {
    id: BigInt(scheduler.id),
    hostname: scheduler.hostname,
    ip: scheduler.ip,
    port: scheduler.port,
    idc: scheduler.idc,
    location: scheduler.location,
    clusterId: BigInt(scheduler.clusterId),
    state: scheduler.state,
    features: scheduler.features,
    ...(cluster ? { config: clusterConfigProto(cluster) } : {}),
  });
}

export function seedPeerProto(seed: SeedPeerRecord): SeedPeer {
  return create(SeedPeerSchema, {
    id: BigInt(seed.id),
    hostname: seed.hostname,
    ip: seed.ip,
    port: seed.port,
    downloadPort: seed.downloadPort,
    idc: seed.idc,
    location: seed.location,
    clusterId: BigInt(seed.clusterId),
    state: seed.state,
    hostId: seed.hostId,
  });
}
