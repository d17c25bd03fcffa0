import { createHash } from "node:crypto";

/** Query parameters that never change the content: registry namespace hints and object-storage signatures. */
export const DEFAULT_FILTERED_QUERY_PARAMS: readonly string[] = [
  "ns",
  "X-Amz-Algorithm",
  "X-Amz-Credential",
  "X-Amz-Date",
  "X-Amz-Expires",
  "X-Amz-SignedHeaders",
  "X-Amz-Signature",
  "X-Amz-Security-Token",
  "X-Goog-Algorithm",
  "X-Goog-Credential",
  "X-Goog-Date",
  "X-Goog-Expires",
  "X-Goog-SignedHeaders",
  "X-Goog-Signature",
  "OSSAccessKeyId",
  "Expires",
  "Signature",
  "SecurityToken",
  "AccessKeyId",
  "q-sign-algorithm",
  "q-ak",
  "q-sign-time",
  "q-key-time",
  "q-header-list",
  "q-url-param-list",
  "q-signature",
  "x-cos-security-token",
];

const DIGEST = /^sha256:([a-f0-9]{64})$/;
const BLOB_PATH =
  /^\/v2\/((?:[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)\/blobs\/([^/]+)$/;

export interface BlobRef {
  /** Repository name, e.g. library/alpine. */
  name: string;
  /** "sha256:<hex>". */
  digest: string;
}

/** True for a well-formed sha256 digest ("sha256:" + 64 lowercase hex). */
export function isSha256Digest(digest: string): boolean {
  return DIGEST.test(digest);
}

/**
 * Recognises a registry blob path. Returns null when the path is not a blob path at all, and throws
 * a TypeError naming the problem when it is one with a malformed digest.
 */
export function parseBlobPath(path: string): BlobRef | null {
  const match = BLOB_PATH.exec(path);
  if (!match) return null;
  const digest = decodeURIComponent(match[2]!);
  if (!isSha256Digest(digest)) throw new TypeError(`malformed digest "${digest}": expected sha256:<64 hex characters>`);
  return { name: match[1]!, digest };
}

/** The task id of a digest-addressed blob: its hex digest, so every registry and mirror URL of it is one task. */
export function taskIdForDigest(digest: string): string {
  const match = DIGEST.exec(digest);
  if (!match) throw new TypeError(`malformed digest "${digest}"`);
  return match[1]!;
}

export interface UrlTaskIdOptions {
  tag?: string;
  application?: string;
  pieceLength?: number;
  filteredQueryParams?: readonly string[];
}

/** Removes the filtered query keys, keeping the others in order; drops "?" when nothing is left. */
export function filterUrl(rawUrl: string, filtered: readonly string[] = DEFAULT_FILTERED_QUERY_PARAMS): string {
  const url = new URL(rawUrl);
  const drop = new Set(filtered);
  const kept = [...url.searchParams].filter(([key]) => !drop.has(key));
  const query = kept.length > 0 ? `?${new URLSearchParams(kept).toString()}` : "";
  const path = url.pathname === "/" ? "" : url.pathname;
  return `${url.protocol}//${url.host}${path}${query}`;
}

/**
 * The task id of a URL, computed as Dragonfly does for STANDARD tasks:
 * sha256(filteredURL + tag + application + decimal(pieceLength) + "STANDARD"), absent fields skipped.
 */
export function taskIdForUrl(rawUrl: string, options: UrlTaskIdOptions = {}): string {
  const hash = createHash("sha256");
  hash.update(filterUrl(rawUrl, options.filteredQueryParams));
  if (options.tag) hash.update(options.tag);
  if (options.application) hash.update(options.application);
  if (options.pieceLength) hash.update(String(options.pieceLength));
  hash.update("STANDARD");
  return hash.digest("hex");
}
