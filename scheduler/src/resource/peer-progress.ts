import { invalid } from "../errors.js";
import type { Peer, PeerState } from "./peer.js";
import type { SchedulerState } from "./scheduler-state.js";
import { MAX_PIECE_COUNT, type Task, type TaskSize } from "./task.js";

/** A finished piece as a peer reports it. */
export interface PieceReport {
  number: number;
  length: number;
  digest: string;
  /** Host id of the parent it came from; "" for the origin. */
  parentHostId: string;
}

export interface PieceFailure {
  pieceNumber: number;
  parentHostId: string;
  /** False when the parent served bytes that failed verification. */
  temporary: boolean;
  description: string;
}

/** What a peer reports on its stream, applied to the state: states, pieces, sizes, failures, blocklists. */
export class PeerProgress {
  constructor(private readonly state: SchedulerState) {}

  started(peer: Peer): void {
    this.setState(peer, "running");
  }

  backToSourceStarted(peer: Peer, size: TaskSize): void {
    const task = this.state.tasks.get(peer.taskId);
    if (task) this.recordTaskSize(task, size, peer);
    peer.wentBackToSource = true;
    this.setState(peer, "back_to_source");
  }

  pieceFinished(peer: Peer, piece: PieceReport, fromSource: boolean): void {
    const task = this.state.tasks.get(peer.taskId);
    if (!task) return;
    this.recordPiece(peer, task, piece, fromSource ? "source" : "peer");
    this.state.metrics?.pieceReported(fromSource ? "back_to_source" : "remote_peer", piece.length);
    peer.updatedAt = this.state.now();
    this.state.changes.notify();
  }

  /** Pieces a registering peer already holds (no bytes or uploads are counted again). */
  resumed(peer: Peer, task: Task, pieces: PieceReport[]): void {
    for (const piece of pieces) this.recordPiece(peer, task, piece, "resume");
  }

  /** Throws InvalidArgument when a piece number is outside the task. */
  checkPiece(task: Task, number: number): void {
    const limit = task.pieceCount ?? MAX_PIECE_COUNT;
    if (number >= limit) throw invalid(`piece ${number} is outside the task (${limit} pieces)`);
  }

  pieceFailed(peer: Peer, failure: PieceFailure): void {
    const { state } = this;
    const task = state.tasks.get(peer.taskId);
    const host = state.hosts.get(failure.parentHostId);
    const parent = task ? state.peerOnHost(task, failure.parentHostId) : undefined;
    if (host) host.uploadFailedCount++;
    if (host || parent) peer.blockedHosts.add(failure.parentHostId);
    if (parent) {
      peer.blockedPeers.add(parent.id);
      peer.offeredParents.delete(parent.id);
    }
    const log = state.logger.child({ peerId: peer.id, taskId: peer.taskId, parentHostId: failure.parentHostId });
    log.debug(
      { piece: failure.pieceNumber, temporary: failure.temporary, description: failure.description },
      "piece failed",
    );
    if (!failure.temporary && host) {
      host.corruptPieceCount++;
      state.suspectHosts.set(host.id, state.now() + state.options.badParentTtlMs);
      state.metrics?.badParent();
      log.warn(
        { piece: failure.pieceNumber, until: state.suspectHosts.get(host.id) },
        "parent served bad bytes: suspect",
      );
    }
    state.changes.notify();
  }

  succeeded(peer: Peer, size: TaskSize): void {
    const task = this.state.tasks.get(peer.taskId);
    if (!task) return;
    this.recordTaskSize(task, size, peer);
    this.complete(peer, task);
    this.state.changes.notify();
  }

  /** Succeeded with every piece (when the count is known); the task is Succeeded. */
  complete(peer: Peer, task: Task): void {
    for (let number = 0; number < (task.pieceCount ?? 0); number++) peer.finishedPieces.add(number);
    peer.backToSourceGranted = false;
    peer.offeredParents.clear();
    peer.state = "succeeded";
    peer.updatedAt = this.state.now();
    task.state = "succeeded";
    task.updatedAt = peer.updatedAt;
  }

