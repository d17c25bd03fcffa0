import { DEFAULT_CLUSTER } from "../config.js";
import { ManagerError, notFound } from "../errors.js";
import type { ManagerDatabase } from "../storage/manager-database.js";
import { idKey } from "../storage/record-table.js";
import type { ClusterConfig, ClusterRecord } from "../storage/records.js";
import { SerialQueue } from "./serial-queue.js";

export interface ClusterInput {
  name: string;
  bio?: string;
  config?: Partial<ClusterConfig>;
}

export interface ClusterPatch {
  name?: string;
  bio?: string;
  config?: Partial<ClusterConfig>;
}

/** Cluster 0 in requests means the default cluster. */
export function resolveClusterId(id: number | bigint): number {
  const number = Number(id);
  return number === 0 ? DEFAULT_CLUSTER.id : number;
}

/** The clusters table: the default cluster (id 1) exists from the first start. */
export class Clusters {
  private readonly updates = new SerialQueue();

  constructor(
    private readonly db: ManagerDatabase,
    private readonly now: () => number,
  ) {}

  /** Creates the default cluster on the first start. */
  async ensureDefault(): Promise<void> {
    if (await this.db.clusters.get(idKey(DEFAULT_CLUSTER.id))) return;
    const at = new Date(this.now()).toISOString();
    await this.db.clusters.put(idKey(DEFAULT_CLUSTER.id), {
      id: DEFAULT_CLUSTER.id,
      name: DEFAULT_CLUSTER.name,
      bio: DEFAULT_CLUSTER.bio,
      isDefault: true,
      config: { ...DEFAULT_CLUSTER.config },
      createdAt: at,
      updatedAt: at,
    });
    // A fresh database: the counter moves to 1, so later clusters get ids after the default one.
    await this.db.nextId("clusters");
  }

  get(id: number): Promise<ClusterRecord | undefined> {
    return this.db.clusters.get(idKey(id));
  }

  /** The cluster, or a not_found error naming it. */
  async require(id: number): Promise<ClusterRecord> {
    const cluster = await this.get(id);
    if (!cluster) throw notFound(`cluster ${id} not found`);
    return cluster;
  }

  list(): Promise<ClusterRecord[]> {
    return this.db.clusters.all();
  }

  async create(input: ClusterInput): Promise<ClusterRecord> {
    await this.assertNameFree(input.name);
    const id = await this.db.nextId("clusters");
    const at = new Date(this.now()).toISOString();
    const cluster: ClusterRecord = {
      id,
      name: input.name,
      bio: input.bio ?? "",
      isDefault: false,
      config: { ...DEFAULT_CLUSTER.config, ...input.config },
      createdAt: at,
      updatedAt: at,
    };
    await this.db.clusters.put(idKey(id), cluster);
    return cluster;
  }

  update(id: number, patch: ClusterPatch): Promise<ClusterRecord> {
    return this.updates.run(String(id), async () => {
      const cluster = await this.require(id);
      if (patch.name !== undefined && patch.name !== cluster.name) await this.assertNameFree(patch.name);
      const updated: ClusterRecord = {
        ...cluster,
        name: patch.name ?? cluster.name,
        bio: patch.bio ?? cluster.bio,
        config: { ...cluster.config, ...patch.config },
        updatedAt: new Date(this.now()).toISOString(),
      };
      await this.db.clusters.put(idKey(id), updated);
      return updated;
    });
  }

  settle(): Promise<void> {
    return this.updates.settle();
  }

  private async assertNameFree(name: string): Promise<void> {
    const clusters = await this.list();
    if (clusters.some((cluster) => cluster.name === name)) {
      throw new ManagerError("conflict", `cluster name "${name}" is already taken`);
    }
  }
}
