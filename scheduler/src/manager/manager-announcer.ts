import { hostname, networkInterfaces } from "node:os";
import type { Client } from "@connectrpc/connect";
import type { Logger } from "@d7y/observability";
import { type ClusterConfig, ManagerService, SourceType } from "@d7y/proto/manager/v1";
import { createRpcClient, every, keepRunning } from "@d7y/rpc";

export interface ManagerAnnouncerOptions {
  manager: string;
  clusterId: number;
  ip: string;
  port: () => number;
  keepAliveIntervalMs: number;
  configRefreshMs: number;
  applyConfig: (config: ClusterConfig) => void;
  logger: Logger;
}

/** The address to announce: the listen address unless it is a wildcard, else the first non-loopback IPv4. */
export function advertisedIp(listenHost: string): string {
  if (listenHost !== "0.0.0.0" && listenHost !== "::") return listenHost;
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === "IPv4" && !address.internal) return address.address;
  }
  return "127.0.0.1";
}

/**
 * Registers this scheduler with the manager, keeps a heartbeat stream open (re-registering after the
 * manager restarts), and applies the cluster's dynamic config as it changes. The scheduler works the
 * same without a manager: everything here is retried in the background and never blocks start.
 */
export class ManagerAnnouncer {
  private readonly client: Client<typeof ManagerService>;
  private readonly abort = new AbortController();
  private loops: Promise<unknown>[] = [];

  constructor(private readonly options: ManagerAnnouncerOptions) {
    this.client = createRpcClient(ManagerService, options.manager);
  }

  start(): void {
    const { options } = this;
    const identity = { hostname: hostname(), ip: options.ip, clusterId: BigInt(options.clusterId) };
    const warn = (what: string) => (error: unknown) =>
      options.logger.warn({ manager: options.manager, err: (error as Error).message }, what);
    this.loops = [
      keepRunning(
        async (signal) => {
          const registered = await this.client.updateScheduler(
            { ...identity, port: options.port(), features: ["schedule", "preheat"] },
            { signal, timeoutMs: 10_000 },
          );
          if (registered.config) options.applyConfig(registered.config);
          options.logger.info({ manager: options.manager, id: String(registered.id) }, "registered with the manager");
          await this.client.keepAlive(
            every(options.keepAliveIntervalMs, signal, () => ({
              sourceType: SourceType.SCHEDULER,
              ...identity,
              port: options.port(),
            })),
            { signal },
          );
        },
        options.keepAliveIntervalMs,
        this.abort.signal,
        warn("manager keepalive failed; retrying"),
      ),
      keepRunning(
        async (signal) => {
          for await (const _ of every(options.configRefreshMs, signal, () => undefined)) {
            options.applyConfig(
              await this.client.getClusterConfig({ clusterId: identity.clusterId }, { signal, timeoutMs: 10_000 }),
            );
          }
        },
        options.configRefreshMs,
        this.abort.signal,
        warn("reading the cluster config failed; retrying"),
      ),
    ];
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.loops);
  }
}
