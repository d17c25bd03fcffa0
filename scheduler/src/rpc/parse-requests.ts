import { isIP } from "node:net";
import { isSha256Digest, pieceCountFor } from "@d7y/proto";
import { type Download, type Host, HostType, type Piece } from "@d7y/proto/common/v1";
import type { HostTask } from "@d7y/proto/scheduler/v1";
import { invalid } from "../errors.js";
import type { HostSpec } from "../resource/host.js";
import type { DownloadSpec } from "../resource/peer.js";
import type { PieceReport } from "../resource/peer-progress.js";
import type { HostTaskSpec } from "../resource/scheduler-state.js";
import { MAX_PIECE_COUNT, type TaskSize } from "../resource/task.js";

/** Limits on what one request may carry, so no client can make the scheduler hold unbounded state. */
export const REQUEST_LIMITS = {
  idLength: 512,
  labelLength: 1024,
  urlLength: 8192,
  hostTasks: 100_000,
  registerPieces: MAX_PIECE_COUNT,
  blockedParents: 1024,
  requestHeaders: 256,
  maxIntervalMs: 24 * 3_600_000,
} as const;

/** A non-empty id of bounded length without control characters. */
export function parseId(value: string, field: string): string {
  if (value === "") throw invalid(`${field} is required`);
  if (value.length > REQUEST_LIMITS.idLength) throw invalid(`${field} is longer than ${REQUEST_LIMITS.idLength}`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(value)) throw invalid(`${field} contains control characters`);
  return value;
}

function label(value: string, field: string): string {
  if (value.length > REQUEST_LIMITS.labelLength) throw invalid(`${field} is longer than ${REQUEST_LIMITS.labelLength}`);
  return value;
}

