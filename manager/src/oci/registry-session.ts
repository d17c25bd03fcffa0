import { type ManifestLocation, manifestUrl } from "./image-reference.js";
import { RegistryError, registryError } from "./registry-error.js";
import type { HttpResponse, RegistryHttp } from "./registry-http.js";
import { parseWwwAuthenticate } from "./www-authenticate.js";

export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** Sent with every request; a given Authorization is used as is (no token dance). */
  headers?: Record<string, string>;
}

/** Largest manifest accepted (distribution's own limit). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_TOKEN_BYTES = 1024 * 1024;
/** Token lifetime when the token service does not say (the distribution spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;
/** A token this close to its expiry is renewed before it is handed to a downloader. */
const RENEW_BEFORE_MS = 20_000;

type Auth =
  | { kind: "none" }
  | { kind: "given"; value: string }
  | { kind: "basic"; value: string }
  | { kind: "bearer"; value: string; expiresAt: number; realm: string; service?: string };

function findHeader(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

function describeFailure(what: string, error: unknown): Error {
  if (error instanceof RegistryError) return error;
  const cause = (error as { cause?: { message?: string; code?: string } }).cause;
  const timedOut = ["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"].includes(
    (error as { code?: string }).code ?? "",
  );
  const message = timedOut ? "timed out" : (cause?.message ?? (error as Error).message);
  return new RegistryError(502, `${what}: ${message}`);
}

/**
 * Talks to one repository of one registry with the credentials of a preheat: tries each request, and on a
 * 401 follows the registry's challenge (Bearer: a pull token from the realm, with Basic credentials when
 * given; Basic: the credentials), then retries once. The resulting Authorization is what the downloaders get.
 */
export class RegistrySession {
  private auth: Auth;
  /** A token renewal in flight, shared by the downloads that need it at once. */
  private renewing: Promise<void> | undefined;
  private readonly extraHeaders: Record<string, string>;

  constructor(
    readonly location: ManifestLocation,
    private readonly credentials: RegistryCredentials,
    private readonly http: RegistryHttp,
    private readonly now: () => number = Date.now,
  ) {
    const given = findHeader(credentials.headers, "authorization");
    this.auth = given === undefined ? { kind: "none" } : { kind: "given", value: given };
    this.extraHeaders = {};
    for (const [key, value] of Object.entries(credentials.headers ?? {})) {
      if (key.toLowerCase() !== "authorization") this.extraHeaders[key] = value;
    }
  }

  /** GETs a manifest (any of `accept`); throws a RegistryError with the registry's status and words. */
  async getManifest(reference: string, accept: readonly string[], signal: AbortSignal): Promise<HttpResponse> {
    const url = manifestUrl(this.location, reference);
    const response = await this.get(url, { accept: accept.join(", ") }, MAX_MANIFEST_BYTES, signal);
    if (response.status !== 200) throw registryError(`GET ${url}`, response.status, response.body);
    return response;
  }

  /** The Authorization header for downloading this repository's blobs now (a bearer token is renewed when near expiry). */
  async authorization(signal: AbortSignal): Promise<string | undefined> {
    if (this.auth.kind === "bearer" && this.auth.expiresAt - this.now() < RENEW_BEFORE_MS) {
      const { realm, service } = this.auth;
      this.renewing ??= this.fetchToken(realm, service, signal).finally(() => {
        this.renewing = undefined;
      });
      await this.renewing;
    }
    return this.auth.kind === "none" ? undefined : this.auth.value;
  }

  /** Headers a downloader sends to the registry: the job's headers plus the current Authorization. */
  async downloadHeaders(signal: AbortSignal): Promise<Record<string, string>> {
    const authorization = await this.authorization(signal);
    return { ...this.extraHeaders, ...(authorization ? { Authorization: authorization } : {}) };
  }

  private async get(
    url: string,
    headers: Record<string, string>,
    maxBytes: number,
    signal: AbortSignal,
  ): Promise<HttpResponse> {
    const send = async () => {
      const all: Record<string, string> = { ...this.extraHeaders, ...headers };
      if (this.auth.kind !== "none") all.authorization = this.auth.value;
      try {
        return await this.http.get(url, { headers: all, signal, maxBytes });
      } catch (error) {
        throw describeFailure(`GET ${url}`, error);
      }
    };
    const first = await send();
    if (first.status !== 401 || this.auth.kind === "given") return first;
    const challenged = await this.answerChallenge(first, url, signal);
    return challenged ? send() : first;
  }

  /** Sets up auth from a 401's challenge; false when there is nothing more to try. */
  private async answerChallenge(response: HttpResponse, url: string, signal: AbortSignal): Promise<boolean> {
    const header = response.headers["www-authenticate"];
    const value = Array.isArray(header) ? header.join(", ") : header;
    const challenges = value ? parseWwwAuthenticate(value) : [];
    const bearer = challenges.find((challenge) => challenge.scheme === "bearer");
    if (bearer?.params.realm) {
      // Already holding a fresh token that was refused: asking again would not help.
      if (this.auth.kind === "bearer" && this.auth.expiresAt > this.now()) return false;
      await this.fetchToken(bearer.params.realm, bearer.params.service, signal);
      return true;
    }
    if (challenges.some((challenge) => challenge.scheme === "basic")) {
      if (this.auth.kind === "basic" || this.credentials.username === undefined) return false;
      this.auth = { kind: "basic", value: this.basic() };
      return true;
    }
    throw registryError(`GET ${url}`, response.status, response.body);
  }

  private basic(): string {
    const pair = `${this.credentials.username ?? ""}:${this.credentials.password ?? ""}`;
    return `Basic ${Buffer.from(pair).toString("base64")}`;
  }

  private async fetchToken(realm: string, service: string | undefined, signal: AbortSignal): Promise<void> {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError(502, `the registry's token realm "${realm}" is not a URL`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new RegistryError(502, `the registry's token realm "${realm}" is not http(s)`);
    }
    if (service) url.searchParams.set("service", service);
    url.searchParams.set("scope", `repository:${this.location.repository}:pull`);
    const headers: Record<string, string> = { ...this.extraHeaders };
    if (this.credentials.username !== undefined) headers.authorization = this.basic();
    let response: HttpResponse;
    try {
      response = await this.http.get(url.toString(), { headers, signal, maxBytes: MAX_TOKEN_BYTES });
    } catch (error) {
      throw describeFailure(`GET ${url.origin}${url.pathname} (token)`, error);
    }
    const what = `GET ${url.origin}${url.pathname} (token for ${this.location.repository})`;
    if (response.status !== 200) throw registryError(what, response.status, response.body);
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(response.body.toString("utf8"));
    } catch {
      throw new RegistryError(502, `${what}: the answer is not JSON`);
    }
    const token = typeof parsed.token === "string" && parsed.token ? parsed.token : parsed.access_token;
    if (typeof token !== "string" || token.length === 0)
      throw new RegistryError(502, `${what}: no token in the answer`);
    const seconds =
      typeof parsed.expires_in === "number" && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_SECONDS;
    this.auth = {
      kind: "bearer",
      value: `Bearer ${token}`,
      expiresAt: this.now() + seconds * 1000,
      realm,
      ...(service ? { service } : {}),
    };
  }
}
