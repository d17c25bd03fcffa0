import { mkdir } from "node:fs/promises";
import { Level } from "level";
import { ManagerError } from "../errors.js";
import { RecordTable } from "./record-table.js";
import type { ClusterRecord, JobRecord, SchedulerRecord, SeedPeerRecord, TokenRecord } from "./records.js";

/** Record kinds that get numeric ids from the counters namespace. */
export type CountedKind = "clusters" | "schedulers" | "seed-peers" | "jobs" | "tokens";

/**
 * The manager's embedded LevelDB, one typed namespace per record kind plus `counters` (the last id given
 * to each kind). LevelDB is single-process: a second opener (another manager, `token create`) fails with
 * a ManagerError("unavailable") naming the directory.
 */
export class ManagerDatabase {
  private readonly db: Level<string, string>;
  readonly clusters: RecordTable<ClusterRecord>;
  readonly schedulers: RecordTable<SchedulerRecord>;
  readonly seedPeers: RecordTable<SeedPeerRecord>;
  readonly jobs: RecordTable<JobRecord>;
  readonly tokens: RecordTable<TokenRecord>;
  private readonly counters: RecordTable<number>;
  private readonly lastIds = new Map<CountedKind, number>();

  constructor(readonly path: string) {
    this.db = new Level<string, string>(path);
    const json = { valueEncoding: "json" } as const;
    this.clusters = new RecordTable<ClusterRecord>(this.db.sublevel<string, ClusterRecord>("clusters", json));
    this.schedulers = new RecordTable<SchedulerRecord>(this.db.sublevel<string, SchedulerRecord>("schedulers", json));
    this.seedPeers = new RecordTable<SeedPeerRecord>(this.db.sublevel<string, SeedPeerRecord>("seed-peers", json));
    this.jobs = new RecordTable<JobRecord>(this.db.sublevel<string, JobRecord>("jobs", json));
    this.tokens = new RecordTable<TokenRecord>(this.db.sublevel<string, TokenRecord>("tokens", json));
    this.counters = new RecordTable<number>(this.db.sublevel<string, number>("counters", json));
  }

  async open(): Promise<void> {
    await mkdir(this.path, { recursive: true });
    try {
      await this.db.open();
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      if (cause?.code === "LEVEL_LOCKED") {
        throw new ManagerError(
          "unavailable",
          `the data dir ${this.path} is in use by another process (is d7y-manager running? stop it, or pass --manager URL)`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  close(): Promise<void> {
    return this.db.close();
  }

  /** The next id of a kind, persisted before it is returned (ids are never reused). */
  async nextId(kind: CountedKind): Promise<number> {
    let last = this.lastIds.get(kind);
    if (last === undefined) last = (await this.counters.get(kind)) ?? 0;
    // Re-read after the await: another call may have allocated meanwhile.
    const id = Math.max(last, this.lastIds.get(kind) ?? 0) + 1;
    this.lastIds.set(kind, id);
    await this.counters.put(kind, id);
    return id;
  }
}
