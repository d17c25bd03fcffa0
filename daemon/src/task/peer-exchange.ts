import { inSpan, type Logger, type Span, SpanKind, traceHeaders, tracerFor } from "@d7y/observability";
import { HostType } from "@d7y/proto/common/v1";
import type { AnnouncePeerResponse, CandidateParent } from "@d7y/proto/scheduler/v1";
import type { HttpOrigin } from "../backend/http-origin.js";
import type { DaemonMetrics } from "../metrics.js";
import type { PeerSession } from "../scheduler/peer-session.js";
import type { TaskRecord } from "../storage/index.js";
import type { SyncLine } from "../upload/upload-server.js";
import { type Chunks, pieceDigest } from "./task-download.js";

/** What the peer exchange needs of the download it fills. */
export interface PieceSink {
  readonly id: string;
  readonly record?: TaskRecord;
  readonly failed: boolean;
  /** Fixes the content's size (from the scheduler or a parent) when it was not known yet. */
  beginFromPeers(meta: { contentLength: number; pieceLength: number; pieceCount: number }): Promise<void>;
  isStored(number: number): boolean;
  /** First piece not yet hashed: fetches stay within a window after it so bytes stream in order. */
  readonly windowStart: number;
  storePiece(
    number: number,
    chunks: Chunks,
    trafficType: "remote_peer",
    parentId: string,
    costMs: number,
  ): Promise<void>;
}

export interface PeerExchangeOptions {
  http: HttpOrigin;
  logger: Logger;
  concurrentPieces: number;
  /** No new piece for this long (and nothing in flight) means the parents are stuck: reschedule. */
  stallTimeoutMs: number;
  /** A piece request slower than this (or 4x the median) is asked again from another parent. */
  hedgeAfterMs: number;
  /** How often a running download asks the scheduler for more parents (peers that gained pieces). */
  refreshParentsMs?: number;
  maxReschedules: number;
  /** How long to wait for the scheduler's answer to a reschedule. */
  scheduleTimeoutMs: number;
  metrics?: DaemonMetrics | undefined;
}

interface Parent {
  peerId: string;
  hostId: string;
  seed: boolean;
  base: string;
  available: Set<number>;
  digests: Map<number, string>;
  inFlight: number;
  failures: number;
  /** Pieces this parent asked us to get elsewhere, until when. */
  refused: Map<number, number>;
  complete: boolean;
  abort: AbortController;
}

interface Flight {
  number: number;
  startedAt: number;
  parents: Set<string>;
  aborts: AbortController[];
  hedged: boolean;
}

const TRACER = tracerFor("daemon");
const PER_PARENT_IN_FLIGHT = 4;
const SEED_LOAD_PENALTY = 2;

/**
 * Fetches a task's pieces from the parents the scheduler chose: keeps each parent's piece list
 * current through its sync stream, asks for the rarest pieces first within the streaming window,
 * verifies every piece against the digest its origin fetcher recorded, asks a slow piece twice, and
 * reschedules when parents fail or stall. Returns false when the rest must come from the origin.
 */
export class PeerExchange {
  private readonly parents = new Map<string, Parent>();
  private readonly blocked = new Set<string>();
  private readonly flights = new Map<number, Flight>();
  private readonly costs: number[] = [];
  private wakeLoop?: () => void;
  private lastProgress = Date.now();
  /** The first refresh comes early: peers that registered together have pieces to trade soon. */
  private lastRefresh = Date.now() - 700;
  private reschedules = 0;
  private readonly log: Logger;
  bytesFromPeers = 0;

  constructor(
    private readonly sink: PieceSink,
    private readonly session: PeerSession,
    private readonly options: PeerExchangeOptions,
  ) {
    this.log = options.logger.child({ taskId: sink.id, component: "peer-exchange" });
  }

