export type TaskStatus = "running" | "succeeded" | "failed";
export type TrafficType = "back_to_source" | "remote_peer" | "local_peer";

/** Metadata of one task (one blob or file), stored under tasks/<id>. */
export interface TaskRecord {
  id: string;
  url: string;
  /** "sha256:<hex>" when the content must match a digest. */
  digest?: string;
  contentLength: number;
  pieceLength: number;
  pieceCount: number;
  status: TaskStatus;
  /** Origin response headers replayed to clients (content-type, docker-content-digest...). */
  responseHeaders: Record<string, string>;
  createdAt: number;
  updatedAt: number;
  accessedAt: number;
}

/** Metadata of one stored, verified piece, under pieces/<taskId>/<number>. */
export interface PieceRecord {
  number: number;
  offset: number;
  length: number;
  /** "crc32:<decimal>" of the piece bytes. */
  digest: string;
  trafficType: TrafficType;
  parentId: string;
  costMs: number;
  createdAt: number;
}
