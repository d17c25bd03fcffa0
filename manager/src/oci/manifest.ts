import { isSha256Digest } from "@d7y/proto";
import type { Platform } from "./platform.js";

export const MEDIA_TYPES = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
  dockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
} as const;

/** Every manifest kind, in the Accept header of manifest requests. */
export const MANIFEST_ACCEPT: readonly string[] = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifestList,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.dockerSchema1Signed,
  MEDIA_TYPES.dockerSchema1,
];

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  platform?: Platform;
}

export type ParsedManifest =
  | { kind: "index"; mediaType: string; manifests: Descriptor[] }
  | { kind: "image"; mediaType: string; blobs: Descriptor[] };

/** Entries of an index or layers of a manifest beyond this are refused. */
const MAX_ENTRIES = 10_000;
const INDEX_TYPES = new Set<string>([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]);

function descriptor(value: unknown, where: string): Descriptor {
  const entry = value as { mediaType?: unknown; digest?: unknown; size?: unknown; platform?: unknown };
  if (typeof entry !== "object" || entry === null || typeof entry.digest !== "string") {
    throw new TypeError(`${where} has no digest`);
  }
  if (!isSha256Digest(entry.digest)) throw new TypeError(`${where} has an unsupported digest "${entry.digest}"`);
  const result: Descriptor = { digest: entry.digest };
  if (typeof entry.mediaType === "string") result.mediaType = entry.mediaType;
  if (typeof entry.size === "number" && Number.isSafeInteger(entry.size) && entry.size >= 0) result.size = entry.size;
  const platform = entry.platform as { os?: unknown; architecture?: unknown; variant?: unknown } | undefined;
  if (platform && typeof platform.os === "string" && typeof platform.architecture === "string") {
    result.platform = { os: platform.os, architecture: platform.architecture };
    if (typeof platform.variant === "string" && platform.variant) result.platform.variant = platform.variant;
  }
  return result;
}

function list(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new TypeError(`${where} is not a list`);
  if (value.length > MAX_ENTRIES) throw new TypeError(`${where} has more than ${MAX_ENTRIES} entries`);
  return value;
}

/**
 * Parses a manifest body: an OCI index / Docker manifest list (its entries), or an image manifest (its config
 * and layers; schema1's fsLayers). The kind comes from Content-Type, else the body's mediaType, else its shape.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    throw new TypeError("the manifest is not JSON");
  }
  if (typeof json !== "object" || json === null) throw new TypeError("the manifest is not a JSON object");
  const headerType = contentType?.split(";")[0]?.trim().toLowerCase();
  const mediaType =
    headerType && headerType !== "application/json"
      ? headerType
      : typeof json.mediaType === "string"
        ? json.mediaType
        : "";
  if (INDEX_TYPES.has(mediaType) || (!mediaType && Array.isArray(json.manifests))) {
    const manifests = list(json.manifests, "the index's manifests").map((entry, i) =>
      descriptor(entry, `manifests[${i}]`),
    );
    return { kind: "index", mediaType, manifests };
  }
  if (Array.isArray(json.fsLayers)) {
    const blobs = list(json.fsLayers, "fsLayers").map((layer, i) => {
      const blobSum = (layer as { blobSum?: unknown }).blobSum;
      return descriptor({ digest: blobSum }, `fsLayers[${i}]`);
    });
    return { kind: "image", mediaType: mediaType || MEDIA_TYPES.dockerSchema1, blobs };
  }
  const blobs: Descriptor[] = [];
  if (json.config !== undefined) blobs.push(descriptor(json.config, "config"));
  list(json.layers, "layers").forEach((layer, i) => {
    blobs.push(descriptor(layer, `layers[${i}]`));
  });
  return { kind: "image", mediaType, blobs };
}
