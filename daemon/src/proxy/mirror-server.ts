import http from "node:http";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream/promises";
import { closeServer, listen } from "@d7y/lifecycle";
import {
  contextFromHeaders,
  inSpan,
  type Logger,
  type Span,
  SpanKind,
  SpanStatusCode,
  tracerFor,
} from "@d7y/observability";
import { parseBlobPath, taskIdForDigest } from "@d7y/proto";
import { HOP_BY_HOP_RESPONSE_HEADERS, type HttpOrigin, originRequestHeaders } from "../backend/http-origin.js";
import { DaemonError, httpStatusOf, UpstreamResponseError } from "../errors.js";
import type { DaemonMetrics } from "../metrics.js";
import type { ContentStore } from "../storage/index.js";
import type { TaskHandle, TaskManager } from "../task/task-manager.js";
import { readTask } from "../task/task-reader.js";
import type { AuthChecker, AuthCheckResult } from "./auth-check.js";
import type { UpstreamResolver } from "./upstream.js";

export interface MirrorServerDeps {
  host: string;
  port: number;
  tasks: TaskManager;
  content: ContentStore;
  origin: HttpOrigin;
  upstreams: UpstreamResolver;
  logger: Logger;
  metrics?: DaemonMetrics;
  /**
   * Asks the origin (HEAD, the client's headers) before serving a blob from the cache or from peers;
   * absent: such blobs are served to any client (`proxy.authCheck.enable: false`).
   */
  authCheck?: AuthChecker;
}

/** What serveBlob needs to know about the blob and where it lives upstream. */
interface BlobTarget {
  /** The blob's URL at the origin. */
  url: string;
  upstream: string;
  repo: string;
  digest: string;
}

const TRACER = tracerFor("daemon");

/** Where a response's bytes came from: the local cache, peers, the origin, or both of the last two. */
function sourceOf(handle: TaskHandle): string {
  if (handle.kind === "complete") return "cache";
  const { peerBytes, originBytes } = handle.download;
  if (peerBytes > 0 && originBytes > 0) return "peer+origin";
  return originBytes > 0 ? "origin" : "peer";
}

/** Registry error codes by HTTP status, for the JSON body clients of the distribution API understand. */
const REGISTRY_CODES: Record<number, string> = {
  400: "DIGEST_INVALID",
  403: "DENIED",
  404: "NAME_UNKNOWN",
  416: "RANGE_INVALID",
};

type ByteRange = { start: number; end: number };

/** Parses a single "bytes=a-b" / "bytes=a-" / "bytes=-n" range; undefined means "the whole content". */
export function parseRange(header: string | undefined, total: number): ByteRange | undefined | "unsatisfiable" {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return undefined; // multi-range or junk: serve it all
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, total - suffix), end: total - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? total - 1 : Math.min(Number(match[2]), total - 1);
  if (start >= total || end < start) return "unsatisfiable";
  return { start, end };
}

/** The registry mirror containerd's hosts.toml points at. */
export class MirrorServer {
  private server?: http.Server;
  private readonly log: Logger;

