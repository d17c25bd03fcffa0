import type { Logger } from "@d7y/observability";
import { ManagerError } from "../errors.js";
import type { ManagerDatabase } from "../storage/manager-database.js";
import { idKey, type RecordTable } from "../storage/record-table.js";
import type { InstanceState, SchedulerRecord, SeedPeerRecord } from "../storage/records.js";
import { SerialQueue } from "./serial-queue.js";

export type InstanceKind = "scheduler" | "seed-peer";

/** Identity of an instance: one row per (cluster, hostname, ip, port): several may share a machine. */
export interface InstanceIdentity {
  clusterId: number;
  hostname: string;
  ip: string;
  port: number;
}

export interface SchedulerInput extends InstanceIdentity {
  idc: string;
  location: string;
  features: string[];
}

export interface SeedPeerInput extends InstanceIdentity {
  downloadPort: number;
  idc: string;
  location: string;
  hostId: string;
}

/** A live keepalive stream: every message touches it; its end (or close) ends it. */
export interface KeepAliveSession {
  /** A message arrived: the instance is (again) active, and the silence timer restarts. */
  touch(): void;
  end(): Promise<void>;
}

/** Features of a scheduler that registered without any (Dragonfly's defaults). */
export const DEFAULT_SCHEDULER_FEATURES = ["schedule", "preheat"];

function instanceKey(identity: InstanceIdentity): string {
  return `${idKey(identity.clusterId)}/${identity.hostname}/${identity.ip}/${identity.port}`;
}

/**
 * Schedulers and seed peers of every cluster: upserted by UpdateScheduler/UpdateSeedPeer, "active" while a
 * KeepAlive stream of theirs lives. After a restart every instance is inactive until it keeps alive again.
 */
export class InstanceRegistry {
  private readonly updates = new SerialQueue();
  /** The newest keepalive stream of each instance: only its end marks the instance inactive. */
  private readonly streams = new Map<string, number>();
  private streamCount = 0;
  private closed = false;
  /** Silence timers of the open streams, cleared by close(). */
  private readonly timers = new Set<NodeJS.Timeout>();

  /**
   * @param silenceMs a stream without a message for this long marks its instance inactive (a peer that died
   *   without closing its connection); the next message makes it active again.
   */
  constructor(
    private readonly db: ManagerDatabase,
    private readonly now: () => number,
    private readonly logger: Logger,
    private readonly silenceMs: number,
  ) {}

  /** No keepalive stream survives a restart: every instance starts inactive. */
  async resetStates(): Promise<void> {
    const tables = [this.db.schedulers, this.db.seedPeers] as Array<RecordTable<SchedulerRecord | SeedPeerRecord>>;
    for (const table of tables) {
      for (const record of await table.all()) {
        if (record.state !== "inactive") await table.put(instanceKey(record), { ...record, state: "inactive" });
      }
    }
  }

  upsertScheduler(input: SchedulerInput): Promise<SchedulerRecord> {
    const key = instanceKey(input);
    return this.updates.run(`scheduler:${key}`, async () => {
      const existing = await this.db.schedulers.get(key);
      const at = this.timestamp();
      const record: SchedulerRecord = {
        id: existing?.id ?? (await this.db.nextId("schedulers")),
        hostname: input.hostname,
        ip: input.ip,
        port: input.port,
        idc: input.idc,
        location: input.location,
        clusterId: input.clusterId,
        state: existing?.state ?? "inactive",
        features: input.features.length > 0 ? input.features : [...DEFAULT_SCHEDULER_FEATURES],
        createdAt: existing?.createdAt ?? at,
        updatedAt: at,
      };
      await this.db.schedulers.put(key, record);
      return record;
    });
  }

  upsertSeedPeer(input: SeedPeerInput): Promise<SeedPeerRecord> {
    const key = instanceKey(input);
    return this.updates.run(`seed-peer:${key}`, async () => {
      const existing = await this.db.seedPeers.get(key);
      const at = this.timestamp();
      const record: SeedPeerRecord = {
        id: existing?.id ?? (await this.db.nextId("seed-peers")),
        hostname: input.hostname,
        ip: input.ip,
        port: input.port,
        downloadPort: input.downloadPort,
        idc: input.idc,
        location: input.location,
        clusterId: input.clusterId,
        state: existing?.state ?? "inactive",
        hostId: input.hostId,
        createdAt: existing?.createdAt ?? at,
        updatedAt: at,
      };
      await this.db.seedPeers.put(key, record);
      return record;
    });
  }

