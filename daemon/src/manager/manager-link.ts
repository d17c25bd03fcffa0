import type { Client } from "@connectrpc/connect";
import type { Logger } from "@d7y/observability";
import { ManagerService, SourceType } from "@d7y/proto/manager/v1";
import { createRpcClient, every, keepRunning } from "@d7y/rpc";
import type { HostIdentity } from "../scheduler/scheduler-client.js";

export interface ManagerLinkOptions {
  manager: string;
  clusterId: number;
  identity: () => HostIdentity;
  keepAliveIntervalMs: number;
  /** How often the cluster's schedulers are read (Dragonfly's dynconfig refresh). */
  refreshMs: number;
  /** Configured scheduler addresses: used while the manager knows none or cannot be reached. */
  staticSchedulers: string[];
  onSchedulers: (addresses: string[]) => void;
  logger: Logger;
}

/**
 * The daemon's link to the manager: reads the cluster's active schedulers periodically (static
 * addresses stay the fallback), and a seed peer registers itself and keeps a heartbeat open so
 * preheat jobs can find it. Everything retries in the background; the daemon never waits for it.
 */
export class ManagerLink {
  private readonly client: Client<typeof ManagerService>;
  private readonly abort = new AbortController();
  private loops: Promise<unknown>[] = [];

  constructor(private readonly options: ManagerLinkOptions) {
    this.client = createRpcClient(ManagerService, options.manager);
  }

  start(): void {
    const { options } = this;
    const warn = (what: string) => (error: unknown) =>
      options.logger.warn({ manager: options.manager, err: (error as Error).message }, what);
    this.loops.push(
      keepRunning(
        async (signal) => {
          for await (const _ of every(options.refreshMs, signal, () => undefined)) {
            const identity = options.identity();
            const { schedulers } = await this.client.listSchedulers(
              {
                hostname: identity.hostname,
                ip: identity.ip,
                idc: identity.idc,
                location: identity.location,
                clusterId: BigInt(options.clusterId),
              },
              { signal, timeoutMs: 10_000 },
            );
            const addresses = schedulers.map((s) => `http://${s.ip.includes(":") ? `[${s.ip}]` : s.ip}:${s.port}`);
            options.onSchedulers(addresses.length > 0 ? addresses : options.staticSchedulers);
          }
        },
        options.refreshMs,
        this.abort.signal,
        (error) => {
          options.onSchedulers(options.staticSchedulers);
          warn("reading the schedulers from the manager failed; using the configured ones")(error);
        },
      ),
    );
    if (options.identity().seed) {
      this.loops.push(
        keepRunning(
          async (signal) => {
            const identity = options.identity();
            const base = { hostname: identity.hostname, ip: identity.ip, clusterId: BigInt(options.clusterId) };
            await this.client.updateSeedPeer(
              {
                ...base,
                port: identity.apiPort,
                downloadPort: identity.uploadPort,
                idc: identity.idc,
                location: identity.location,
                hostId: identity.id,
              },
              { signal, timeoutMs: 10_000 },
            );
            options.logger.info({ manager: options.manager }, "seed peer registered with the manager");
            await this.client.keepAlive(
              every(options.keepAliveIntervalMs, signal, () => ({
                sourceType: SourceType.SEED_PEER,
                ...base,
                port: identity.apiPort,
              })),
              { signal },
            );
          },
          options.keepAliveIntervalMs,
          this.abort.signal,
          warn("seed peer keepalive failed; retrying"),
        ),
      );
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.loops);
  }
}
