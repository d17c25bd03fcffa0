import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

export interface RpcServerOptions {
  host: string;
  port: number;
  routes: (router: ConnectRouter) => void;
  interceptors?: Interceptor[];
  /** Extra plain HTTP handler for paths that are not RPCs (health, metrics). Return false to fall through. */
  fallback?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export interface RpcServer {
  readonly port: number;
  readonly address: string;
  close(): Promise<void>;
}

const HTTP2_PREFACE = "PRI * HTTP/2.0";

/**
 * One cleartext port serving Connect, gRPC and gRPC-Web: HTTP/2 with prior knowledge (gRPC clients)
 * and HTTP/1.1 (Connect and gRPC-Web from curl or browsers), told apart by the connection preface.
 */
export async function startRpcServer(options: RpcServerOptions): Promise<RpcServer> {
  const adapter = connectNodeAdapter({
    routes: options.routes,
    interceptors: options.interceptors ?? [],
    fallback: (req, res) => {
      if (options.fallback?.(req as http.IncomingMessage, res as unknown as http.ServerResponse)) return;
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ code: "not_found", message: `no route for ${req.method} ${req.url}` }));
    },
  });
  const h2 = http2.createServer({}, adapter);
  const h1 = http.createServer(adapter);
  const sockets = new Set<net.Socket>();
  const front = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.once("readable", () => {
      const head: Buffer | null = socket.read(HTTP2_PREFACE.length) ?? socket.read();
      if (head === null) {
        socket.once("readable", () => socket.destroy());
        return;
      }
      socket.unshift(head);
      const target = head.toString("latin1").startsWith(HTTP2_PREFACE.slice(0, head.length)) ? h2 : h1;
      target.emit("connection", socket);
    });
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen(options.port, options.host, () => {
      front.off("error", reject);
      resolve();
    });
  });
  const address = front.address() as net.AddressInfo;
  return {
    port: address.port,
    address: `${address.address}:${address.port}`,
    close: async () => {
      await new Promise<void>((resolve) => {
        front.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        h1.closeAllConnections();
      });
    },
  };
}
