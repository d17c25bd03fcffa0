import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { type Logger, traceHeaders } from "@d7y/observability";
import { HashRing } from "@d7y/proto";
import { HostSchema, HostType } from "@d7y/proto/common/v1";
import { type HostTask, SchedulerService } from "@d7y/proto/scheduler/v1";
import { createRpcClient } from "@d7y/rpc";
import { PeerSession } from "./peer-session.js";

export interface HostIdentity {
  id: string;
  seed: boolean;
  hostname: string;
  ip: string;
  apiPort: number;
  uploadPort: number;
  proxyPort: number;
  idc: string;
  location: string;
  uploadLimit: number;
}

export interface SchedulerClientOptions {
  addresses: string[];
  identity: () => HostIdentity;
  logger: Logger;
  announceIntervalMs: number;
  /** Complete tasks this host can serve, announced so a restarted scheduler relearns them. */
  completeTasks: () => Promise<Array<Omit<HostTask, "$typeName" | "$unknown">>>;
  uploadInFlight: () => number;
  diskUsed: () => number;
  diskQuota: number;
}

/** Complete tasks announced at most (the most recently used); beyond it the list is not the full set. */
export const MAX_ANNOUNCED_TASKS = 1000;

/** How long a scheduler that refused a connection is skipped for new tasks. */
const DOWN_FOR_MS = 5_000;

/** The daemon's side of the schedulers: host announces to all, one AnnouncePeer stream per task on the task's scheduler. */
export class SchedulerClient {
  private clients = new Map<string, Client<typeof SchedulerService>>();
  private ring: HashRing;
  private readonly downUntil = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private readonly log: Logger;

  constructor(private readonly options: SchedulerClientOptions) {
    this.ring = new HashRing([]);
    this.setAddresses(options.addresses);
    this.log = options.logger.child({ component: "scheduler-client" });
  }

  get enabled(): boolean {
    return this.clients.size > 0;
  }

  get addresses(): string[] {
    return [...this.clients.keys()];
  }

  /** Replaces the schedulers (from the manager); tasks re-map by consistent hashing. */
  setAddresses(addresses: string[]): void {
    const next = new Map<string, Client<typeof SchedulerService>>();
    for (const address of new Set(addresses)) {
      next.set(address, this.clients.get(address) ?? createRpcClient(SchedulerService, address));
    }
    const changed = next.size !== this.clients.size || [...next.keys()].some((address) => !this.clients.has(address));
    this.clients = next;
    this.ring = new HashRing(next.keys());
    if (changed && this.log) {
      this.log.info({ schedulers: [...next.keys()] }, "schedulers changed");
      void this.announce();
    }
  }

  start(): void {
    void this.announce();
    this.timer = setInterval(() => void this.announce(), this.options.announceIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    const hostId = this.options.identity().id;
    await Promise.allSettled(
      [...this.clients.values()].map((client) => client.leaveHost({ hostId }, { timeoutMs: 2000 })),
    );
  }

  /** Announces this host (load, complete tasks) to every scheduler; failures are logged, never thrown. */
  async announce(): Promise<void> {
    if (!this.enabled) return;
    const identity = this.options.identity();
    const host = create(HostSchema, {
      id: identity.id,
      type: identity.seed ? HostType.SEED : HostType.NORMAL,
      hostname: identity.hostname,
      ip: identity.ip,
      port: identity.apiPort,
      downloadPort: identity.uploadPort,
      proxyPort: identity.proxyPort,
      idc: identity.idc,
      location: identity.location,
      uploadLimit: identity.uploadLimit,
      uploadInFlight: this.options.uploadInFlight(),
      diskUsedBytes: BigInt(this.options.diskUsed()),
      diskQuotaBytes: BigInt(this.options.diskQuota),
    });
    const all = await this.options.completeTasks().catch(() => undefined);
    // Without the full list (failed to read it, or more than the announce carries), nothing is dropped.
    const truncated = all === undefined || all.length >= MAX_ANNOUNCED_TASKS;
    await Promise.all(
      [...this.clients].map(async ([address, client]) => {
        // Each scheduler hears only of the tasks it owns (the first live one on the task's ring walk).
        const tasks = (all ?? []).filter((task) => this.schedulersFor(task.taskId)[0] === address);
        try {
          await client.announceHost(
            { host, intervalMs: BigInt(this.options.announceIntervalMs), tasks, tasksComplete: !truncated },
            { timeoutMs: 5000 },
          );
          this.downUntil.delete(address);
        } catch (error) {
          this.downUntil.set(address, Date.now() + DOWN_FOR_MS);
          this.log.debug({ scheduler: address, err: (error as Error).message }, "host announce failed");
        }
      }),
    );
  }

  /** Schedulers for a task: the ring's owner first, then the fallbacks, skipping ones known to be down. */
  schedulersFor(taskId: string): string[] {
    const now = Date.now();
    const order = this.ring.walk(taskId);
    const up = order.filter((address) => (this.downUntil.get(address) ?? 0) <= now);
    return up.length > 0 ? up : order;
  }

  /** Opens an AnnouncePeer stream on one scheduler. */
  openPeer(address: string, taskId: string): PeerSession {
    const client = this.clients.get(address);
    if (!client) throw new Error(`unknown scheduler ${address}`);
    const identity = this.options.identity();
    const session = new PeerSession(
      address,
      identity.id,
      taskId,
      `${identity.id}-${taskId.slice(0, 12)}-${randomUUID().slice(0, 8)}`,
    );
    // The stream carries the trace context: the scheduler's work for this peer joins the pull's trace.
    const responses = client.announcePeer(session.requests(), { signal: session.signal, headers: traceHeaders() });
    void session.consume(responses);
    return session;
  }

  markDown(address: string): void {
    this.downUntil.set(address, Date.now() + DOWN_FOR_MS);
  }
}