  /** Runs until every piece is stored (true) or the peers cannot finish it (false). */
  async run(first: AnnouncePeerResponse): Promise<boolean> {
    try {
      if (!(await this.apply(first))) return false;
      this.session.send({ case: "downloadPeerStarted", value: {} });
      for (let rounds = 0; rounds < 1_000_000; rounds++) {
        if (this.sink.failed) return false;
        if (this.sink.record && this.allStored()) return true;
        this.startFetches();
        this.hedgeSlowPieces();
        if (this.stalled()) {
          if (!(await this.reschedule("parents stalled or failed"))) return false;
        } else if (Date.now() - this.lastRefresh > (this.options.refreshParentsMs ?? 1000)) {
          await this.refreshParents();
        }
        await this.sleep(250);
      }
      return false;
    } finally {
      for (const parent of this.parents.values()) parent.abort.abort();
      for (const flight of this.flights.values()) for (const abort of flight.aborts) abort.abort();
    }
  }

  private allStored(): boolean {
    const count = this.sink.record!.pieceCount;
    for (let number = 0; number < count; number++) if (!this.sink.isStored(number)) return false;
    return true;
  }

  /** Takes a scheduler answer: false means "go back to source". */
  private async apply(response: AnnouncePeerResponse | undefined): Promise<boolean> {
    if (response?.response.case !== "normalTask") return false;
    const task = response.response.value;
    if (!this.sink.record && task.contentLength > 0n && task.pieceLength > 0n) {
      await this.sink.beginFromPeers({
        contentLength: Number(task.contentLength),
        pieceLength: Number(task.pieceLength),
        pieceCount: task.pieceCount,
      });
    }
    for (const candidate of task.candidateParents) this.addParent(candidate);
    this.lastProgress = Date.now();
    this.wake();
    return this.parents.size > 0 || this.sink.record !== undefined;
  }

  private addParent(candidate: CandidateParent): void {
    const host = candidate.host;
    if (!host || this.parents.has(candidate.peerId) || this.blocked.has(candidate.peerId)) return;
    const parent: Parent = {
      peerId: candidate.peerId,
      hostId: host.id,
      seed: host.type === HostType.SEED,
      base: `http://${host.ip.includes(":") ? `[${host.ip}]` : host.ip}:${host.downloadPort}`,
      available: new Set(),
      digests: new Map(),
      inFlight: 0,
      failures: 0,
      refused: new Map(),
      complete: false,
      abort: new AbortController(),
    };
    this.parents.set(candidate.peerId, parent);
    void this.sync(parent);
  }

  /** Follows a parent's piece list (newline-delimited JSON) until it is complete or goes away. */
  private async sync(parent: Parent): Promise<void> {
    try {
      const response = await this.options.http.request(`${parent.base}/tasks/${this.sink.id}/pieces`, {
        headers: traceHeaders(),
        followRedirects: false,
        signal: parent.abort.signal,
      });
      if (response.status !== 200) {
        response.body.resume();
        throw new Error(`piece list answered ${response.status}`);
      }
      let pending = "";
      for await (const chunk of response.body) {
        pending += (chunk as Buffer).toString("utf8");
        let newline = pending.indexOf("\n");
        while (newline >= 0) {
          await this.onSyncLine(parent, JSON.parse(pending.slice(0, newline)) as SyncLine);
          pending = pending.slice(newline + 1);
          newline = pending.indexOf("\n");
        }
      }
      if (!parent.complete) throw new Error("piece list ended before the parent finished");
    } catch (error) {
      if (parent.abort.signal.aborted) return;
      this.log.debug({ parent: parent.hostId, err: (error as Error).message }, "parent piece list lost");
      this.dropParent(parent, false);
    }
  }

  private async onSyncLine(parent: Parent, line: SyncLine): Promise<void> {
    switch (line.type) {
      case "task":
        if (!this.sink.record) {
          await this.sink.beginFromPeers(line);
        } else if (
          line.contentLength !== this.sink.record.contentLength ||
          line.pieceLength !== this.sink.record.pieceLength
        ) {
          throw new Error("parent disagrees on the content's size");
        }
        break;
      case "piece":
        parent.available.add(line.number);
        parent.digests.set(line.number, line.digest);
        this.lastProgress = Date.now();
        break;
      case "done":
        parent.complete = true;
        break;
      case "failed":
        throw new Error(`parent's download failed: ${line.reason}`);
    }
    this.wake();
  }