  failed(peer: Peer, description: string): void {
    const { state } = this;
    this.setState(peer, "failed");
    const task = state.tasks.get(peer.taskId);
    if (!task) return;
    state.logger.debug({ peerId: peer.id, taskId: task.id, description }, "peer failed");
    if (state.hosts.get(peer.hostId)?.isSeed) task.seedAttempt = "failed";
    const active = (id: string) => {
      const other = state.peers.get(id);
      return other?.state === "pending" || other?.state === "running" || other?.state === "back_to_source";
    };
    if (task.state !== "succeeded" && ![...task.peers].some(active)) task.state = "failed";
  }

  /** The stream of a peer ended: a peer that did not finish is Failed (kept for stats, never a parent). */
  streamClosed(peer: Peer): void {
    peer.streamAttached = false;
    if (this.state.isCurrent(peer) && !peer.isFinished())
      this.failed(peer, "stream ended before the download finished");
  }

  /** Blocks parents for one peer, by peer id or host id; unknown ids are ignored. */
  blockParents(peer: Peer, ids: string[]): void {
    const { state } = this;
    const task = state.tasks.get(peer.taskId);
    for (const id of ids) {
      const byId = state.peers.get(id);
      const parent = byId?.taskId === peer.taskId ? byId : task ? state.peerOnHost(task, id) : undefined;
      if (parent) {
        peer.blockedPeers.add(parent.id);
        peer.offeredParents.delete(parent.id);
      }
      if (state.hosts.has(id)) peer.blockedHosts.add(id);
    }
  }

  /** The peer was told to go to the origin: it counts against the limit until it starts or finishes. */
  grantBackToSource(peer: Peer): void {
    peer.backToSourceGranted = true;
    peer.wentBackToSource = true;
    peer.offeredParents.clear();
  }

  private setState(peer: Peer, next: PeerState): void {
    peer.state = next;
    peer.backToSourceGranted = false;
    peer.updatedAt = this.state.now();
    const task = this.state.tasks.get(peer.taskId);
    if (task && (next === "running" || next === "back_to_source") && task.state !== "succeeded") {
      task.state = "running";
    }
    this.state.changes.notify();
  }

  private recordTaskSize(task: Task, size: TaskSize, peer: Peer): void {
    const conflict = task.recordSize(size);
    if (conflict)
      this.state.logger.warn({ taskId: task.id, peerId: peer.id, conflict }, "peer reported another task size");
  }

  private recordPiece(peer: Peer, task: Task, piece: PieceReport, origin: "resume" | "source" | "peer"): void {
    this.checkPiece(task, piece.number);
    const known = task.recordPieceDigest(piece.number, piece.digest);
    if (known !== undefined) {
      this.state.logger.warn(
        { taskId: task.id, peerId: peer.id, piece: piece.number, reported: piece.digest, known },
        "piece digest conflict: keeping the first",
      );
    }
    peer.finishedPieces.add(piece.number);
    if (origin === "source") {
      peer.pieceParents.set(piece.number, "");
      peer.bytesFromSource += piece.length;
      peer.wentBackToSource = true;
      return;
    }
    if (origin === "peer") peer.bytesFromPeers += piece.length;
    if (!piece.parentHostId) return;
    peer.pieceParents.set(piece.number, piece.parentHostId);
    const parent = this.state.peerOnHost(task, piece.parentHostId);
    if (parent && parent !== peer) {
      peer.parentHistory.add(parent.id);
      if (origin === "peer") peer.pieceSourcePeers.add(parent.id);
    }
    const host = this.state.hosts.get(piece.parentHostId);
    if (host && origin === "peer") {
      host.uploadCount++;
      host.bytesUploaded += piece.length;
    }
  }
}
