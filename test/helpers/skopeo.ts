/**
 * skopeo 1.9 wrappers: copy an image from a (plain HTTP, loopback) registry to an OCI layout dir,
 * optionally through mirrors configured in a private registries.conf.
 */
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type RunResult, run } from "./processes.js";

export interface SkopeoCopyOptions {
  /** A registries.conf (see writeRegistriesConf); default: the system one. */
  registriesConf?: string;
  /** Destination OCI layout dir (created by skopeo). */
  destDir: string;
  /** e.g. "linux/arm64" or "linux/arm/v7": picks the image of a multi-platform index. */
  platform?: string;
  /** Copy every platform of an index (`--all`). */
  all?: boolean;
  /** "user:password" for the source registry. */
  creds?: string;
  /** Hard limit (default 60 s). */
  timeoutMs?: number;
  /**
   * `--preserve-digests` (default true): without it skopeo 1.9 gzip-compresses uncompressed layers
   * when writing an OCI layout, so the stored digests differ from the registry's.
   */
  preserveDigests?: boolean;
  /** Passes --debug (logs every HTTP request on stderr). */
  debug?: boolean;
}

/**
 * `skopeo --insecure-policy --registries-conf FILE copy --src-tls-verify=false --preserve-digests docker://REF oci:DIR`.
 * Never throws on a non-zero exit (only on timeout).
 */
export async function skopeoCopy(ref: string, opts: SkopeoCopyOptions): Promise<RunResult> {
  const global: string[] = ["--insecure-policy"];
  if (opts.registriesConf) global.push("--registries-conf", opts.registriesConf);
  if (opts.debug) global.push("--debug");
  if (opts.platform) {
    const [os, arch, variant] = opts.platform.split("/");
    if (!os || !arch) throw new Error(`skopeoCopy: bad platform ${opts.platform}`);
    global.push("--override-os", os, "--override-arch", arch);
    if (variant) global.push("--override-variant", variant);
  }
  // --src-tls-verify=false: try HTTPS without verification, then fall back to plain HTTP.
  const copy = ["copy", "--src-tls-verify=false", "--retry-times", "0"];
  if (opts.creds) copy.push("--src-creds", opts.creds);
  else copy.push("--src-no-creds");
  if (opts.all) copy.push("--all");
  if (opts.preserveDigests ?? true) copy.push("--preserve-digests");
  return await run("/usr/bin/skopeo", [...global, ...copy, `docker://${ref}`, `oci:${opts.destDir}`], {
    timeoutMs: opts.timeoutMs ?? 60_000,
  });
}

export interface RegistriesConfOptions {
  /** "127.0.0.1:PORT": the registry images are named after. */
  registry: string;
  /** One mirror ("127.0.0.1:MIRRORPORT"), tried before the registry. */
  mirror?: string;
  /** Several mirrors, in order. */
  mirrors?: string[];
  /** Only use the mirrors for pulls by digest. */
  mirrorByDigestOnly?: boolean;
}

/** Writes a registries.conf (v2) where the registry and its mirrors are plain HTTP (`insecure = true`). */
export async function writeRegistriesConf(path: string, opts: RegistriesConfOptions): Promise<string> {
  const q = (s: string): string => JSON.stringify(s);
  const mirrors = [...(opts.mirror ? [opts.mirror] : []), ...(opts.mirrors ?? [])];
  const lines = [
    "unqualified-search-registries = []",
    'short-name-mode = "disabled"',
    "",
    "[[registry]]",
    `prefix = ${q(opts.registry)}`,
    `location = ${q(opts.registry)}`,
    "insecure = true",
  ];
  if (opts.mirrorByDigestOnly) lines.push("mirror-by-digest-only = true");
  for (const m of mirrors) lines.push("", "[[registry.mirror]]", `location = ${q(m)}`, "insecure = true");
  await writeFile(path, `${lines.join("\n")}\n`);
  return path;
}

/** Digests of the blobs stored in an OCI layout dir (blobs/sha256/*). */
export async function ociLayoutDigests(destDir: string): Promise<string[]> {
  const names = await readdir(join(destDir, "blobs", "sha256")).catch(() => [] as string[]);
  return names.filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n}`);
}
