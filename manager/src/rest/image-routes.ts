import { invalid } from "../errors.js";
import { type ManifestLocation, parseImageLocation } from "../oci/image-reference.js";
import { PlatformNotFoundError, resolveImage } from "../oci/image-resolver.js";
import { type Platform, parsePlatform } from "../oci/platform.js";
import { RegistryError } from "../oci/registry-error.js";
import { RegistryHttp } from "../oci/registry-http.js";
import { RegistrySession } from "../oci/registry-session.js";
import type { Reply, Router } from "./router.js";

export interface ImageRoutesDeps {
  /** The registry client preheat uses (its insecure registries and timeout); default: verified TLS, 60 s. */
  registry?: RegistryHttp;
  now?: () => number;
}

/** One blob of the image: its config (`config: true`) or a layer. */
export interface ImageLayerView {
  digest: string;
  size?: number;
  media_type?: string;
  url: string;
  config: boolean;
}

export interface ImageLayersView {
  /** The image manifest the blobs come from. */
  url: string;
  manifest_digest: string;
  platform: string;
  layers: ImageLayerView[];
}

const DEFAULT_PLATFORM = "linux/amd64";
/** The whole resolution (index, manifest, token) at most this long. */
const RESOLVE_TIMEOUT_MS = 120_000;
const CONFIG_MEDIA_TYPE = /(?:\.config\.v\d+\+json|container\.image\.v\d+\+json)$/;

/**
 * `GET /images/layers?url=<manifest URL or image reference>&platform=os/arch[&username=&password=]`: the
 * image's blobs (config first, marked) as preheat would resolve them. A manifest URL may be http (a plain-http
 * registry), as in preheat. 400 for bad input, 404 for a platform the index lacks, the registry's status and
 * message for registry errors.
 */
export function addImageRoutes(router: Router, prefix: string, deps: ImageRoutesDeps): void {
  const registry = deps.registry ?? new RegistryHttp([], 60_000);
  router.add("GET", `${prefix}/images/layers`, async (context) => {
    const query = context.url.searchParams;
    const url = query.get("url")?.trim() ?? "";
    if (!url) throw invalid("url: required (a manifest URL or an image reference)");
    let location: ManifestLocation;
    try {
      location = parseImageLocation(url);
    } catch (error) {
      throw invalid(`url: ${(error as Error).message}`);
    }
    let platform: Platform;
    try {
      platform = parsePlatform(query.get("platform") || DEFAULT_PLATFORM);
    } catch (error) {
      throw invalid(`platform: ${(error as Error).message}`);
    }
    const username = query.get("username");
    const password = query.get("password");
    const session = new RegistrySession(
      location,
      {
        ...(username === null ? {} : { username }),
        ...(password === null ? {} : { password }),
      },
      registry,
      deps.now,
    );
    try {
      const image = await resolveImage(session, platform, AbortSignal.timeout(RESOLVE_TIMEOUT_MS));
      const layers = image.blobs.map((blob, index) => ({
        digest: blob.digest,
        ...(blob.size === undefined ? {} : { size: blob.size }),
        ...(blob.mediaType === undefined ? {} : { media_type: blob.mediaType }),
        url: blob.url,
        config: index === 0 && blob.mediaType !== undefined && CONFIG_MEDIA_TYPE.test(blob.mediaType),
      }));
      const body: ImageLayersView = {
        url: image.manifestUrl,
        manifest_digest: image.manifestDigest,
        platform: image.platform ?? (query.get("platform") || DEFAULT_PLATFORM),
        layers,
      };
      return { status: 200, body };
    } catch (error) {
      return registryReply(error);
    }
  });
}

function registryReply(error: unknown): Reply {
  if (error instanceof RegistryError) {
    const status = error.status >= 400 && error.status <= 599 ? error.status : 502;
    return { status, body: { message: error.message } };
  }
  if (error instanceof PlatformNotFoundError) return { status: 404, body: { message: error.message } };
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return { status: 504, body: { message: `resolving the image timed out after ${RESOLVE_TIMEOUT_MS / 1000}s` } };
  }
  throw error;
}
