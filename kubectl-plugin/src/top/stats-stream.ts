import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ManagerService } from "@d7y/proto/manager/v1";
import type { ClusterStats } from "@d7y/proto/scheduler/v1";
import { UserError } from "../services/errors.js";

/** The manager's Connect/gRPC port (Dragonfly's 65003). */
export const DEFAULT_MANAGER_RPC_PORT = 65003;
const RETRY_MS = 1_000;

/** `--manager-rpc`, else the REST URL's host on port 65003. */
export function managerRpcUrl(restUrl: string | undefined, rpcUrl: string | undefined): string {
  const base = rpcUrl ?? restUrl;
  if (!base) throw new UserError("top needs --manager URL or --manager-rpc URL");
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new UserError(`invalid manager URL: ${base}`);
  }
  if (!rpcUrl) url.port = String(DEFAULT_MANAGER_RPC_PORT);
  return url.origin;
}

export type StatsEvent = { kind: "stats"; stats: ClusterStats } | { kind: "status"; status: string };

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * The manager's WatchClusterStats stream (Connect over HTTP/1.1), reopened a second after it ends or fails,
 * until the signal aborts. Yields snapshots and connection status lines.
 */
export async function* watchClusterStats(
  baseUrl: string,
  intervalMs: number,
  signal: AbortSignal,
): AsyncGenerator<StatsEvent> {
  const client = createClient(ManagerService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
  while (!signal.aborted) {
    yield { kind: "status", status: `connecting to ${baseUrl}` };
    try {
      let first = true;
      for await (const stats of client.watchClusterStats({ intervalMs }, { signal })) {
        if (first) yield { kind: "status", status: "" };
        first = false;
        yield { kind: "stats", stats };
      }
    } catch (error) {
      if (signal.aborted) return;
      yield { kind: "status", status: `reconnecting: ${error instanceof Error ? error.message : String(error)}` };
    }
    await pause(RETRY_MS, signal);
  }
}
