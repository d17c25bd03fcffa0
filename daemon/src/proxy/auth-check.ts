import { createHash } from "node:crypto";
import { type HeaderMap, type HttpOrigin, readBody } from "../backend/http-origin.js";
import { DaemonError, UpstreamResponseError } from "../errors.js";

/**
 * How a blob GET served from the cache or from peers was authorized: the origin said yes now (allowed) or
 * no (denied), a recent yes for the same credential was reused (cached), the origin could not answer but
 * an older yes was (stale), or the origin could not answer and nothing vouches for the credential (unavailable).
 */
export type AuthCheckResult = "allowed" | "denied" | "cached" | "stale" | "unavailable";
export const AUTH_CHECK_RESULTS: readonly AuthCheckResult[] = ["allowed", "denied", "cached", "stale", "unavailable"];

/** At most this many verdicts are remembered; the oldest go first. */
export const DEFAULT_MAX_VERDICTS = 100_000;

export interface VerdictCacheOptions {
  /** A positive verdict younger than this skips the origin. */
  ttlMs: number;
  /** A positive verdict younger than this still allows serving when the origin cannot answer. */
  staleIfErrorMs: number;
  maxEntries?: number;
  /** The clock (tests). */
  now?: () => number;
}

export interface VerdictKey {
  /** Origin of the upstream registry, e.g. https://ghcr.io. */
  upstream: string;
  repo: string;
  digest: string;
  /** The client's Authorization header value; undefined or "" = anonymous. */
  authorization?: string | string[];
}

/** sha256 hex of an Authorization header value ("" for anonymous): the credential is never kept in memory. */
export function credentialHash(authorization: string | string[] | undefined): string {
  const value = Array.isArray(authorization) ? authorization.join(", ") : (authorization ?? "");
  return value === "" ? "" : createHash("sha256").update(value).digest("hex");
}

/**
 * Positive access verdicts in memory: (upstream, repo, digest, credential hash) -> when the origin last said
 * yes. Negative verdicts are never kept. Bounded: beyond maxEntries the least recently confirmed go.
 */
export class VerdictCache {
  private readonly entries = new Map<string, number>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly options: VerdictCacheOptions) {
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_VERDICTS;
    this.now = options.now ?? Date.now;
  }

  static key(key: VerdictKey): string {
    return JSON.stringify([key.upstream, key.repo, key.digest, credentialHash(key.authorization)]);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Records that the origin allowed this credential now. */
  remember(key: VerdictKey): void {
    const id = VerdictCache.key(key);
    this.entries.delete(id); // re-inserted last: Map order is the age order
    this.entries.set(id, this.now());
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** A positive verdict younger than the TTL exists. */
  isFresh(key: VerdictKey): boolean {
    const age = this.ageOf(key);
    return age !== undefined && age < this.options.ttlMs;
  }

  /** A positive verdict younger than the stale window exists (for when the origin cannot answer). */
  isUsableIfError(key: VerdictKey): boolean {
    const age = this.ageOf(key);
    return age !== undefined && age < this.options.staleIfErrorMs;
  }

  private ageOf(key: VerdictKey): number | undefined {
    const id = VerdictCache.key(key);
    const at = this.entries.get(id);
    if (at === undefined) return undefined;
    const age = this.now() - at;
    if (age >= Math.max(this.options.ttlMs, this.options.staleIfErrorMs)) {
      this.entries.delete(id); // useless from now on
      return undefined;
    }
    return age;
  }
}

/** Request headers not sent with the access check (a conditional HEAD could answer 304 instead of a verdict). */
const CHECK_DROPPED_HEADERS = ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range"];

export interface AuthCheckerOptions {
  origin: HttpOrigin;
  cache: VerdictCache;
  /** Time the origin has to answer the HEAD before it counts as unreachable. */
  timeoutMs: number;
}

export interface AuthCheckRequest extends VerdictKey {
  /** The blob's URL at the origin. */
  url: string;
  /** The client's headers as forwarded to the origin (Authorization...). */
  headers: HeaderMap;
}

export type AuthVerdict =
  | { result: "allowed" | "cached" | "stale" }
  /** The origin's answer, to hand back to the client unchanged. */
  | { result: "denied"; error: UpstreamResponseError }
  | { result: "unavailable"; error: DaemonError };

/**
 * Asks the origin whether a client may read a blob this daemon already has (or gets from peers): HEAD on the
 * blob with the client's own headers. Checks of one key in flight at once share one HEAD.
 */
export class AuthChecker {
  private readonly inFlight = new Map<string, Promise<AuthVerdict>>();

  constructor(private readonly options: AuthCheckerOptions) {}

  get cache(): VerdictCache {
    return this.options.cache;
  }

  async check(request: AuthCheckRequest): Promise<AuthVerdict> {
    if (this.options.cache.isFresh(request)) return { result: "cached" };
    const id = VerdictCache.key(request);
    const running = this.inFlight.get(id);
    if (running) return running;
    const asking = this.ask(request).finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, asking);
    return asking;
  }

  private async ask(request: AuthCheckRequest): Promise<AuthVerdict> {
    const headers = { ...request.headers };
    for (const name of CHECK_DROPPED_HEADERS) delete headers[name];
    let failure: string;
    try {
      // Redirects are not followed: a registry answers a client it has authorized with a redirect to its
      // storage (often a pre-signed URL valid for GET only, which a HEAD there would fail).
      const response = await this.options.origin.request(request.url, {
        method: "HEAD",
        headers,
        followRedirects: false,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      const body = await readBody(response.body).catch(() => Buffer.alloc(0));
      const redirected = response.status >= 300 && response.status < 400 && response.headers.location !== undefined;
      if ((response.status >= 200 && response.status < 300) || redirected) {
        this.options.cache.remember(request);
        return { result: "allowed" };
      }
      // 408 and 429 say nothing about access (a busy or rate-limiting registry): like a 5xx, they fall
      // back to a recent verdict, so the cache keeps serving exactly when the registry is throttling.
      if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
        return {
          result: "denied",
          error: new UpstreamResponseError(response.status, response.headers, body, request.url),
        };
      }
      failure = `the origin answered ${response.status}`;
    } catch (error) {
      failure = (error as Error).message;
    }
    if (this.options.cache.isUsableIfError(request)) return { result: "stale" };
    return {
      result: "unavailable",
      error: new DaemonError(
        "upstream",
        `the origin could not confirm access to ${request.repo}@${request.digest} (${failure}); not serving it from the cache or peers`,
      ),
    };
  }
}
