import { Level } from "level";
import type { PieceRecord, TaskRecord } from "./records.js";

const PIECE_KEY_WIDTH = 8;

function pieceKey(taskId: string, number: number): string {
  return `${taskId}/${String(number).padStart(PIECE_KEY_WIDTH, "0")}`;
}

/** LevelDB metadata with one typed namespace per record kind. */
export class MetadataStore {
  private readonly db: Level<string, string>;
  private readonly tasks;
  private readonly pieces;

  constructor(path: string) {
    this.db = new Level<string, string>(path);
    this.tasks = this.db.sublevel<string, TaskRecord>("tasks", { valueEncoding: "json" });
    this.pieces = this.db.sublevel<string, PieceRecord>("pieces", { valueEncoding: "json" });
  }

  open(): Promise<void> {
    return this.db.open();
  }

  close(): Promise<void> {
    return this.db.close();
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    return (await this.tasks.get(id)) ?? undefined;
  }

  putTask(task: TaskRecord): Promise<void> {
    return this.tasks.put(task.id, task);
  }

  async listTasks(): Promise<TaskRecord[]> {
    return this.tasks.values().all();
  }

  putPiece(taskId: string, piece: PieceRecord): Promise<void> {
    return this.pieces.put(pieceKey(taskId, piece.number), piece);
  }

  async getPiece(taskId: string, number: number): Promise<PieceRecord | undefined> {
    return (await this.pieces.get(pieceKey(taskId, number))) ?? undefined;
  }

  async listPieces(taskId: string): Promise<PieceRecord[]> {
    return this.pieces.values({ gt: `${taskId}/`, lt: `${taskId}/\xff` }).all();
  }

  async deletePiece(taskId: string, number: number): Promise<void> {
    await this.pieces.del(pieceKey(taskId, number));
  }

  /** Removes a task and all its pieces in one batch. */
  async deleteTask(taskId: string): Promise<void> {
    const keys = await this.pieces.keys({ gt: `${taskId}/`, lt: `${taskId}/\xff` }).all();
    await this.db.batch([
      { type: "del", key: taskId, sublevel: this.tasks },
      ...keys.map((key) => ({ type: "del" as const, key, sublevel: this.pieces })),
    ]);
  }
}
