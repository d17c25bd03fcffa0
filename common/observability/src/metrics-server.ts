import http from "node:http";
import type { AddressInfo } from "node:net";
import { type Component, closeServer, listen } from "@d7y/lifecycle";
import type { Registry } from "prom-client";

export interface MetricsServerOptions {
  registry: Registry;
  host: string;
  /** 0 picks a free port. */
  port: number;
}

export interface MetricsServer {
  readonly port: number;
  /** http://host:port/metrics (loopback when listening on every address). */
  readonly url: string;
  close(): Promise<void>;
}

/** Serves `GET /metrics` in the Prometheus text format; anything else is 404. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { registry } = options;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: metrics are at GET /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { "content-type": registry.contentType, "content-length": Buffer.byteLength(text) });
        res.end(req.method === "HEAD" ? undefined : text);
      },
      (error: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" }).end(`collecting metrics failed: ${String(error)}\n`);
      },
    );
  });
  server.on("clientError", (_error, socket) => socket.destroy());
  await listen(server, options.port, options.host);
  const port = (server.address() as AddressInfo).port;
  const host = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  return {
    port,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}/metrics`,
    close: () => closeServer(server),
  };
}

/** The metrics server as a supervised component (`name` "metrics"); `url` and `port` are known once started. */
export class MetricsEndpoint implements Component {
  readonly name = "metrics";
  private server: MetricsServer | undefined;

  constructor(private readonly options: MetricsServerOptions) {}

  get url(): string | undefined {
    return this.server?.url;
  }

  get port(): number | undefined {
    return this.server?.port;
  }

  async start(): Promise<void> {
    this.server ??= await startMetricsServer(this.options);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.close();
  }
}
