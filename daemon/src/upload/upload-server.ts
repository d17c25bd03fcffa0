import http from "node:http";
import type { AddressInfo } from "node:net";
import { closeServer, listen } from "@d7y/lifecycle";
import { contextFromHeaders, inSpan, type Logger, SpanKind, tracerFor } from "@d7y/observability";
import { pieceSpan } from "@d7y/proto";
import type { DaemonMetrics } from "../metrics.js";
import type { ContentStore, MetadataStore, PieceRecord, TaskRecord } from "../storage/index.js";
import type { TaskManager } from "../task/task-manager.js";

export interface UploadServerDeps {
  host: string;
  port: number;
  /** Piece uploads served at once; more get 503 and the child asks another parent. */
  limit: number;
  tasks: TaskManager;
  metadata: MetadataStore;
  content: ContentStore;
  logger: Logger;
  /** Test-only: flip a byte of every piece served, to prove children detect it. */
  corruptPieces?: boolean;
  /**
   * Seeds: copies of one piece served before others must get it from the children that have it
   * (0 = no limit). The count is forgotten after sharedPieceWindowMs, so a lost copy is served again.
   */
  copiesPerPiece?: number;
  sharedPieceWindowMs?: number;
  metrics?: DaemonMetrics;
}

/** One line of the piece-sync stream (newline-delimited JSON). */
export type SyncLine =
  | { type: "task"; contentLength: number; pieceLength: number; pieceCount: number; digest?: string }
  | { type: "piece"; number: number; digest: string }
  | { type: "done" }
  | { type: "failed"; reason: string };

const TRACER = tracerFor("daemon");

const TASK_PATH = /^\/tasks\/([a-zA-Z0-9_-]{8,128})\/pieces(?:\/(\d{1,9}))?$/;

/**
 * Serves verified pieces to other daemons over plain HTTP/1.1 (the bytes path; control goes through
 * Connect): GET /tasks/<id>/pieces streams the piece list as it grows, GET /tasks/<id>/pieces/<n>
 * returns one stored piece.
 */
export class UploadServer {
  private server?: http.Server;
  private inFlight = 0;
  uploadedBytes = 0;
  uploadCount = 0;
  private readonly copies = new Map<string, { count: number; since: number }>();
  private readonly log: Logger;

