import { create } from "@bufbuild/protobuf";
import { type Host as HostMessage, HostSchema, HostType, TaskState } from "@d7y/proto/common/v1";
import {
  type AnnouncePeerResponse,
  AnnouncePeerResponseSchema,
  type CandidateParent,
  CandidateParentSchema,
  type HostInfo,
  HostInfoSchema,
  type PeerInfo,
  PeerInfoSchema,
  PeerState,
  type TaskInfo,
  TaskInfoSchema,
} from "@d7y/proto/scheduler/v1";
import type { Host, HostSpec } from "../resource/host.js";
import type { Peer, PeerState as PeerStateName } from "../resource/peer.js";
import type { SchedulerState } from "../resource/scheduler-state.js";
import type { Task, TaskState as TaskStateName } from "../resource/task.js";
import type { ScheduleDecision } from "../scheduling/peer-scheduler.js";

const PEER_STATE: Record<PeerStateName, PeerState> = {
  pending: PeerState.PENDING,
  running: PeerState.RUNNING,
  back_to_source: PeerState.BACK_TO_SOURCE,
  succeeded: PeerState.SUCCEEDED,
  failed: PeerState.FAILED,
  left: PeerState.LEFT,
};

const TASK_STATE: Record<TaskStateName, TaskState> = {
  pending: TaskState.PENDING,
  running: TaskState.RUNNING,
  succeeded: TaskState.SUCCEEDED,
  failed: TaskState.FAILED,
};

export function hostToProto(spec: HostSpec): HostMessage {
  return create(HostSchema, {
    ...spec,
    type: spec.type === "seed" ? HostType.SEED : HostType.NORMAL,
    diskUsedBytes: BigInt(spec.diskUsedBytes),
    diskQuotaBytes: BigInt(spec.diskQuotaBytes),
  });
}

export function hostInfo(host: Host): HostInfo {
  return create(HostInfoSchema, {
    host: hostToProto(host.spec),
    announcedAtMs: BigInt(host.announcedAt),
    uploadCount: host.uploadCount,
    uploadFailedCount: host.uploadFailedCount,
    peerCount: host.peers.size,
  });
}

function sortedPieces(peer: Peer): number[] {
  return [...peer.finishedPieces].sort((a, b) => a - b);
}

export function peerInfo(peer: Peer, state: SchedulerState): PeerInfo {
  const host = state.hosts.get(peer.hostId);
  return create(PeerInfoSchema, {
    id: peer.id,
    taskId: peer.taskId,
    host: host ? hostToProto(host.spec) : create(HostSchema, { id: peer.hostId }),
    state: PEER_STATE[peer.state],
    finishedPieces: sortedPieces(peer),
    pieceParents: Object.fromEntries(peer.pieceParents),
    parentIds: [...peer.parentHistory],
    bytesFromPeers: BigInt(peer.bytesFromPeers),
    bytesFromSource: BigInt(peer.bytesFromSource),
    uploadCount: host?.uploadCount ?? 0,
    uploadFailedCount: host?.uploadFailedCount ?? 0,
  });
}

export function taskInfo(task: Task, state: SchedulerState): TaskInfo {
  const peers = [...task.peers].flatMap((id) => {
    const peer = state.peers.get(id);
    return peer ? [peer] : [];
  });
  return create(TaskInfoSchema, {
    id: task.id,
    url: task.url,
    digest: task.digest,
    state: TASK_STATE[task.state],
    contentLength: BigInt(task.contentLength ?? 0),
    pieceLength: BigInt(task.pieceLength ?? 0),
    pieceCount: task.pieceCount ?? 0,
    peers: peers.map((peer) => peerInfo(peer, state)),
    backToSourceCount: peers.filter((peer) => peer.wentBackToSource).length,
  });
}

export function candidateParent(peer: Peer, state: SchedulerState): CandidateParent {
  const host = state.hosts.get(peer.hostId);
  return create(CandidateParentSchema, {
    peerId: peer.id,
    host: host ? hostToProto(host.spec) : create(HostSchema, { id: peer.hostId }),
    state: PEER_STATE[peer.state],
    finishedPieces: sortedPieces(peer),
  });
}

export function decisionToResponse(
  decision: ScheduleDecision,
  task: Task | undefined,
  state: SchedulerState,
): AnnouncePeerResponse {
  switch (decision.kind) {
    case "empty":
      return create(AnnouncePeerResponseSchema, { response: { case: "emptyTask", value: {} } });
    case "back_to_source":
      return create(AnnouncePeerResponseSchema, {
        response: { case: "needBackToSource", value: { description: decision.reason } },
      });
    case "normal":
      return create(AnnouncePeerResponseSchema, {
        response: {
          case: "normalTask",
          value: {
            candidateParents: decision.parents.map((parent) => candidateParent(parent, state)),
            contentLength: BigInt(task?.contentLength ?? 0),
            pieceLength: BigInt(task?.pieceLength ?? 0),
            pieceCount: task?.pieceCount ?? 0,
          },
        },
      });
  }
}
