import { OCI_DIGEST, OCI_REPOSITORY, OCI_TAG, REGISTRY_HOST } from "@d7y/proto";
/** Where a manifest lives: `<scheme>://<host>/v2/<repository>/manifests/<reference>`. */
export interface ManifestLocation {
  scheme: "http" | "https";
  /** host or host:port. */
  host: string;
  /** e.g. library/alpine. */
  repository: string;
  /** A tag or a digest ("sha256:<hex>"). */
  reference: string;
}

const MANIFEST_URL = /^(https?):\/\/([^/?#]+)\/v2\/(.+)\/manifests\/([^/?#]+)$/;

/** Docker Hub's names: short references resolve there, as the docker CLI does. */
const DOCKER_HUB = { alias: "docker.io", host: "registry-1.docker.io" } as const;

export function isDigestReference(reference: string): boolean {
  return OCI_DIGEST.test(reference);
}

function checkParts(repository: string, reference: string): void {
  if (!OCI_REPOSITORY.test(repository)) throw new TypeError(`invalid repository name "${repository}"`);
  if (!OCI_TAG.test(reference) && !OCI_DIGEST.test(reference)) {
    throw new TypeError(`invalid tag or digest "${reference}" (a digest must be sha256:<64 hex>)`);
  }
}

/** Parses a manifest URL; throws a TypeError naming the problem. */
export function parseManifestUrl(url: string): ManifestLocation {
  const match = MANIFEST_URL.exec(url);
  if (!match) throw new TypeError(`"${url}" is not a manifest URL (scheme://host/v2/<repository>/manifests/<tag>)`);
  const [, scheme, host, repository, reference] = match as unknown as [
    string,
    "http" | "https",
    string,
    string,
    string,
  ];
  if (!REGISTRY_HOST.test(host)) throw new TypeError(`invalid registry host "${host}"`);
  const decoded = decodeURIComponent(reference);
  checkParts(repository, decoded);
  return { scheme, host, repository, reference: decoded };
}

/**
 * Parses an image reference (`host/repo:tag`, `host/repo@sha256:...`, `alpine`, `library/alpine:3`) into the
 * location of its manifest over https. A first component without "." or ":" (and not "localhost") is a
 * Docker Hub path, as with the docker CLI.
 */
export function parseImageReference(text: string): ManifestLocation {
  let rest = text.trim();
  let reference: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    reference = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > slash) {
    // A tag; with a digest too, the digest wins.
    reference ??= rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  reference ??= "latest";
  const first = rest.split("/")[0] ?? "";
  const hasHost = rest.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  let host = hasHost ? first : DOCKER_HUB.host;
  let repository = hasHost ? rest.slice(first.length + 1) : rest;
  if (host === DOCKER_HUB.alias) host = DOCKER_HUB.host;
  if (host === DOCKER_HUB.host && !repository.includes("/")) repository = `library/${repository}`;
  if (!REGISTRY_HOST.test(host)) throw new TypeError(`invalid registry host "${host}"`);
  checkParts(repository, reference);
  return { scheme: "https", host, repository, reference };
}

/** A manifest URL, or else an image reference: the location of the manifest to preheat. */
export function parseImageLocation(text: string): ManifestLocation {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return parseManifestUrl(text);
  try {
    return parseImageReference(text);
  } catch (error) {
    throw new TypeError(
      `"${text}" is neither a manifest URL (scheme://host/v2/<repository>/manifests/<tag>) nor an image reference (host/repository:tag): ${(error as Error).message}`,
    );
  }
}

export function manifestUrl(location: ManifestLocation, reference = location.reference): string {
  return `${location.scheme}://${location.host}/v2/${location.repository}/manifests/${reference}`;
}

export function blobUrl(location: ManifestLocation, digest: string): string {
  return `${location.scheme}://${location.host}/v2/${location.repository}/blobs/${digest}`;
}
