import type { IncomingHttpHeaders } from "node:http";
import { Agent, type Dispatcher, request } from "undici";
import { RegistryError } from "./registry-error.js";

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The URL that answered (after redirects). */
  url: string;
}

export interface HttpGetOptions {
  headers: Record<string, string>;
  signal: AbortSignal;
  /** Bodies larger than this are refused (manifests are small). */
  maxBytes: number;
}

const MAX_REDIRECTS = 5;

/**
 * GETs for the registry client: one keep-alive agent for verified TLS and one for the registries listed as
 * insecure, a per-request timeout, bounded redirects (Authorization is dropped when a redirect leaves the
 * host) and bounded bodies.
 */
export class RegistryHttp {
  private readonly secure = new Agent();
  private readonly insecure = new Agent({ connect: { rejectUnauthorized: false } });
  private readonly insecureHosts: Set<string>;

  constructor(
    insecureHosts: readonly string[],
    private readonly timeoutMs: number,
  ) {
    this.insecureHosts = new Set(insecureHosts.map((host) => host.toLowerCase()));
  }

  /** Whether TLS verification is off for this URL's host (host:port or host alone may be listed). */
  isInsecure(url: URL): boolean {
    return this.insecureHosts.has(url.host.toLowerCase()) || this.insecureHosts.has(url.hostname.toLowerCase());
  }

  async get(rawUrl: string, options: HttpGetOptions): Promise<HttpResponse> {
    let url = new URL(rawUrl);
    const headers = { ...options.headers };
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const dispatcher: Dispatcher = this.isInsecure(url) ? this.insecure : this.secure;
      const response = await request(url, {
        method: "GET",
        headers,
        signal: options.signal,
        dispatcher,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      const location = response.headers.location;
      if (response.statusCode >= 300 && response.statusCode < 400 && typeof location === "string") {
        await response.body.dump();
        const next = new URL(location, url);
        if (next.host !== url.host) {
          delete headers.authorization;
          delete headers.Authorization;
        }
        url = next;
        continue;
      }
      const body = await readLimited(response.body, options.maxBytes, url);
      return { status: response.statusCode, headers: response.headers, body, url: url.toString() };
    }
    throw new RegistryError(508, `GET ${rawUrl}: more than ${MAX_REDIRECTS} redirects`);
  }

  async close(): Promise<void> {
    await Promise.all([this.secure.close(), this.insecure.close()]);
  }
}

async function readLimited(body: Dispatcher.ResponseData["body"], maxBytes: number, url: URL): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      throw new RegistryError(413, `GET ${url}: the response is larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