  /**
   * A keepalive stream's first message: marks the instance active. The session's touch() is called on every
   * later message and end() when the stream ends or fails; end() marks the instance inactive unless a newer
   * stream of the same instance is open.
   */
  async beginKeepAlive(kind: InstanceKind, identity: InstanceIdentity): Promise<KeepAliveSession> {
    const key = `${kind}:${instanceKey(identity)}`;
    const stream = ++this.streamCount;
    this.streams.set(key, stream);
    const found = await this.setState(kind, identity, "active");
    if (!found) {
      if (this.streams.get(key) === stream) this.streams.delete(key);
      const call = kind === "scheduler" ? "UpdateScheduler" : "UpdateSeedPeer";
      throw new ManagerError(
        "not_found",
        `${kind} ${identity.hostname} (${identity.ip}) of cluster ${identity.clusterId} is not registered: call ${call} first`,
      );
    }
    this.logger.info({ kind, ...identity }, "instance active");
    const current = () => !this.closed && this.streams.get(key) === stream;
    const mark = (state: InstanceState, reason: string) =>
      this.setState(kind, identity, state).then(
        () => this.logger.info({ kind, ...identity, reason }, `instance ${state}`),
        (error: unknown) => this.logger.warn({ err: error, kind, ...identity }, `could not mark instance ${state}`),
      );
    let silent = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      if (timer) this.timers.delete(timer);
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (!current()) return;
        silent = true;
        void mark("inactive", `no keepalive for ${this.silenceMs}ms`);
      }, this.silenceMs);
      timer.unref();
      this.timers.add(timer);
    };
    arm();
    return {
      touch: () => {
        if (!current()) return;
        if (silent) {
          silent = false;
          void mark("active", "keepalive resumed");
        }
        arm();
      },
      end: async () => {
        if (timer) this.timers.delete(timer);
        clearTimeout(timer);
        // After close() the database is going away; every instance starts inactive at the next start anyway.
        if (!current()) return;
        this.streams.delete(key);
        await mark("inactive", "keepalive stream ended");
      },
    };
  }

  /** Schedulers of a cluster (or of every cluster), optionally only the active ones. */
  async listSchedulers(filter: { clusterId?: number; activeOnly?: boolean } = {}): Promise<SchedulerRecord[]> {
    return this.filtered(this.db.schedulers, filter);
  }

  async listSeedPeers(filter: { clusterId?: number; activeOnly?: boolean } = {}): Promise<SeedPeerRecord[]> {
    return this.filtered(this.db.seedPeers, filter);
  }

  /** Stops recording state changes and waits for the writes in flight. */
  close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    return this.updates.settle();
  }

  private async filtered<T extends SchedulerRecord | SeedPeerRecord>(
    table: RecordTable<T>,
    filter: { clusterId?: number; activeOnly?: boolean },
  ): Promise<T[]> {
    const prefix = filter.clusterId === undefined ? undefined : `${idKey(filter.clusterId)}/`;
    const records = await table.all(prefix === undefined ? {} : { prefix });
    return records.filter((record) => !filter.activeOnly || record.state === "active").sort((a, b) => a.id - b.id);
  }

  private setState(kind: InstanceKind, identity: InstanceIdentity, state: InstanceState): Promise<boolean> {
    const key = instanceKey(identity);
    const table = (kind === "scheduler" ? this.db.schedulers : this.db.seedPeers) as RecordTable<
      SchedulerRecord | SeedPeerRecord
    >;
    return this.updates.run(`${kind}:${key}`, async () => {
      const record = await table.get(key);
      if (!record) return false;
      if (record.state !== state) await table.put(key, { ...record, state, updatedAt: this.timestamp() });
      return true;
    });
  }

  private timestamp(): string {
    return new Date(this.now()).toISOString();
  }
}
