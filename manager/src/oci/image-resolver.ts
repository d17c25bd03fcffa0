import { createHash } from "node:crypto";
import { blobUrl, isDigestReference, manifestUrl } from "./image-reference.js";
import { MANIFEST_ACCEPT, parseManifest } from "./manifest.js";
import { choosePlatform, formatPlatform, type Platform } from "./platform.js";
import { RegistryError } from "./registry-error.js";
import type { RegistrySession } from "./registry-session.js";

export interface ImageBlob {
  /** `<scheme>://<host>/v2/<repository>/blobs/<digest>`. */
  url: string;
  digest: string;
  /** Bytes, when the manifest says. */
  size?: number;
  /** The descriptor's media type, when the manifest says. */
  mediaType?: string;
}

export interface ResolvedImage {
  /** The image manifest the blobs come from. */
  manifestUrl: string;
  manifestDigest: string;
  /** The platform picked from an index, when there was one. */
  platform?: string;
  blobs: ImageBlob[];
}

/** An index may point at an index; deeper than this is refused. */
const MAX_DEPTH = 3;

/** Raised when an index has no manifest for the asked platform. */
export class PlatformNotFoundError extends Error {
  override name = "PlatformNotFoundError";
}

/**
 * Resolves an image to its blobs: GETs the manifest; an index picks the platform's manifest and fetches it;
 * the image manifest's config and layers become blob URLs in the same repository (duplicates removed).
 */
export async function resolveImage(
  session: RegistrySession,
  platform: Platform,
  signal: AbortSignal,
): Promise<ResolvedImage> {
  const location = session.location;
  let reference = location.reference;
  let picked: string | undefined;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const response = await session.getManifest(reference, MANIFEST_ACCEPT, signal);
    const url = manifestUrl(location, reference);
    const digest = `sha256:${createHash("sha256").update(response.body).digest("hex")}`;
    if (isDigestReference(reference) && digest !== reference) {
      throw new RegistryError(502, `GET ${url}: the manifest's digest is ${digest}, not ${reference}`);
    }
    const contentType = response.headers["content-type"];
    let manifest: ReturnType<typeof parseManifest>;
    try {
      manifest = parseManifest(response.body, Array.isArray(contentType) ? contentType[0] : contentType);
    } catch (error) {
      throw new RegistryError(502, `GET ${url}: ${(error as Error).message}`);
    }
    if (manifest.kind === "index") {
      const entry = choosePlatform(manifest.manifests, platform);
      if (!entry) {
        const available = manifest.manifests.flatMap((item) => (item.platform ? [formatPlatform(item.platform)] : []));
        throw new PlatformNotFoundError(
          `no manifest for platform ${formatPlatform(platform)} in ${url} (it has ${available.join(", ") || "no platforms"})`,
        );
      }
      picked = entry.platform ? formatPlatform(entry.platform) : undefined;
      reference = entry.digest;
      continue;
    }
    const seen = new Set<string>();
    const blobs: ImageBlob[] = [];
    for (const blob of manifest.blobs) {
      if (seen.has(blob.digest)) continue;
      seen.add(blob.digest);
      blobs.push({
        url: blobUrl(location, blob.digest),
        digest: blob.digest,
        ...(blob.size === undefined ? {} : { size: blob.size }),
        ...(blob.mediaType === undefined ? {} : { mediaType: blob.mediaType }),
      });
    }
    return { manifestUrl: url, manifestDigest: digest, ...(picked ? { platform: picked } : {}), blobs };
  }
  throw new RegistryError(502, `${manifestUrl(location)}: image indexes nested more than ${MAX_DEPTH} deep`);
}