  private dropParent(parent: Parent, block: boolean): void {
    parent.abort.abort();
    this.parents.delete(parent.peerId);
    if (block) this.blocked.add(parent.peerId);
    this.wake();
  }

  private startFetches(): void {
    const record = this.sink.record;
    if (!record || this.flights.size >= this.options.concurrentPieces) return;
    const window = this.options.concurrentPieces * 2;
    const end = Math.min(record.pieceCount, this.sink.windowStart + window);
    // Rarest first; equally rare pieces in random order, so that children of the same parent fetch
    // different pieces and can then trade them with each other. A piece whose holders are all busy
    // is skipped for now, so that a saturated parent never holds back pieces others can give.
    const wanted: Array<{ number: number; holders: Parent[]; tiebreak: number }> = [];
    for (let number = this.sink.windowStart; number < end; number++) {
      if (this.sink.isStored(number) || this.flights.has(number)) continue;
      const now = Date.now();
      const holders = [...this.parents.values()].filter(
        (p) => p.available.has(number) && (p.refused.get(number) ?? 0) <= now,
      );
      if (holders.length > 0) wanted.push({ number, holders, tiebreak: Math.random() });
    }
    wanted.sort((a, b) => a.holders.length - b.holders.length || a.tiebreak - b.tiebreak);
    for (const piece of wanted) {
      if (this.flights.size >= this.options.concurrentPieces) return;
      const parent = this.pickParent(piece.holders, new Set());
      if (parent) this.fly(piece.number, parent);
    }
  }

  /**
   * The least busy holder; a seed counts as busier than it is, since every child of the task leans
   * on it: pieces other children already hold come from them, and the seed's uplink goes to the rest.
   */
  private pickParent(holders: Parent[], exclude: Set<string>): Parent | undefined {
    const load = (p: Parent) => p.inFlight + (p.seed ? SEED_LOAD_PENALTY : 0);
    const usable = holders.filter((p) => !exclude.has(p.peerId) && p.inFlight < PER_PARENT_IN_FLIGHT);
    if (usable.length === 0) return undefined;
    const least = Math.min(...usable.map(load));
    const choices = usable.filter((p) => load(p) === least);
    return choices[Math.floor(Math.random() * choices.length)];
  }

  private fly(number: number, parent: Parent): void {
    let flight = this.flights.get(number);
    if (!flight) {
      flight = { number, startedAt: Date.now(), parents: new Set(), aborts: [], hedged: false };
      this.flights.set(number, flight);
    }
    const abort = new AbortController();
    flight.parents.add(parent.peerId);
    flight.aborts.push(abort);
    parent.inFlight++;
    const traced = inSpan(
      TRACER,
      "piece",
      {
        kind: SpanKind.CLIENT,
        attributes: { "d7y.piece.number": number, "d7y.source": "peer", "d7y.parent.host": parent.hostId },
      },
      (span) => this.fetch(number, parent, abort, span),
    );
    void traced.finally(() => {
      parent.inFlight--;
      const current = this.flights.get(number);
      if (current) {
        current.parents.delete(parent.peerId);
        if (current.parents.size === 0) this.flights.delete(number);
      }
      this.wake();
    });
  }

  /** Asks a slow piece again from another parent; the first verified answer wins. */
  private hedgeSlowPieces(): void {
    const sorted = [...this.costs].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
    const slowAfter = Math.max(this.options.hedgeAfterMs, median * 4);
    for (const flight of this.flights.values()) {
      if (flight.hedged || Date.now() - flight.startedAt < slowAfter) continue;
      const holders = [...this.parents.values()].filter((p) => p.available.has(flight.number));
      const second = this.pickParent(holders, flight.parents);
      if (!second) continue;
      flight.hedged = true;
      this.log.debug({ piece: flight.number, parent: second.hostId }, "piece is slow, asking a second parent");
      this.fly(flight.number, second);
    }
  }

