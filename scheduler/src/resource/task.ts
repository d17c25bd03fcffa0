import { pieceCountFor } from "@d7y/proto";

export type TaskState = "pending" | "running" | "succeeded" | "failed";

/** Seed download of a task: none yet, a trigger in flight, started (a seed peer exists), or failed. */
export type SeedAttempt = "none" | "triggered" | "started" | "failed";

/** Upper bound on pieces of one task (>= 4 MiB pieces: several TB). */
export const MAX_PIECE_COUNT = 1_000_000;

export interface TaskSize {
  contentLength?: number;
  pieceLength?: number;
  pieceCount?: number;
}

/** One piece of content, identified by its task id, and the peers that hold or fetch it. */
export class Task {
  state: TaskState = "pending";
  contentLength: number | undefined;
  pieceLength: number | undefined;
  pieceCount: number | undefined;
  /** Piece number -> digest, first report wins. */
  readonly pieceDigests = new Map<number, string>();
  readonly peers = new Set<string>();
  /** Host id -> the peer id of this task on that host (at most one per host). */
  readonly peerByHost = new Map<string, string>();
  seedAttempt: SeedAttempt = "none";
  updatedAt: number;

  constructor(
    readonly id: string,
    public url: string,
    public digest: string,
    readonly createdAt: number,
  ) {
    this.updatedAt = createdAt;
  }

  /**
   * Records sizes learned from a peer. Known values are kept; a different value is a conflict, returned
   * as a message (the caller logs it) and not applied.
   */
  recordSize(size: TaskSize): string | undefined {
    const conflicts: string[] = [];
    for (const key of ["contentLength", "pieceLength", "pieceCount"] as const) {
      const value = size[key];
      if (value === undefined) continue;
      const known = this[key];
      if (known !== undefined && known !== value) conflicts.push(`${key} ${value} != known ${known}`);
    }
    if (conflicts.length > 0) return conflicts.join(", ");
    this.contentLength = size.contentLength ?? this.contentLength;
    this.pieceLength = size.pieceLength ?? this.pieceLength;
    this.pieceCount = size.pieceCount ?? this.pieceCount;
    if (this.pieceCount === undefined && this.contentLength !== undefined && this.pieceLength !== undefined) {
      this.pieceCount = pieceCountFor(this.contentLength, this.pieceLength);
    }
    return undefined;
  }

  /** Records a piece digest; returns the known digest when a different one was reported. */
  recordPieceDigest(number: number, digest: string): string | undefined {
    if (!digest) return undefined;
    const known = this.pieceDigests.get(number);
    if (known === undefined) {
      this.pieceDigests.set(number, digest);
      return undefined;
    }
    return known === digest ? undefined : known;
  }
}