/** A uint64/int64 as a safe non-negative number. */
export function safeNumber(value: bigint, field: string): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${field} is out of range: ${value}`);
  return Number(value);
}

function port(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535)
    throw invalid(`${field} must be in 1..65535, got ${value}`);
  return value;
}

export function parseHost(host: Host | undefined): HostSpec {
  if (!host) throw invalid("host is required");
  if (!isIP(host.ip)) throw invalid(`host.ip "${host.ip}" is not an IP address`);
  if (host.type !== HostType.UNSPECIFIED && host.type !== HostType.NORMAL && host.type !== HostType.SEED) {
    throw invalid(`host.type ${host.type} is unknown`);
  }
  if (host.uploadLimit < 0) throw invalid(`host.upload_limit must not be negative, got ${host.uploadLimit}`);
  if (host.uploadInFlight < 0) throw invalid(`host.upload_in_flight must not be negative, got ${host.uploadInFlight}`);
  return {
    id: parseId(host.id, "host.id"),
    type: host.type === HostType.SEED ? "seed" : "normal",
    hostname: label(host.hostname, "host.hostname"),
    ip: host.ip,
    port: port(host.port, "host.port"),
    downloadPort: port(host.downloadPort, "host.download_port"),
    proxyPort: host.proxyPort === 0 ? 0 : port(host.proxyPort, "host.proxy_port"),
    idc: label(host.idc, "host.idc"),
    location: label(host.location, "host.location"),
    uploadLimit: host.uploadLimit,
    uploadInFlight: host.uploadInFlight,
    diskUsedBytes: safeNumber(host.diskUsedBytes, "host.disk_used_bytes"),
    diskQuotaBytes: safeNumber(host.diskQuotaBytes, "host.disk_quota_bytes"),
  };
}

export function parseIntervalMs(value: bigint): number {
  const ms = safeNumber(value, "interval_ms");
  if (ms > REQUEST_LIMITS.maxIntervalMs) throw invalid(`interval_ms must be at most ${REQUEST_LIMITS.maxIntervalMs}`);
  return ms;
}

function parseUrl(value: string, field: string): string {
  if (value.length > REQUEST_LIMITS.urlLength) throw invalid(`${field} is longer than ${REQUEST_LIMITS.urlLength}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(`${field} "${value}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalid(`${field} has scheme ${url.protocol} (http and https are supported)`);
  }
  return value;
}

function parseDigest(value: string, field: string): string {
  if (value && !isSha256Digest(value)) throw invalid(`${field} "${value}" is not sha256:<64 hex>`);
  return value;
}

/** Sizes a peer or host reports; piece_count must agree with content_length / piece_length. */
function parseSize(contentLength: bigint, pieceLength: bigint, pieceCount: number | undefined, field: string) {
  const content = safeNumber(contentLength, `${field}.content_length`);
  const piece = safeNumber(pieceLength, `${field}.piece_length`);
  if (piece === 0) throw invalid(`${field}.piece_length is required`);
  const count = pieceCountFor(content, piece);
  if (count > MAX_PIECE_COUNT) throw invalid(`${field} has ${count} pieces, more than ${MAX_PIECE_COUNT}`);
  if (pieceCount !== undefined && pieceCount !== count) {
    throw invalid(`${field}.piece_count ${pieceCount} does not match content_length / piece_length (${count})`);
  }
  return { contentLength: content, pieceLength: piece, pieceCount: count };
}

export function parseHostTasks(tasks: HostTask[]): HostTaskSpec[] {
  if (tasks.length > REQUEST_LIMITS.hostTasks) throw invalid(`tasks has more than ${REQUEST_LIMITS.hostTasks} entries`);
  return tasks.map((task, index) => {
    const field = `tasks[${index}]`;
    return {
      taskId: parseId(task.taskId, `${field}.task_id`),
      url: task.url ? parseUrl(task.url, `${field}.url`) : "",
      digest: parseDigest(task.digest, `${field}.digest`),
      ...parseSize(task.contentLength, task.pieceLength, task.pieceCount, field),
    };
  });
}

export function parseDownload(download: Download | undefined): DownloadSpec {
  if (!download) throw invalid("register_peer.download is required");
  const headers = Object.entries(download.requestHeader);
  if (headers.length > REQUEST_LIMITS.requestHeaders) {
    throw invalid(`register_peer.download.request_header has more than ${REQUEST_LIMITS.requestHeaders} entries`);
  }
  return {
    url: parseUrl(download.url, "register_peer.download.url"),
    digest: parseDigest(download.digest, "register_peer.download.digest"),
    requestHeader: Object.fromEntries(headers),
    needBackToSource: download.needBackToSource,
  };
}

export function parsePiece(piece: Piece | undefined, field: string): PieceReport {
  if (!piece) throw invalid(`${field} is required`);
  if (piece.number >= MAX_PIECE_COUNT) throw invalid(`${field}.number ${piece.number} is out of range`);
  return {
    number: piece.number,
    length: safeNumber(piece.length, `${field}.length`),
    digest: label(piece.digest, `${field}.digest`),
    parentHostId: piece.parentId === "" ? "" : parseId(piece.parentId, `${field}.parent_id`),
  };
}

export function parsePieces(pieces: Piece[], field: string): PieceReport[] {
  if (pieces.length > REQUEST_LIMITS.registerPieces) throw invalid(`${field} has too many entries`);
  return pieces.map((piece, index) => parsePiece(piece, `${field}[${index}]`));
}

/** content_length and piece_length of a back-to-source start (0 = not known yet). */
export function parseStartedSize(contentLength: bigint, pieceLength: bigint): TaskSize {
  if (pieceLength === 0n) return {};
  return parseSize(contentLength, pieceLength, undefined, "download_peer_back_to_source_started");
}

/** content_length and piece_count of a finished download. */
export function parseFinishedSize(contentLength: bigint, pieceCount: number, field: string): TaskSize {
  const content = safeNumber(contentLength, `${field}.content_length`);
  if (pieceCount > MAX_PIECE_COUNT) throw invalid(`${field}.piece_count ${pieceCount} is out of range`);
  if (content === 0 && pieceCount === 0) return {};
  return { contentLength: content, pieceCount };
}

export function parseBlockedParents(ids: string[]): string[] {
  if (ids.length > REQUEST_LIMITS.blockedParents) {
    throw invalid(`reschedule_peer.blocked_parents has more than ${REQUEST_LIMITS.blockedParents} entries`);
  }
  return ids.map((id, index) => parseId(id, `reschedule_peer.blocked_parents[${index}]`));
}
