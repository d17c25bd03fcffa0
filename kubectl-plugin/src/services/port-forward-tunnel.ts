import net from "node:net";
import { type KubeConfig, PortForward } from "@kubernetes/client-node";
import type { ManagerPod } from "./manager-discovery.js";

export interface Tunnel {
  /** http://127.0.0.1:<ephemeral port>, forwarded to the pod's port. */
  readonly url: string;
  close(): Promise<void>;
}

interface ClosableSocket {
  close(): void;
  on?(event: "close", listener: () => void): void;
  addEventListener?(event: "close", listener: () => void): void;
}

/** Like `kubectl port-forward`: a loopback listener whose every connection is one port-forward websocket. */
export async function openTunnel(config: KubeConfig, target: ManagerPod): Promise<Tunnel> {
  const forward = new PortForward(config);
  const sockets = new Set<ClosableSocket>();
  const connections = new Set<net.Socket>();
  const server = net.createServer((connection) => {
    connections.add(connection);
    connection.on("close", () => connections.delete(connection));
    connection.on("error", () => connection.destroy());
    forward
      .portForward(target.namespace, target.pod, [target.port], connection, null, connection)
      .then((opened) => {
        const ws = (typeof opened === "function" ? opened() : opened) as unknown as ClosableSocket | null;
        if (!ws) {
          connection.destroy();
          return;
        }
        sockets.add(ws);
        const ended = () => {
          sockets.delete(ws);
          connection.destroy();
        };
        if (ws.addEventListener) ws.addEventListener("close", ended);
        else ws.on?.("close", ended);
        connection.on("close", () => ws.close());
      })
      .catch(() => connection.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const ws of sockets) ws.close();
      sockets.clear();
      for (const connection of connections) connection.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