  private async fetch(number: number, parent: Parent, abort: AbortController, span: Span): Promise<void> {
    const began = Date.now();
    const record = this.sink.record!;
    const expected = parent.digests.get(number);
    try {
      const response = await this.options.http.request(`${parent.base}/tasks/${this.sink.id}/pieces/${number}`, {
        headers: traceHeaders(),
        followRedirects: false,
        signal: abort.signal,
      });
      if (response.status === 503) {
        // Busy parent, or a seed that already gave this piece to others: not its fault; look
        // elsewhere for a while.
        response.body.resume();
        parent.refused.set(number, Date.now() + (response.headers["x-d7y-shared"] ? 400 : 100));
        return;
      }
      if (response.status !== 200) {
        response.body.resume();
        throw new Error(`parent answered ${response.status}`);
      }
      const chunks: Chunks = [];
      let length = 0;
      for await (const chunk of response.body) {
        chunks.push(chunk as Buffer);
        length += (chunk as Buffer).length;
      }
      const wantLength = Math.min(record.pieceLength, record.contentLength - number * record.pieceLength);
      const actual = pieceDigest(chunks);
      if (length !== wantLength || actual !== expected) {
        // Bytes that fail verification: this parent is not to be trusted again, by anyone.
        this.log.warn({ piece: number, parent: parent.hostId, expected, actual }, "parent served a corrupt piece");
        this.options.metrics?.pieceFailed("peer_corrupt");
        span.setAttribute("d7y.piece.corrupt", true);
        this.session.send({
          case: "downloadPieceFailed",
          value: {
            pieceNumber: number,
            parentId: parent.hostId,
            temporary: false,
            description: "piece failed verification",
          },
        });
        this.dropParent(parent, true);
        return;
      }
      if (this.sink.isStored(number)) return;
      const cost = Date.now() - began;
      this.costs.push(cost);
      if (this.costs.length > 64) this.costs.shift();
      await this.sink.storePiece(number, chunks, "remote_peer", parent.hostId, cost);
      span.setAttribute("d7y.bytes", length);
      this.bytesFromPeers += length;
      this.lastProgress = Date.now();
      const flight = this.flights.get(number);
      if (flight) for (const other of flight.aborts) if (other !== abort) other.abort();
    } catch (error) {
      if (abort.signal.aborted || this.sink.isStored(number)) return;
      this.options.metrics?.pieceFailed("peer_error");
      parent.failures++;
      this.session.send({
        case: "downloadPieceFailed",
        value: { pieceNumber: number, parentId: parent.hostId, temporary: true, description: (error as Error).message },
      });
      if (parent.failures >= 2) this.dropParent(parent, true);
    }
  }

  /** No parent left, or nothing in flight and no parent gained a piece for the stall timeout. */
  private stalled(): boolean {
    if (this.parents.size === 0) return true;
    if (this.flights.size > 0) {
      this.lastProgress = Date.now();
      return false;
    }
    return Date.now() - this.lastProgress > this.options.stallTimeoutMs;
  }

  private async reschedule(reason: string): Promise<boolean> {
    if (this.session.broken || this.reschedules >= this.options.maxReschedules) return false;
    this.reschedules++;
    for (const parent of this.parents.values())
      if (!parent.complete && parent.available.size === 0) this.blocked.add(parent.peerId);
    this.log.info({ reason, attempt: this.reschedules, blocked: this.blocked.size }, "rescheduling");
    this.session.send({ case: "reschedulePeer", value: { blockedParents: [...this.blocked], description: reason } });
    const answer = await this.session.next(this.options.scheduleTimeoutMs);
    return this.apply(answer);
  }

  /**
   * Asks for more parents while downloading: peers that started with this one gain pieces and can
   * share the load of the first parents (the scheduler never answers "back to source" to this).
   */
  private async refreshParents(): Promise<void> {
    this.lastRefresh = Date.now();
    if (this.session.broken) return;
    this.session.send({
      case: "reschedulePeer",
      value: { blockedParents: [...this.blocked], moreParents: true, description: "more parents" },
    });
    const answer = await this.session.next(this.options.scheduleTimeoutMs);
    if (answer?.response.case === "normalTask") {
      for (const candidate of answer.response.value.candidateParents) this.addParent(candidate);
    }
  }

  private wake(): void {
    const wake = this.wakeLoop;
    this.wakeLoop = undefined;
    wake?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeLoop = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
