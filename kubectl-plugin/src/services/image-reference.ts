import { OCI_DIGEST, OCI_REPOSITORY, OCI_TAG, REGISTRY_HOST } from "@d7y/proto";
import { UserError } from "./errors.js";

/** Where an image's manifest lives. */
export interface ImageLocation {
  scheme: "http" | "https";
  /** host or host:port. */
  host: string;
  /** e.g. team/app. */
  repository: string;
  /** A tag or a digest (sha256:<hex>). */
  reference: string;
}

/**
 * Parses `host/repo[:tag|@sha256:<hex>]` (the registry host is required: a preheat names the registry the
 * nodes pull from). A reference without tag or digest means `latest`. Throws a UserError naming the problem.
 */
export function parseImageReference(text: string, options: { plainHttp?: boolean } = {}): ImageLocation {
  const invalid = (why: string) => new UserError(`invalid image reference "${text}": ${why}`);
  let rest = text.trim();
  if (rest === "") throw invalid("empty");
  if (/^[a-z]+:\/\//i.test(rest)) throw invalid("give host/repo:tag, not a URL");
  let reference: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    reference = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!OCI_DIGEST.test(reference)) throw invalid(`"${reference}" is not a digest (sha256:<64 hex>)`);
  }
  const slash = rest.indexOf("/");
  if (slash < 0) throw invalid("expected host/repository[:tag|@sha256:...]");
  const host = rest.slice(0, slash);
  let repository = rest.slice(slash + 1);
  const colon = repository.lastIndexOf(":");
  if (colon >= 0) {
    const tag = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
    if (!OCI_TAG.test(tag)) throw invalid(`"${tag}" is not a valid tag`);
    reference ??= tag;
  }
  if (!REGISTRY_HOST.test(host)) throw invalid(`"${host}" is not a registry host`);
  if (!OCI_REPOSITORY.test(repository)) throw invalid(`"${repository}" is not a valid repository name`);
  return { scheme: options.plainHttp ? "http" : "https", host, repository, reference: reference ?? "latest" };
}

/** `scheme://host/v2/<repository>/manifests/<reference>`: what the manager's preheat takes as `url`. */
export function manifestUrl(location: ImageLocation): string {
  return `${location.scheme}://${location.host}/v2/${location.repository}/manifests/${location.reference}`;
}
