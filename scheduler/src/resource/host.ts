export type HostType = "normal" | "seed";

/** What a host announces about itself (validated). */
export interface HostSpec {
  id: string;
  type: HostType;
  hostname: string;
  ip: string;
  /** The daemon's Connect/gRPC API port (used to trigger seed downloads). */
  port: number;
  /** The daemon's piece upload HTTP port (what children download from). */
  downloadPort: number;
  proxyPort: number;
  idc: string;
  location: string;
  /** Maximum concurrent piece uploads; 0 means unlimited. */
  uploadLimit: number;
  uploadInFlight: number;
  diskUsedBytes: number;
  diskQuotaBytes: number;
}

/** A node running d7y-daemon, as last announced, with the scheduler's upload statistics. */
export class Host {
  /** Successful piece uploads reported by children. */
  uploadCount = 0;
  /** Piece bytes this host served to other hosts (successful uploads reported by children). */
  bytesUploaded = 0;
  /** Failed piece uploads reported by children. */
  uploadFailedCount = 0;
  /** Pieces from this host that failed verification (non-temporary failures). */
  corruptPieceCount = 0;
  /** Peers on this host (peer ids). */
  readonly peers = new Set<string>();

  constructor(
    public spec: HostSpec,
    public announcedAt: number,
    public ttlMs: number,
  ) {}

  get id(): string {
    return this.spec.id;
  }

  get isSeed(): boolean {
    return this.spec.type === "seed";
  }

  isExpired(now: number): boolean {
    return now - this.announcedAt > this.ttlMs;
  }

  /** Free upload slots as a fraction of the limit (1 when unlimited). */
  freeUploadFraction(): number {
    const { uploadLimit, uploadInFlight } = this.spec;
    if (uploadLimit <= 0) return 1;
    return Math.max(0, (uploadLimit - uploadInFlight) / uploadLimit);
  }

  hasFreeUploadSlot(): boolean {
    return this.spec.uploadLimit <= 0 || this.spec.uploadInFlight < this.spec.uploadLimit;
  }

  /** (attempts - failed) / attempts, where attempts = successes + failures; 1 before any upload. */
  uploadSuccessRate(): number {
    const attempts = this.uploadCount + this.uploadFailedCount;
    return attempts === 0 ? 1 : this.uploadCount / attempts;
  }
}
