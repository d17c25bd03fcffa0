import { PeerState, SchedulerService, type TaskInfo } from "@d7y/proto/scheduler/v1";
import { createRpcClient } from "@d7y/rpc";
import type { InstanceRegistry } from "../cluster/instances.js";
import { notFound } from "../errors.js";
import { daemonUrl } from "../preheat/blob-downloader.js";

/** One host's share of a task: its pieces and, per piece, the host it came from ("" for the origin). */
export interface TaskPeerView {
  host_id: string;
  hostname: string;
  ip: string;
  state: string;
  finished_pieces: number[];
  piece_parents: Record<string, string>;
  bytes_from_peers: number;
  bytes_from_source: number;
}

export interface TaskView {
  id: string;
  url: string;
  digest: string;
  content_length: number;
  piece_count: number;
  peers: TaskPeerView[];
}

/** Asks one scheduler (StatTask); resolves undefined when it does not know the task or cannot be reached. */
export type TaskStatter = (scheduler: { ip: string; port: number }, taskId: string) => Promise<TaskInfo | undefined>;

export function createSchedulerTaskStatter(timeoutMs: number): TaskStatter {
  return async (scheduler, taskId) => {
    try {
      return await createRpcClient(SchedulerService, daemonUrl(scheduler)).statTask({ taskId }, { timeoutMs });
    } catch {
      return undefined;
    }
  };
}

function peerView(peer: TaskInfo["peers"][number]): TaskPeerView {
  return {
    host_id: peer.host?.id ?? "",
    hostname: peer.host?.hostname ?? "",
    ip: peer.host?.ip ?? "",
    state: (PeerState[peer.state] ?? "UNSPECIFIED").replace(/^PEER_STATE_/, ""),
    finished_pieces: [...peer.finishedPieces].sort((a, b) => a - b),
    piece_parents: Object.fromEntries(Object.entries(peer.pieceParents).map(([n, parent]) => [String(n), parent])),
    bytes_from_peers: Number(peer.bytesFromPeers),
    bytes_from_source: Number(peer.bytesFromSource),
  };
}

/** What every active scheduler knows of a task, merged per host (the view with the most pieces wins). */
export async function statTask(instances: InstanceRegistry, statter: TaskStatter, taskId: string): Promise<TaskView> {
  const schedulers = await instances.listSchedulers({ activeOnly: true });
  const infos = (await Promise.all(schedulers.map((scheduler) => statter(scheduler, taskId)))).filter(
    (info): info is TaskInfo => info !== undefined,
  );
  const first = infos[0];
  if (!first) throw notFound(`task ${taskId} is not known to any active scheduler`);
  const peers = new Map<string, TaskPeerView>();
  for (const info of infos) {
    for (const peer of info.peers.map(peerView)) {
      const known = peers.get(peer.host_id);
      if (!known || known.finished_pieces.length < peer.finished_pieces.length) peers.set(peer.host_id, peer);
    }
  }
  return {
    id: first.id,
    url: first.url,
    digest: first.digest,
    content_length: Math.max(...infos.map((info) => Number(info.contentLength))),
    piece_count: Math.max(...infos.map((info) => info.pieceCount)),
    peers: [...peers.values()].sort(
      (a, b) => a.hostname.localeCompare(b.hostname) || a.host_id.localeCompare(b.host_id),
    ),
  };
}
