import type { Readable } from "node:stream";
import { Agent, type Dispatcher } from "undici";
import { DaemonError } from "../errors.js";

/** Request headers that never travel to the origin (hop-by-hop, our own, and those we set ourselves). */
const DROPPED_REQUEST_HEADERS = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
]);

/** Response headers that describe one hop, not the resource. */
export const HOP_BY_HOP_RESPONSE_HEADERS = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

export type HeaderMap = Record<string, string | string[]>;

/** Copies request headers for the origin: drops hop-by-hop, Host, and X-Dragonfly-* control headers. */
export function originRequestHeaders(incoming: Record<string, string | string[] | undefined>, drop: string[] = []) {
  const headers: HeaderMap = {};
  const extra = new Set(drop.map((name) => name.toLowerCase()));
  const connectionTokens = String(incoming.connection ?? "")
    .split(",")
    .map((token) => token.trim().toLowerCase());
  for (const [name, value] of Object.entries(incoming)) {
    const key = name.toLowerCase();
    if (value === undefined || DROPPED_REQUEST_HEADERS.has(key) || extra.has(key)) continue;
    if (key.startsWith("x-dragonfly-") || connectionTokens.includes(key)) continue;
    headers[key] = value;
  }
  return headers;
}

export interface OriginResponse {
  status: number;
  headers: HeaderMap;
  body: Readable;
  /** The URL that finally answered (after redirects). */
  url: string;
}

export interface OriginOptions {
  connectTimeoutMs: number;
  /** Time without any byte from the origin before a request fails. */
  bodyTimeoutMs: number;
  maxRedirects?: number;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** HTTP(S) origin client over pooled undici connections. */
export class HttpOrigin {
  private readonly agent: Agent;

  constructor(private readonly options: OriginOptions) {
    this.agent = new Agent({
      connections: 64,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connectTimeout: options.connectTimeoutMs,
      headersTimeout: options.bodyTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs,
    });
  }

  /**
   * GET (or another method) following redirects; Authorization and Cookie are dropped when a redirect
   * leaves the origin. Connection failures become a DaemonError of kind "upstream".
   */
  async request(
    url: string,
    init: {
      method?: string;
      headers: HeaderMap;
      body?: Readable | null;
      followRedirects?: boolean;
      signal?: AbortSignal;
    },
  ): Promise<OriginResponse> {
    let current = new URL(url);
    let headers = { ...init.headers };
    const maxRedirects = init.followRedirects === false ? 0 : (this.options.maxRedirects ?? 5);
    for (let hop = 0; ; hop++) {
      let response: Dispatcher.ResponseData;
      try {
        response = await this.agent.request({
          origin: current.origin,
          path: `${current.pathname}${current.search}`,
          method: (init.method ?? "GET") as Dispatcher.HttpMethod,
          headers,
          body: init.body ?? null,
          signal: init.signal,
        });
      } catch (error) {
        throw new DaemonError("upstream", `upstream ${current.origin} unreachable: ${describe(error)}`, {
          cause: error,
        });
      }
      const location = response.headers.location;
      if (hop < maxRedirects && REDIRECT_STATUSES.has(response.statusCode) && typeof location === "string") {
        response.body.resume();
        const next = new URL(location, current);
        if (next.origin !== current.origin) {
          const { authorization: _a, cookie: _c, ...rest } = headers;
          headers = rest;
        }
        current = next;
        continue;
      }
      return {
        status: response.statusCode,
        headers: response.headers as HeaderMap,
        body: response.body,
        url: current.toString(),
      };
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

export function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    const code = (error as { code?: string }).code;
    const base = code ? `${code} ${error.message}` : error.message;
    return cause instanceof Error ? `${base} (${cause.message})` : base;
  }
  return String(error);
}

/** Reads a whole (small) body, up to limit bytes. */
export async function readBody(body: Readable, limit = 64 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    if (size + buffer.length > limit) {
      chunks.push(buffer.subarray(0, limit - size));
      body.destroy();
      break;
    }
    chunks.push(buffer);
    size += buffer.length;
  }
  return Buffer.concat(chunks);
}
