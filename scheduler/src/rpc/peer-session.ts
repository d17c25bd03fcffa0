import type { Logger } from "@d7y/observability";
import type { AnnouncePeerRequest, AnnouncePeerResponse } from "@d7y/proto/scheduler/v1";
import { invalid } from "../errors.js";
import type { Peer } from "../resource/peer.js";
import type { SchedulerState } from "../resource/scheduler-state.js";
import type { PeerScheduler } from "../scheduling/peer-scheduler.js";
import {
  parseBlockedParents,
  parseDownload,
  parseFinishedSize,
  parseId,
  parsePiece,
  parsePieces,
  parseStartedSize,
} from "./parse-requests.js";
import { decisionToResponse } from "./proto-views.js";

const REQUEST_NAMES =
  "register_peer, download_peer_started, download_peer_back_to_source_started, reschedule_peer, " +
  "download_peer_finished, download_peer_back_to_source_finished, download_peer_failed, " +
  "download_peer_back_to_source_failed, download_piece_finished, download_piece_back_to_source_finished, " +
  "download_piece_failed";

/** One AnnouncePeer stream: the first message registers the peer, the others report its progress. */
export class PeerSession {
  private peer: Peer | undefined;
  private logger: Logger;

  constructor(
    private readonly state: SchedulerState,
    private readonly scheduler: PeerScheduler,
    logger: Logger,
  ) {
    this.logger = logger;
  }

  /** Applies one request; returns the answer for register_peer and reschedule_peer. */
  async handle(request: AnnouncePeerRequest, signal: AbortSignal): Promise<AnnouncePeerResponse | undefined> {
    const message = request.request;
    if (message.case === undefined) throw invalid(`the request is empty: set one of ${REQUEST_NAMES}`);
    if (message.case === "registerPeer") {
      if (this.peer) throw invalid(`peer ${this.peer.id} already registered on this stream`);
      const peer = this.state.registerPeer({
        peerId: parseId(request.peerId, "peer_id"),
        taskId: parseId(request.taskId, "task_id"),
        hostId: parseId(request.hostId, "host_id"),
        download: parseDownload(message.value.download),
        pieces: parsePieces(message.value.pieces, "register_peer.pieces"),
      });
      this.peer = peer;
      this.logger = this.logger.child({ peerId: peer.id, taskId: peer.taskId, hostId: peer.hostId });
      this.logger.debug({ url: peer.download.url, pieces: peer.finishedPieces.size }, "peer registered");
      return this.answer(peer, await this.scheduler.register(peer, signal));
    }
    const peer = this.peer;
    if (!peer) throw invalid(`the first message must be register_peer, got ${message.case}`);
    this.checkIds(request, peer);
    if (!this.state.isCurrent(peer)) {
      this.logger.debug({ request: message.case }, "ignored: the peer was replaced by a newer registration");
      return undefined;
    }
    switch (message.case) {
      case "downloadPeerStarted":
        this.state.progress.started(peer);
        return undefined;
      case "downloadPeerBackToSourceStarted": {
        const { contentLength, pieceLength } = message.value;
        this.state.progress.backToSourceStarted(peer, parseStartedSize(contentLength, pieceLength));
        return undefined;
      }
      case "reschedulePeer":
        this.state.progress.blockParents(peer, parseBlockedParents(message.value.blockedParents));
        this.logger.debug(
          { blocked: message.value.blockedParents, description: message.value.description },
          "reschedule",
        );
        return this.answer(
          peer,
          await this.scheduler.reschedule(peer, signal, { moreParents: message.value.moreParents }),
        );
      case "downloadPeerFinished":
      case "downloadPeerBackToSourceFinished": {
        const { contentLength, pieceCount } = message.value;
        this.state.progress.succeeded(peer, parseFinishedSize(contentLength, pieceCount, message.case));
        this.logger.debug({ request: message.case }, "peer succeeded");
        return undefined;
      }
      case "downloadPeerFailed":
      case "downloadPeerBackToSourceFailed":
        this.state.progress.failed(peer, message.value.description);
        return undefined;
      case "downloadPieceFinished":
        this.state.progress.pieceFinished(
          peer,
          parsePiece(message.value.piece, "download_piece_finished.piece"),
          false,
        );
        return undefined;
      case "downloadPieceBackToSourceFinished": {
        const piece = parsePiece(message.value.piece, "download_piece_back_to_source_finished.piece");
        this.state.progress.pieceFinished(peer, piece, true);
        return undefined;
      }
      case "downloadPieceFailed": {
        const { pieceNumber, parentId, temporary, description } = message.value;
        const parentHostId = parseId(parentId, "download_piece_failed.parent_id");
        this.state.progress.pieceFailed(peer, { pieceNumber, parentHostId, temporary, description });
        return undefined;
      }
    }
  }

  /** The stream ended (normally or not): a peer that did not finish is Failed. */
  close(): void {
    if (this.peer) this.state.progress.streamClosed(this.peer);
  }

  private answer(peer: Peer, decision: Parameters<typeof decisionToResponse>[0]): AnnouncePeerResponse {
    return decisionToResponse(decision, this.state.tasks.get(peer.taskId), this.state);
  }

  /** Later messages may leave the ids empty; when set they must name the registered peer. */
  private checkIds(request: AnnouncePeerRequest, peer: Peer): void {
    const pairs: Array<[string, string, string]> = [
      ["peer_id", request.peerId, peer.id],
      ["task_id", request.taskId, peer.taskId],
      ["host_id", request.hostId, peer.hostId],
    ];
    for (const [field, value, expected] of pairs) {
      if (value !== "" && value !== expected) {
        throw invalid(`${field} ${value} does not match the peer registered on this stream (${expected})`);
      }
    }
  }
}
