import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import { crc32 } from "node:zlib";
import { inSpan, type Logger, SpanKind, SpanStatusCode, tracerFor } from "@d7y/observability";
import { MIN_PIECE_LENGTH, pieceCountFor, pieceLengthFor, pieceSpan } from "@d7y/proto";
import { type HeaderMap, type HttpOrigin, readBody } from "../backend/http-origin.js";
import { DaemonError, UpstreamResponseError } from "../errors.js";
import type { DaemonMetrics } from "../metrics.js";
import type { PeerSession } from "../scheduler/peer-session.js";
import type { SchedulerClient } from "../scheduler/scheduler-client.js";
import type { ContentStore, MetadataStore, PieceRecord, TaskRecord, TrafficType } from "../storage/index.js";
import { PeerExchange, type PeerExchangeOptions, type PieceSink } from "./peer-exchange.js";

/** What to download: the task id, where from, and what it must hash to. */
const TRACER = tracerFor("daemon");

export interface TaskSpec {
  id: string;
  url: string;
  /** Skip the peers: fetch from the origin (how the scheduler triggers a seed peer). */
  needBackToSource?: boolean;
  /** "sha256:<hex>": the whole content must hash to it before the task is complete. */
  digest?: string;
  /** Headers sent to the origin (Authorization...). */
  headers: HeaderMap;
}

export interface TaskDownloadDeps {
  origin: HttpOrigin;
  /** Absent or disabled: every task goes to the origin. */
  scheduler?: SchedulerClient;
  peers?: Omit<PeerExchangeOptions, "http" | "logger" | "concurrentPieces">;
  metadata: MetadataStore;
  content: ContentStore;
  logger: Logger;
  concurrentPieces: number;
  pieceRetries: number;
  /** Absent: nothing is counted (tests, --no-metrics). */
  metrics?: DaemonMetrics;
}

/** Origin response headers worth replaying to clients of the cached content. */
const KEPT_RESPONSE_HEADERS = ["content-type", "docker-content-digest", "etag", "last-modified"];

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

/** Piece bytes as the chunks they arrived in: never copied into one buffer on the hot path. */
export type Chunks = Buffer[];

export function chunksLength(chunks: Chunks): number {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  return length;
}

/** "crc32:<decimal>" of the bytes (one buffer, or chunks in order). */
export function pieceDigest(bytes: Uint8Array | Chunks): string {
  if (!Array.isArray(bytes)) return `crc32:${crc32(bytes)}`;
  let value = 0;
  for (const chunk of bytes) value = crc32(chunk, value);
  return `crc32:${value}`;
}

function parseContentRange(value: unknown): { start: number; end: number; total: number } | undefined {
  const match = typeof value === "string" ? /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value.trim()) : null;
  if (!match) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), total: Number(match[3]) };
}

/**
 * One download of one task, shared by every reader: learns the length from the first ranged
 * response, fetches the other pieces with concurrent Range requests inside a window ahead of the
 * in-order hash, verifies and stores each piece, and completes only when the whole content
 * matches its digest.
 */
export class TaskDownload extends EventEmitter implements PieceSink {
  record?: TaskRecord;
  failure?: Error;
  readonly started: Promise<TaskRecord>;
  readonly done: Promise<TaskRecord>;
  /** Bytes fetched from the origin by this download. */
  originBytes = 0;
  /** Bytes fetched from parents by this download. */
  peerBytes = 0;
  /**
   * The size came from the first origin request, made with this task's own headers: the origin allowed
   * them to read the content (the mirror needs no other access check for the request that started it).
   */
  startedFromOrigin = false;
  private session?: PeerSession;
  private readonly storing = new Set<Promise<void>>();
  private usedOrigin = false;

  private stored: boolean[] = [];
  private pieceRecords: Array<PieceRecord | undefined> = [];
  private readonly waiters = new Map<number, Waiter[]>();
  private readonly buffers = new Map<number, Chunks>();
  private readonly queue: number[] = [];
  private readonly retries = new Map<number, number>();
  private inFlight = 0;
  private hashedUpTo = 0;
  private readonly abort = new AbortController();
  private resolveStarted!: (record: TaskRecord) => void;
  private rejectStarted!: (error: Error) => void;
  private resolveDone!: (record: TaskRecord) => void;
  private rejectDone!: (error: Error) => void;
  private pumpWake?: () => void;
  private readonly log: Logger;

