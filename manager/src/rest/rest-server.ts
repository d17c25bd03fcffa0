import http from "node:http";
import type { AddressInfo } from "node:net";
import { closeServer, listen } from "@d7y/lifecycle";
import { contextFromHeaders, inSpan, type Logger, SpanKind, tracerFor } from "@d7y/observability";
import { httpStatusOf, ManagerError } from "../errors.js";
import type { TokenService } from "../token/token-service.js";
import { readJsonBody } from "./request-body.js";
import type { Reply, Router } from "./router.js";
import { authenticate } from "./token-auth.js";

const TRACER = tracerFor("manager");

export interface RestServerOptions {
  host: string;
  port: number;
  bodyLimitBytes: number;
  router: Router;
  tokens: TokenService;
  logger: Logger;
}

export interface RestServer {
  readonly port: number;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { ...reply.headers };
  let payload: string | undefined;
  if (reply.body !== undefined) {
    payload = JSON.stringify(reply.body);
    headers["content-type"] = "application/json; charset=utf-8";
  } else if (reply.text !== undefined) {
    payload = reply.text;
    headers["content-type"] = "text/plain; charset=utf-8";
  }
  if (payload !== undefined) headers["content-length"] = String(Buffer.byteLength(payload));
  res.writeHead(reply.status, headers);
  res.end(payload);
}

/** The REST API on plain node:http: routing, token auth for scoped routes, bounded JSON bodies, JSON errors. */
export async function startRestServer(options: RestServerOptions): Promise<RestServer> {
  const { router, logger } = options;

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const started = Date.now();
    let reply: Reply;
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? "/", "http://manager");
      } catch {
        throw new ManagerError("invalid", "malformed request URL");
      }
      const method = req.method === "HEAD" ? "GET" : (req.method ?? "GET");
      let match: ReturnType<Router["match"]>;
      try {
        match = router.match(method, url.pathname);
      } catch {
        throw new ManagerError("invalid", `malformed path ${url.pathname}`);
      }
      if (match.kind === "none") throw new ManagerError("not_found", `no route for ${req.method} ${url.pathname}`);
      if (match.kind === "wrong-method") {
        res.setHeader("allow", match.allow.join(", "));
        throw new ManagerError(
          "method_not_allowed",
          `${req.method} is not allowed on ${url.pathname} (allowed: ${match.allow.join(", ")})`,
        );
      }
      const { route, params } = match;
      if (route.scope) await authenticate(options.tokens, req.headers, url.searchParams, route.scope);
      let body: Promise<unknown> | undefined;
      reply = await route.handler({
        method,
        url,
        params,
        headers: req.headers,
        body: () => {
          body ??= readJsonBody(req, options.bodyLimitBytes);
          return body;
        },
      });
    } catch (error) {
      const status = httpStatusOf(error);
      const internal = status >= 500 && !(error instanceof ManagerError);
      if (internal) logger.error({ err: error, method: req.method, path: req.url }, "request failed");
      const headers: Record<string, string> = {};
      if (status === 401) headers["www-authenticate"] = 'Bearer realm="d7y-manager"';
      // The rest of a too-large body is not read: the connection closes after the answer.
      if (status === 413) headers.connection = "close";
      reply = {
        status,
        body: { message: internal ? "internal server error" : (error as Error).message },
        headers,
      };
    }
    if (!res.headersSent) send(res, reply);
    logger.debug({ method: req.method, path: req.url, status: reply.status, ms: Date.now() - started }, "request");
  };

  const server = http.createServer((req, res) => {
    // One span per REST request; a preheat job created by it continues its trace.
    void inSpan(
      TRACER,
      `${req.method} ${(req.url ?? "/").split("?")[0]}`,
      {
        kind: SpanKind.SERVER,
        parent: contextFromHeaders(req.headers),
        attributes: { "http.url": req.url ?? "", "http.method": req.method ?? "" },
      },
      async (span) => {
        await handle(req, res).catch((error: unknown) => {
          logger.error({ err: error }, "answering a request failed");
          res.destroy();
        });
        span.setAttribute("http.status_code", res.statusCode);
      },
    );
  });
  // A body announced too large is refused before the client sends it (no 100 Continue).
  server.on("checkContinue", (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (Number(req.headers["content-length"]) > options.bodyLimitBytes) {
      const message = `the request body is larger than ${options.bodyLimitBytes} bytes`;
      send(res, { status: 413, body: { message }, headers: { connection: "close" } });
      return;
    }
    res.writeContinue();
    server.emit("request", req, res);
  });
  await listen(server, options.port, options.host);
  return {
    port: (server.address() as AddressInfo).port,
    close: () => closeServer(server),
  };
}
