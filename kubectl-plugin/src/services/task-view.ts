/** `GET /api/v1/tasks/:id` of the manager: a task as its schedulers know it. */
export interface TaskPeer {
  host_id: string;
  hostname: string;
  ip: string;
  state: string;
  finished_pieces: number[];
  /** Piece number -> host id it came from ("" for the origin). */
  piece_parents: Record<string, string>;
  bytes_from_peers: number;
  bytes_from_source: number;
}

export interface TaskView {
  id: string;
  url: string;
  digest: string;
  content_length: number;
  piece_count: number;
  peers: TaskPeer[];
}

const DIGEST = /^(?:sha256:)?([a-f0-9]{64})$/;

/** `sha256:<hex>` for a blob digest given as `sha256:<hex>` or bare hex; undefined for anything else. */
export function blobDigest(argument: string): string | undefined {
  const match = DIGEST.exec(argument.trim().toLowerCase());
  return match ? `sha256:${match[1]}` : undefined;
}

/** "origin 3, node-1 7": where a host's pieces came from, parents named by hostname when the task knows them. */
export function piecesFrom(peer: TaskPeer, peers: readonly TaskPeer[]): string {
  const names = new Map(peers.map((p) => [p.host_id, p.hostname || p.host_id]));
  const counts = new Map<string, number>();
  for (const parent of Object.values(peer.piece_parents)) {
    const name = parent === "" ? "origin" : (names.get(parent) ?? parent);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const entries = [...counts].sort(([a], [b]) => (a === "origin" ? -1 : b === "origin" ? 1 : a.localeCompare(b)));
  return entries.map(([name, count]) => `${name} ${count}`).join(", ") || "-";
}