  constructor(private readonly deps: MirrorServerDeps) {
    this.log = deps.logger.child({ component: "mirror" });
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => {
      this.deps.metrics?.trackMirrorRequest(res, "other");
      // One span per mirror request (a pull is findable by its URL); the download it starts is its child.
      void inSpan(
        TRACER,
        `mirror ${req.method}`,
        {
          kind: SpanKind.SERVER,
          parent: contextFromHeaders(req.headers),
          attributes: { "http.url": req.url ?? "", "http.method": req.method ?? "" },
        },
        async (span) => {
          await this.handle(req, res, span).catch((error: unknown) => this.fail(res, error));
          span.setAttribute("http.status_code", res.statusCode);
          if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        },
      );
    });
    server.on("clientError", (_error, socket) => {
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      else socket.destroy();
    });
    await listen(server, this.deps.port, this.deps.host);
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await closeServer(server);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, span: Span): Promise<void> {
    const raw = req.url ?? "/";
    if (!raw.startsWith("/")) {
      throw new DaemonError("forbidden", "this is a registry mirror, not an HTTP proxy: absolute URLs are refused");
    }
    const url = new URL(raw, "http://mirror.invalid");
    if (url.pathname === "/healthy") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (url.pathname !== "/v2" && !url.pathname.startsWith("/v2/")) {
      throw new DaemonError("not_found", `${url.pathname} is not a registry API path (expected /v2/...)`);
    }
    const header = req.headers["x-dragonfly-registry"];
    const ns = url.searchParams.get("ns") ?? undefined;
    const upstream = this.deps.upstreams.resolve(Array.isArray(header) ? header[0] : header, ns);
    url.searchParams.delete("ns");
    const target = `${upstream.origin}${url.pathname}${url.search}`;

    let blob: ReturnType<typeof parseBlobPath>;
    try {
      blob = parseBlobPath(url.pathname);
    } catch (error) {
      throw new DaemonError("invalid", (error as Error).message);
    }
    span.setAttribute("d7y.upstream", upstream.origin);
    if (blob && req.method === "GET") {
      this.deps.metrics?.trackMirrorRequest(res, "blob");
      await this.serveBlob(
        req,
        res,
        { url: target, upstream: upstream.origin, repo: blob.name, digest: blob.digest },
        span,
      );
      return;
    }
    this.deps.metrics?.trackMirrorRequest(res, "passthrough");
    await this.passThrough(req, res, target);
  }

  private async serveBlob(req: http.IncomingMessage, res: http.ServerResponse, blob: BlobTarget, span: Span) {
    const { digest } = blob;
    const taskId = taskIdForDigest(digest);
    const headers = originRequestHeaders(req.headers, ["range", "accept-encoding"]);
    let handle: TaskHandle;
    try {
      handle = await this.deps.tasks.acquire({ id: taskId, url: blob.url, digest, headers });
    } catch (error) {
      if (error instanceof UpstreamResponseError) {
        if (this.deps.authCheck) span.setAttribute("d7y.auth_check", "origin");
        this.replayUpstream(res, error);
        return;
      }
      throw error;
    }
    // Counted as a reader from here: eviction must not remove the content while the origin is asked.
    const endRead = this.deps.tasks.beginRead(taskId);
    try {
      if (await this.authorize(req, res, handle, blob, headers, span)) {
        await this.sendBlob(req, res, handle, digest, span);
      }
    } finally {
      endRead();
    }
  }

  /** Streams an authorized blob (or the requested range of it). */
  private async sendBlob(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    handle: TaskHandle,
    digest: string,
    span: Span,
  ): Promise<void> {
    const taskId = handle.record.id;
    const log = this.log.child({ taskId });
    const { record } = handle;
    const range = parseRange(req.headers.range, record.contentLength);
    if (range === "unsatisfiable") {
      res.writeHead(416, { "content-range": `bytes */${record.contentLength}`, "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "RANGE_INVALID", message: "requested range not satisfiable" }] }));
      return;
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? record.contentLength - 1;
    const responseHeaders: http.OutgoingHttpHeaders = {
      "content-type": record.responseHeaders["content-type"] ?? "application/octet-stream",
      "docker-content-digest": digest,
      "accept-ranges": "bytes",
      "content-length": String(end - start + 1),
      "x-dragonfly-task-id": taskId,
    };
    if (record.responseHeaders.etag) responseHeaders.etag = record.responseHeaders.etag;
    if (handle.kind === "complete") responseHeaders["x-dragonfly-task-download-finished"] = "true";
    if (range) responseHeaders["content-range"] = `bytes ${start}-${end}/${record.contentLength}`;
    res.writeHead(range ? 206 : 200, responseHeaders);
    try {
      await pipeline(readTask(handle, this.deps.content, start, end), res);
      if (handle.kind === "complete") this.deps.metrics?.servedFromCache(end - start + 1);
      const source = sourceOf(handle);
      span.setAttributes({ "d7y.task.id": taskId, "d7y.bytes": end - start + 1, "d7y.source": source });
      log.debug({ source, bytes: end - start + 1 }, "blob served");
    } catch (error) {
      // Headers are out: the only honest signal left is to cut the connection short.
      log.warn({ err: (error as Error).message }, "blob response aborted");
      res.destroy(error as Error);
    }
  }

  /**
   * Decides, before any byte is sent, whether this client may read the blob. A download this request
   * started from the origin already carried the client's headers (its first Range request is the verdict);
   * anything else (the cache, peers, or another client's download) is checked with a HEAD at the origin.
   * Returns false when it has answered the client itself (the origin's 4xx); throws (502) when the origin
   * cannot confirm and no recent verdict vouches for the credential.
   */
  private async authorize(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    handle: TaskHandle,
    blob: BlobTarget,
    headers: Record<string, string | string[]>,
    span: Span,
  ): Promise<boolean> {
    const checker = this.deps.authCheck;
    if (!checker) return true;
    const key = {
      upstream: blob.upstream,
      repo: blob.repo,
      digest: blob.digest,
      authorization: req.headers.authorization,
    };
    if (handle.kind === "downloading" && handle.created && handle.download.startedFromOrigin) {
      checker.cache.remember(key);
      span.setAttribute("d7y.auth_check", "origin");
      return true;
    }
    const verdict = await checker.check({ ...key, url: blob.url, headers });
    this.recordAuthCheck(verdict.result, span);
    if (verdict.result === "denied") {
      this.log.info(
        { repo: blob.repo, digest: blob.digest, status: verdict.error.status },
        "origin denied access to a cached blob",
      );
      this.replayUpstream(res, verdict.error);
      return false;
    }
    if (verdict.result === "unavailable") throw verdict.error;
    return true;
  }

  private recordAuthCheck(result: AuthCheckResult, span: Span): void {
    span.setAttribute("d7y.auth_check", result);
    this.deps.metrics?.authChecked(result);
  }

  private async passThrough(req: http.IncomingMessage, res: http.ServerResponse, target: string) {
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const response = await this.deps.origin.request(target, {
      method: req.method ?? "GET",
      headers: originRequestHeaders(req.headers),
      body: hasBody ? req : null,
      followRedirects: false,
    });
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (!HOP_BY_HOP_RESPONSE_HEADERS.has(name)) headers[name] = value;
    }
    res.writeHead(response.status, headers);
    try {
      await pipeline(response.body, res);
    } catch (error) {
      res.destroy(error as Error);
    }
  }

  private replayUpstream(res: http.ServerResponse, error: UpstreamResponseError): void {
    const headers: http.OutgoingHttpHeaders = { "x-dragonfly-error-type": "backend" };
    for (const [name, value] of Object.entries(error.headers)) {
      if (!HOP_BY_HOP_RESPONSE_HEADERS.has(name) && name !== "content-length") headers[name] = value;
    }
    headers["content-length"] = String(error.body.length);
    res.writeHead(error.status, headers).end(error.body);
  }

  private fail(res: http.ServerResponse, error: unknown): void {
    const status = httpStatusOf(error);
    const message = error instanceof Error ? error.message : String(error);
    if (status >= 500) this.log.error({ err: error }, "mirror request failed");
    else this.log.info({ status, reason: message }, "mirror request refused");
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const code = REGISTRY_CODES[status] ?? (status === 502 || status === 503 ? "UNAVAILABLE" : "UNKNOWN");
    res.writeHead(status, {
      "content-type": "application/json",
      "x-dragonfly-error-type": error instanceof DaemonError && error.kind === "upstream" ? "backend" : "proxy",
    });
    res.end(JSON.stringify({ errors: [{ code, message }] }));
  }
}
