import { createHash } from "node:crypto";

export const DEFAULT_VIRTUAL_NODES = 160;

function point(key: string): number {
  return createHash("sha256").update(key).digest().readUInt32BE(0);
}

/**
 * Consistent hashing with virtual nodes: maps a key (a task id) to one of the members (scheduler
 * addresses, seed hosts) so that every daemon and scheduler computing it with the same members gets
 * the same answer, and adding or removing a member moves only the keys that were its own.
 */
export class HashRing {
  private readonly points: Array<{ at: number; member: string }> = [];
  /** The distinct members, sorted. */
  readonly members: readonly string[];

  constructor(
    members: Iterable<string>,
    private readonly replicas = DEFAULT_VIRTUAL_NODES,
  ) {
    if (!Number.isInteger(replicas) || replicas < 1)
      throw new RangeError(`virtual nodes must be a positive integer (got ${replicas})`);
    this.members = [...new Set(members)].sort();
    for (const member of this.members) {
      for (let i = 0; i < this.replicas; i++) this.points.push({ at: point(`${member}#${i}`), member });
    }
    this.points.sort((a, b) => a.at - b.at || (a.member < b.member ? -1 : 1));
  }

  get size(): number {
    return this.points.length / this.replicas;
  }

  /** The member owning key, or undefined for an empty ring. */
  get(key: string): string | undefined {
    return this.walk(key)[0];
  }

  /** Distinct members in ring order starting at key's owner (the owner first, then fallbacks). */
  walk(key: string): string[] {
    if (this.points.length === 0) return [];
    const at = point(key);
    let low = 0;
    let high = this.points.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.points[mid]!.at < at) low = mid + 1;
      else high = mid;
    }
    const order: string[] = [];
    for (let i = 0; i < this.points.length && order.length < this.size; i++) {
      const member = this.points[(low + i) % this.points.length]!.member;
      if (!order.includes(member)) order.push(member);
    }
    return order;
  }
}