  constructor(private readonly deps: UploadServerDeps) {
    this.log = deps.logger.child({ component: "upload" });
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  get uploadsInFlight(): number {
    return this.inFlight;
  }

  async start(): Promise<void> {
    const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.log.warn({ err: (error as Error).message, url: req.url }, "upload request failed");
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" }).end(`${(error as Error).message}\n`);
        else res.destroy();
      });
    });
    server.on("clientError", (_error, socket) => socket.destroy());
    await listen(server, this.deps.port, this.deps.host);
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await closeServer(server);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0]!;
    if (req.method !== "GET") {
      res.writeHead(405, { allow: "GET" }).end();
      return;
    }
    if (path === "/stats") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ uploadedBytes: this.uploadedBytes, uploadCount: this.uploadCount, inFlight: this.inFlight }),
      );
      return;
    }
    const match = TASK_PATH.exec(path);
    if (!match) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    const taskId = match[1]!;
    // Joins the downloading child's trace (its traceparent header).
    const parent = contextFromHeaders(req.headers);
    if (match[2] === undefined) {
      await inSpan(
        TRACER,
        "sync pieces",
        { kind: SpanKind.SERVER, parent, attributes: { "d7y.task.id": taskId } },
        () => this.sync(taskId, req, res),
      );
    } else {
      const number = Number(match[2]);
      await inSpan(
        TRACER,
        "upload piece",
        { kind: SpanKind.SERVER, parent, attributes: { "d7y.task.id": taskId, "d7y.piece.number": number } },
        async (span) => {
          await this.piece(taskId, number, res);
          span.setAttribute("http.status_code", res.statusCode);
        },
      );
    }
  }

  /** Streams the task's metadata, then every stored piece, then new ones as they land, until done. */
  private async sync(taskId: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const write = (line: SyncLine) => res.write(`${JSON.stringify(line)}\n`);
    const download = this.deps.tasks.activeDownload(taskId);
    if (download) {
      let record: TaskRecord;
      try {
        record = await download.started;
      } catch (error) {
        res.writeHead(404, { "content-type": "text/plain" }).end(`task failed: ${(error as Error).message}\n`);
        return;
      }
      res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-store" });
      write(taskLine(record));
      const sent = new Set<number>();
      const onPiece = (piece: PieceRecord) => {
        if (sent.has(piece.number)) return;
        sent.add(piece.number);
        write({ type: "piece", number: piece.number, digest: piece.digest });
      };
      download.on("piece", onPiece);
      req.on("close", () => download.off("piece", onPiece));
      for (const piece of download.pieces()) onPiece(piece);
      try {
        await download.done;
        write({ type: "done" });
      } catch (error) {
        write({ type: "failed", reason: (error as Error).message });
      } finally {
        download.off("piece", onPiece);
        res.end();
      }
      return;
    }
    const record = await this.deps.metadata.getTask(taskId);
    if (!record) {
      res.writeHead(404, { "content-type": "text/plain" }).end("unknown task\n");
      return;
    }
    res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-store" });
    write(taskLine(record));
    for (const piece of await this.deps.metadata.listPieces(taskId)) {
      write({ type: "piece", number: piece.number, digest: piece.digest });
    }
    write(record.status === "succeeded" ? { type: "done" } : { type: "failed", reason: `task is ${record.status}` });
    res.end();
  }

  private async piece(taskId: string, number: number, res: http.ServerResponse): Promise<void> {
    if (this.inFlight >= this.deps.limit) {
      res.writeHead(503, { "retry-after": "1", "content-type": "text/plain" }).end("upload limit reached\n");
      return;
    }
    if (!this.takeCopy(taskId, number)) {
      res
        .writeHead(503, { "retry-after": "1", "x-d7y-shared": "1", "content-type": "text/plain" })
        .end("piece already shared: ask the peers that have it\n");
      return;
    }
    this.inFlight++;
    const endRead = this.deps.tasks.beginRead(taskId);
    try {
      const found = await this.findPiece(taskId, number);
      if (!found) {
        res.writeHead(404, { "content-type": "text/plain" }).end("piece not available\n");
        return;
      }
      const { record, piece } = found;
      const span = pieceSpan(number, record.contentLength, record.pieceLength);
      const bytes = await this.deps.content.readPiece(taskId, span.offset, span.length);
      if (this.deps.corruptPieces && bytes.length > 0) bytes[0] = bytes[0]! ^ 0xff;
      res.writeHead(200, {
        "content-type": "application/octet-stream",
        "content-length": String(bytes.length),
        "x-d7y-piece-digest": piece.digest,
      });
      await new Promise<void>((resolve, reject) => {
        res.end(bytes, () => resolve());
        res.once("error", reject);
      });
      this.uploadedBytes += bytes.length;
      this.uploadCount++;
      this.deps.metrics?.pieceUploaded(bytes.length);
    } finally {
      endRead();
      this.inFlight--;
    }
  }

  /** Counts one more copy of a piece; false when enough copies went out recently. */
  private takeCopy(taskId: string, number: number): boolean {
    const limit = this.deps.copiesPerPiece ?? 0;
    if (limit <= 0) return true;
    const key = `${taskId}/${number}`;
    const now = Date.now();
    const window = this.deps.sharedPieceWindowMs ?? 3000;
    const entry = this.copies.get(key);
    if (!entry || now - entry.since > window) {
      if (this.copies.size > 100_000) this.copies.clear();
      this.copies.set(key, { count: 1, since: now });
      return true;
    }
    if (entry.count >= limit) return false;
    entry.count++;
    return true;
  }

  private async findPiece(
    taskId: string,
    number: number,
  ): Promise<{ record: TaskRecord; piece: PieceRecord } | undefined> {
    const download = this.deps.tasks.activeDownload(taskId);
    if (download?.record) {
      const piece = download.pieces().find((p) => p.number === number);
      return piece && download.isStored(number) ? { record: download.record, piece } : undefined;
    }
    const record = await this.deps.metadata.getTask(taskId);
    if (!record) return undefined;
    const piece = await this.deps.metadata.getPiece(taskId, number);
    return piece ? { record, piece } : undefined;
  }
}

function taskLine(record: TaskRecord): SyncLine {
  return {
    type: "task",
    contentLength: record.contentLength,
    pieceLength: record.pieceLength,
    pieceCount: record.pieceCount,
    ...(record.digest ? { digest: record.digest } : {}),
  };
}