  constructor(
    readonly spec: TaskSpec,
    private readonly deps: TaskDownloadDeps,
  ) {
    super();
    this.log = deps.logger.child({ taskId: spec.id });
    this.started = new Promise((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // Readers observe failures through their own awaits; these keep Node from reporting them as unhandled.
    this.started.catch(() => undefined);
    this.done.catch(() => undefined);
  }

  get id(): string {
    return this.spec.id;
  }

  get finishedPieces(): number {
    return this.stored.filter(Boolean).length;
  }

  isStored(number: number): boolean {
    return this.stored[number] === true;
  }

  /** Starts the download; never throws (failures settle `started`/`done`). Traced as one span. */
  run(): Promise<void> {
    return inSpan(
      TRACER,
      "download task",
      { attributes: { "d7y.task.id": this.id, "http.url": this.spec.url } },
      async (span) => {
        await this.execute();
        span.setAttributes({
          "d7y.bytes.origin": this.originBytes,
          "d7y.bytes.peer": this.peerBytes,
          "d7y.content_length": this.record?.contentLength ?? 0,
        });
        if (this.failure) span.setStatus({ code: SpanStatusCode.ERROR, message: this.failure.message });
      },
    );
  }

  private async execute(): Promise<void> {
    const began = Date.now();
    const hashing = this.hashInOrder();
    hashing.catch(() => undefined);
    try {
      await this.resume();
      const answer = await this.register();
      if (answer?.response.case === "emptyTask" && this.record && this.missingPieces().length === 0) {
        // Every piece is already here (a resumed task): nothing to fetch.
      } else if (answer?.response.case === "normalTask" && this.session) {
        const exchange = new PeerExchange(this, this.session, {
          http: this.deps.origin,
          logger: this.deps.logger,
          concurrentPieces: this.deps.concurrentPieces,
          ...this.deps.peers!,
          metrics: this.deps.metrics,
        });
        const complete = await exchange.run(answer);
        this.peerBytes = exchange.bytesFromPeers;
        if (!complete && !this.failure)
          this.log.info({ missing: this.missingPieces().length }, "peers could not finish: back to source");
      } else if (answer?.response.case === "needBackToSource") {
        this.log.debug({ reason: answer.response.value.description }, "scheduler says back to source");
      }
      if (this.failure) throw this.failure;
      if (!this.record || this.missingPieces().length > 0) await this.fromOrigin();
      await hashing;
      const record = this.record!;
      record.status = "succeeded";
      record.updatedAt = Date.now();
      await this.deps.metadata.putTask(record);
      const sizes = { contentLength: BigInt(record.contentLength), pieceCount: record.pieceCount };
      this.session?.send(
        this.usedOrigin
          ? { case: "downloadPeerBackToSourceFinished", value: sizes }
          : { case: "downloadPeerFinished", value: sizes },
      );
      this.log.info(
        {
          url: this.spec.url,
          bytes: record.contentLength,
          pieces: record.pieceCount,
          fromOrigin: this.originBytes,
          fromPeers: this.peerBytes,
          ms: Date.now() - began,
        },
        "task complete",
      );
      this.resolveDone(record);
    } catch (error) {
      const description = (error as Error).message;
      this.session?.send(
        this.usedOrigin
          ? { case: "downloadPeerBackToSourceFailed", value: { description } }
          : { case: "downloadPeerFailed", value: { description } },
      );
      await this.fail(error as Error);
    } finally {
      this.session?.close();
    }
  }

  /** Registers with the task's scheduler (its fallback if it is down); undefined means "no scheduler". */
  private register() {
    if (!this.deps.scheduler?.enabled) return Promise.resolve(undefined);
    return inSpan(TRACER, "scheduler register", { kind: SpanKind.CLIENT }, async (span) => {
      const answer = await this.registerWithScheduler();
      span.setAttributes({
        "d7y.scheduler": this.session?.scheduler ?? "",
        "d7y.answer": answer?.response.case ?? "none",
      });
      return answer;
    });
  }

  private async registerWithScheduler() {
    const scheduler = this.deps.scheduler;
    if (!scheduler?.enabled) return undefined;
    const requestHeader: Record<string, string> = {};
    for (const [name, value] of Object.entries(this.spec.headers)) {
      requestHeader[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    for (const address of scheduler.schedulersFor(this.id).slice(0, 2)) {
      const session = scheduler.openPeer(address, this.id);
      session.send({
        case: "registerPeer",
        value: {
          download: {
            url: this.spec.url,
            digest: this.spec.digest ?? "",
            requestHeader,
            needBackToSource: this.spec.needBackToSource ?? false,
          },
          pieces: [],
        },
      });
      const answer = await session.next(this.deps.peers?.scheduleTimeoutMs ?? 30_000);
      if (answer) {
        this.session = session;
        return answer;
      }
      this.log.warn({ scheduler: address, reason: session.reason ?? "no answer" }, "scheduler unavailable");
      session.close();
      scheduler.markDown(address);
    }
    return undefined;
  }

  /** Fetches what is missing from the origin (learning the size first when nobody told us). */
  private async fromOrigin(): Promise<void> {
    this.usedOrigin = true;
    if (!this.record) {
      await this.fetchFirst();
    } else {
      this.reportBackToSourceStarted();
      this.queue.length = 0;
      this.queue.push(...this.missingPieces());
    }
    await this.pump();
  }

  private reportBackToSourceStarted(): void {
    this.session?.send({
      case: "downloadPeerBackToSourceStarted",
      value: {
        description: "fetching from the origin",
        contentLength: BigInt(this.record?.contentLength ?? 0),
        pieceLength: BigInt(this.record?.pieceLength ?? 0),
      },
    });
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  get windowStart(): number {
    return this.hashedUpTo;
  }

  /** The size learned from the scheduler or a parent: prepares storage and lets readers start. */
  async beginFromPeers(meta: { contentLength: number; pieceLength: number; pieceCount: number }): Promise<void> {
    if (this.record) return;
    if (
      !Number.isSafeInteger(meta.contentLength) ||
      meta.contentLength < 0 ||
      meta.pieceLength <= 0 ||
      meta.pieceCount !== pieceCountFor(meta.contentLength, meta.pieceLength)
    ) {
      throw new DaemonError("upstream", "peers announced an inconsistent content size");
    }
    const now = Date.now();
    this.begin({
      id: this.id,
      url: this.spec.url,
      ...(this.spec.digest ? { digest: this.spec.digest } : {}),
      contentLength: meta.contentLength,
      pieceLength: meta.pieceLength,
      pieceCount: meta.pieceCount,
      status: "running",
      responseHeaders: { "content-type": "application/octet-stream" },
      createdAt: now,
      updatedAt: now,
      accessedAt: now,
    });
    await this.deps.content.prepare(this.id, meta.contentLength);
    await this.deps.metadata.putTask(this.record!);
    this.resolveStarted(this.record!);
  }

  /** Resolves when piece `number` is stored and verified; rejects if the download fails. */
  waitPiece(number: number): Promise<void> {
    // Failed: answer once the cleanup is done (done rejects then).
    if (this.failure) return this.done.then(() => undefined);
    if (this.stored[number]) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(number) ?? [];
      list.push({ resolve, reject });
      this.waiters.set(number, list);
    });
  }

  /** The bytes of a stored piece, from memory while still held, else from the content file. */
  async pieceBytes(number: number): Promise<Chunks> {
    const held = this.buffers.get(number);
    if (held) return held;
    const span = pieceSpan(number, this.record!.contentLength, this.record!.pieceLength);
    return [await this.deps.content.readPiece(this.id, span.offset, span.length)];
  }

  pieces(): PieceRecord[] {
    return this.pieceRecords.filter((piece): piece is PieceRecord => piece !== undefined);
  }

  /** Stops the download (e.g. the task was deleted or the daemon stops). */
  cancel(reason: string): void {
    if (!this.failure) void this.fail(new DaemonError("unavailable", reason));
  }

  private async resume(): Promise<boolean> {
    const record = await this.deps.metadata.getTask(this.id);
    if (!record || record.contentLength === undefined) return false;
    if (!(await this.deps.content.exists(this.id))) {
      await this.deps.metadata.deleteTask(this.id);
      return false;
    }
    this.begin({ ...record, status: "running", url: this.spec.url, updatedAt: Date.now() });
    let kept = 0;
    for (const piece of await this.deps.metadata.listPieces(this.id)) {
      const bytes = await this.deps.content.readPiece(this.id, piece.offset, piece.length).catch(() => undefined);
      if (bytes && pieceDigest(bytes) === piece.digest && piece.number < record.pieceCount) {
        this.stored[piece.number] = true;
        this.pieceRecords[piece.number] = piece;
        kept++;
      } else {
        await this.deps.metadata.deletePiece(this.id, piece.number);
      }
    }
    await this.deps.metadata.putTask(this.record!);
    this.log.info({ kept, missing: this.missingPieces().length }, "resuming task from stored pieces");
    this.resolveStarted(this.record!);
    return true;
  }

  private begin(record: TaskRecord): void {
    this.record = record;
    this.stored = new Array(record.pieceCount).fill(false);
    this.pieceRecords = new Array(record.pieceCount).fill(undefined);
  }

  missingPieces(): number[] {
    const missing: number[] = [];
    for (let number = 0; number < this.record!.pieceCount; number++) if (!this.stored[number]) missing.push(number);
    return missing;
  }

  /** The first request learns the length (and the auth verdict) and brings the first piece. */
  private async fetchFirst(): Promise<void> {
    const began = Date.now();
    let response = await this.deps.origin.request(this.spec.url, {
      headers: { ...this.spec.headers, range: `bytes=0-${MIN_PIECE_LENGTH - 1}`, "accept-encoding": "identity" },
      signal: this.abort.signal,
    });
    if (response.status === 416) {
      response.body.resume();
      response = await this.deps.origin.request(this.spec.url, {
        headers: { ...this.spec.headers, "accept-encoding": "identity" },
        signal: this.abort.signal,
      });
    }
    if (response.status !== 200 && response.status !== 206) {
      const body = await readBody(response.body).catch(() => Buffer.alloc(0));
      throw new UpstreamResponseError(response.status, response.headers, body, this.spec.url);
    }
    const range = response.status === 206 ? parseContentRange(response.headers["content-range"]) : undefined;
    let total: number;
    if (range) {
      if (range.start !== 0)
        throw new DaemonError("upstream", `upstream answered an unexpected range for ${this.spec.url}`);
      total = range.total;
    } else {
      const length = Number(response.headers["content-length"]);
      if (!Number.isSafeInteger(length) || length < 0) {
        response.body.destroy();
        throw new DaemonError("upstream", `upstream sent no usable Content-Length for ${this.spec.url}`);
      }
      total = length;
    }
    const pieceLength = pieceLengthFor(total);
    const responseHeaders: Record<string, string> = {};
    for (const name of KEPT_RESPONSE_HEADERS) {
      const value = response.headers[name];
      if (typeof value === "string") responseHeaders[name] = value;
    }
    const now = Date.now();
    this.begin({
      id: this.id,
      url: this.spec.url,
      ...(this.spec.digest ? { digest: this.spec.digest } : {}),
      contentLength: total,
      pieceLength,
      pieceCount: pieceCountFor(total, pieceLength),
      status: "running",
      responseHeaders,
      createdAt: now,
      updatedAt: now,
      accessedAt: now,
    });
    await this.deps.content.prepare(this.id, total);
    await this.deps.metadata.putTask(this.record!);
    this.startedFromOrigin = true;
    this.resolveStarted(this.record!);
    this.reportBackToSourceStarted();

    if (!range) {
      // The origin ignores Range: take the pieces from this one sequential body.
      this.inFlight++;
      void this.consumeSequential(response.body, began)
        .catch((error: Error) => this.fail(error))
        .finally(() => {
          this.inFlight--;
          this.wake();
        });
      return;
    }
    const firstLength = range.end + 1;
    const first = await this.readExactly(response.body, firstLength);
    this.originBytes += firstLength;
    const pieceZero = Math.min(pieceLength, total);
    if (firstLength >= pieceZero) {
      await this.storePiece(0, first, "back_to_source", "", Date.now() - began);
      this.queue.push(...this.missingPieces());
    } else {
      // Larger pieces: the first response is the start of piece 0; fetch the rest of it.
      this.queue.push(...this.missingPieces().filter((n) => n !== 0));
      this.inFlight++;
      void this.fetchPiece(0, first).finally(() => {
        this.inFlight--;
        this.wake();
      });
    }
  }

  private async consumeSequential(body: NodeJS.ReadableStream, began: number): Promise<void> {
    const record = this.record!;
    let number = 0;
    let pending: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      let data = chunk as Buffer;
      this.originBytes += data.length;
      while (data.length > 0) {
        if (number >= record.pieceCount) throw new DaemonError("upstream", "upstream sent more bytes than announced");
        const want = pieceSpan(number, record.contentLength, record.pieceLength).length;
        const take = data.subarray(0, want - size);
        pending.push(take);
        size += take.length;
        data = data.subarray(take.length);
        if (size === want) {
          const bytes = pending;
          pending = [];
          size = 0;
          await this.storePiece(number, bytes, "back_to_source", "", Date.now() - began);
          number++;
        }
      }
    }
    if (number < record.pieceCount) throw new DaemonError("upstream", `upstream body ended early for ${this.spec.url}`);
  }

  /** Collects exactly `length` bytes of a body as its chunks (after an optional prefix). */
  private async readExactly(body: NodeJS.ReadableStream, length: number, prefix: Chunks = []): Promise<Chunks> {
    const chunks: Chunks = [...prefix];
    let received = 0;
    for await (const chunk of body) {
      const data = chunk as Buffer;
      received += data.length;
      if (received > length) throw new DaemonError("upstream", "upstream sent more bytes than asked");
      chunks.push(data);
    }
    if (received !== length)
      throw new DaemonError("upstream", `upstream body ended early (${received} of ${length} bytes)`);
    return chunks;
  }

  /** Keeps up to `concurrentPieces` requests in flight, never further ahead of the hash than a window. */
  private async pump(): Promise<void> {
    const window = this.deps.concurrentPieces * 2;
    while (!this.failure) {
      if (this.queue.length === 0 && this.inFlight === 0) return;
      while (
        this.queue.length > 0 &&
        this.inFlight < this.deps.concurrentPieces &&
        this.queue[0]! < this.hashedUpTo + window
      ) {
        const number = this.queue.shift()!;
        this.inFlight++;
        void this.fetchPiece(number).finally(() => {
          this.inFlight--;
          this.wake();
        });
      }
      await new Promise<void>((resolve) => {
        this.pumpWake = resolve;
      });
    }
    throw this.failure;
  }

  private wake(): void {
    const wake = this.pumpWake;
    this.pumpWake = undefined;
    wake?.();
  }

  private fetchPiece(number: number, prefix?: Chunks): Promise<void> {
    return inSpan(
      TRACER,
      "piece",
      { kind: SpanKind.CLIENT, attributes: { "d7y.piece.number": number, "d7y.source": "origin" } },
      () => this.fetchPieceFromOrigin(number, prefix),
    );
  }

  private async fetchPieceFromOrigin(number: number, prefix?: Chunks): Promise<void> {
    const record = this.record!;
    const span = pieceSpan(number, record.contentLength, record.pieceLength);
    const start = span.offset + (prefix ? chunksLength(prefix) : 0);
    const end = span.offset + span.length - 1;
    const began = Date.now();
    try {
      const response = await this.deps.origin.request(this.spec.url, {
        headers: { ...this.spec.headers, range: `bytes=${start}-${end}`, "accept-encoding": "identity" },
        signal: this.abort.signal,
      });
      if (response.status !== 206) {
        const body = await readBody(response.body).catch(() => Buffer.alloc(0));
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          throw new UpstreamResponseError(response.status, response.headers, body, this.spec.url);
        }
        throw new DaemonError("upstream", `upstream answered ${response.status} to a range request`);
      }
      const range = parseContentRange(response.headers["content-range"]);
      if (!range || range.start !== start || range.end !== end || range.total !== record.contentLength) {
        response.body.destroy();
        throw new DaemonError("upstream", `upstream answered the wrong range for piece ${number}`);
      }
      const bytes = await this.readExactly(response.body, end - start + 1, prefix);
      this.originBytes += end - start + 1;
      await this.storePiece(number, bytes, "back_to_source", "", Date.now() - began);
    } catch (error) {
      if (this.failure) return;
      this.deps.metrics?.pieceFailed("origin_error");
      const attempts = (this.retries.get(number) ?? 0) + 1;
      this.retries.set(number, attempts);
      if (error instanceof UpstreamResponseError || attempts > this.deps.pieceRetries) {
        await this.fail(error as Error);
        return;
      }
      this.log.warn({ piece: number, attempt: attempts, err: (error as Error).message }, "piece failed, retrying");
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempts));
      this.queue.unshift(number);
    }
  }

  /** Stores a verified piece (tracked, so a failure can wait for writes in flight). */
  storePiece(number: number, bytes: Chunks, trafficType: TrafficType, parentId: string, costMs: number): Promise<void> {
    const storing = this.writePiece(number, bytes, trafficType, parentId, costMs);
    this.storing.add(storing);
    return storing.finally(() => this.storing.delete(storing));
  }

  private async writePiece(
    number: number,
    bytes: Chunks,
    trafficType: TrafficType,
    parentId: string,
    costMs: number,
  ): Promise<void> {
    if (this.failure || this.stored[number]) return;
    const span = pieceSpan(number, this.record!.contentLength, this.record!.pieceLength);
    if (chunksLength(bytes) !== span.length) throw new DaemonError("internal", `piece ${number} has the wrong length`);
    const piece: PieceRecord = {
      number,
      offset: span.offset,
      length: span.length,
      digest: pieceDigest(bytes),
      trafficType,
      parentId,
      costMs,
      createdAt: Date.now(),
    };
    await this.deps.content.writePiece(this.id, span.offset, bytes);
    await this.deps.metadata.putPiece(this.id, piece);
    if (this.failure) return;
    if (number >= this.hashedUpTo) this.buffers.set(number, bytes);
    if (!this.stored[number]) this.deps.metrics?.pieceStored(trafficType, span.length, costMs);
    this.stored[number] = true;
    this.pieceRecords[number] = piece;
    for (const waiter of this.waiters.get(number) ?? []) waiter.resolve();
    this.waiters.delete(number);
    this.emit("piece", piece);
    const report = {
      number,
      offset: BigInt(piece.offset),
      length: BigInt(piece.length),
      digest: piece.digest,
      parentId,
      costMs: BigInt(costMs),
    };
    this.session?.send(
      trafficType === "back_to_source"
        ? { case: "downloadPieceBackToSourceFinished", value: { piece: report } }
        : { case: "downloadPieceFinished", value: { piece: report } },
    );
  }

  /** Hashes the content in piece order as pieces land; checks the digest at the end. */
  private async hashInOrder(): Promise<void> {
    await this.started;
    const hash = createHash("sha256");
    const count = this.record!.pieceCount;
    while (this.hashedUpTo < count) {
      const number = this.hashedUpTo;
      await this.waitPiece(number);
      for (const chunk of await this.pieceBytes(number)) hash.update(chunk);
      this.buffers.delete(number);
      this.hashedUpTo++;
      this.wake();
    }
    const actual = `sha256:${hash.digest("hex")}`;
    if (this.spec.digest && actual !== this.spec.digest) {
      throw new DigestMismatchError(`content of ${this.spec.url} hashes to ${actual}, not ${this.spec.digest}`);
    }
  }

  private async fail(error: Error): Promise<void> {
    if (this.failure) return;
    this.failure = error;
    this.abort.abort();
    this.buffers.clear();
    this.wake();
    // Pieces being written finish first, so that nothing is stored after the cleanup below.
    await Promise.allSettled([...this.storing]);
    try {
      if (error instanceof DigestMismatchError || !this.record) {
        // Nothing of a blob that does not match its digest is kept.
        await this.deps.metadata.deleteTask(this.id);
        await this.deps.content.remove(this.id);
      } else {
        this.record.status = "failed";
        this.record.updatedAt = Date.now();
        await this.deps.metadata.putTask(this.record);
        await this.deps.content.release(this.id);
      }
    } catch (cleanup) {
      this.log.error({ err: cleanup }, "cleanup after a failed download failed");
    }
    this.log.warn({ url: this.spec.url, err: error.message }, "task failed");
    // Readers learn of the failure only once the cleanup is done (a mismatched blob is gone by then).
    for (const list of this.waiters.values()) for (const waiter of list) waiter.reject(error);
    this.waiters.clear();
    this.rejectStarted(error);
    this.rejectDone(error);
  }
}

export class DigestMismatchError extends DaemonError {
  override name = "DigestMismatchError";
  constructor(message: string) {
    super("upstream", message);
  }
}
