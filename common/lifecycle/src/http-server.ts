import type { Server } from "node:net";

/** Listens on host:port; rejects (EADDRINUSE...) instead of emitting an unhandled error. */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Stops accepting and drops open connections (keep-alive ones included), then resolves. */
export function close(server: Server & { closeAllConnections?: () => void }): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}
