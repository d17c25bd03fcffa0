export type PeerState = "pending" | "running" | "back_to_source" | "succeeded" | "failed" | "left";

/** What the peer asked to download (kept to trigger a seed with the same URL and headers). */
export interface DownloadSpec {
  url: string;
  digest: string;
  requestHeader: Record<string, string>;
  needBackToSource: boolean;
}

/** One host downloading (or holding) one task. */
export class Peer {
  state: PeerState = "pending";
  readonly finishedPieces = new Set<number>();
  /** Piece number -> host id of the parent it came from ("" for the origin). */
  readonly pieceParents = new Map<number, string>();
  /** Every parent (peer id) this peer was offered or took pieces from, for inspection. */
  readonly parentHistory = new Set<string>();
  /** Live DAG edges: the candidates last offered, and peers pieces came from. Cleared once finished. */
  offeredParents = new Set<string>();
  readonly pieceSourcePeers = new Set<string>();
  /** Parents this peer must not be offered again, by peer id and by host id. */
  readonly blockedPeers = new Set<string>();
  readonly blockedHosts = new Set<string>();
  /** Told to go back to source and not yet started: counts against the task's back-to-source limit. */
  backToSourceGranted = false;
  /** Went (or was sent) to the origin at some point. */
  wentBackToSource = false;
  bytesFromPeers = 0;
  bytesFromSource = 0;
  /** An AnnouncePeer stream currently speaks for this peer. */
  streamAttached = false;
  updatedAt: number;

  constructor(
    readonly id: string,
    readonly taskId: string,
    readonly hostId: string,
    readonly download: DownloadSpec,
    readonly createdAt: number,
  ) {
    this.updatedAt = createdAt;
  }

  /** Succeeded, Failed and Left peers wait on nobody. */
  isFinished(): boolean {
    return this.state === "succeeded" || this.state === "failed" || this.state === "left";
  }

  /** Downloading from the origin, or told to and not started yet. */
  countsAsBackToSource(): boolean {
    return this.state === "back_to_source" || (this.backToSourceGranted && this.state === "pending");
  }

  /** The parents this peer currently depends on (DAG edges child -> parent). */
  *dependsOn(): Iterable<string> {
    if (this.isFinished()) return;
    yield* this.offeredParents;
    for (const id of this.pieceSourcePeers) if (!this.offeredParents.has(id)) yield id;
  }
}
