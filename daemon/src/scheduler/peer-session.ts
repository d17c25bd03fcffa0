import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AnnouncePeerRequestSchema, AnnouncePeerResponse } from "@d7y/proto/scheduler/v1";

export type AnnouncePeerRequestInit = MessageInitShape<typeof AnnouncePeerRequestSchema>;
export type PeerReport = NonNullable<AnnouncePeerRequestInit["request"]>;

/**
 * One peer's AnnouncePeer stream: reports go out in order through a queue; answers are read with a
 * deadline. Once the stream broke, sends are dropped and reads answer undefined: the caller then
 * carries on without the scheduler (back to source).
 */
export class PeerSession {
  private readonly outbox: AnnouncePeerRequestInit[] = [];
  private wakeWriter?: () => void;
  private readonly inbox: AnnouncePeerResponse[] = [];
  private wakeReader?: () => void;
  private ended = false;
  private endReason?: string;
  private readonly abort = new AbortController();

  constructor(
    readonly scheduler: string,
    readonly hostId: string,
    readonly taskId: string,
    readonly peerId: string,
  ) {}

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get broken(): boolean {
    return this.ended;
  }

  get reason(): string | undefined {
    return this.endReason;
  }

  send(request: PeerReport): void {
    if (this.ended) return; // the scheduler is gone: reports are best effort
    this.outbox.push({ hostId: this.hostId, taskId: this.taskId, peerId: this.peerId, request });
    this.wakeWriter?.();
  }

  /** The requests as an async iterable, for the Connect client. */
  async *requests(): AsyncGenerator<AnnouncePeerRequestInit> {
    for (;;) {
      const next = this.outbox.shift();
      if (next) {
        yield next;
        continue;
      }
      // Closed: what was queued went out; ending the request stream tells the scheduler we are done.
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wakeWriter = resolve;
      });
      this.wakeWriter = undefined;
    }
  }

  /** Feeds answers from the Connect response stream until it ends. */
  async consume(responses: AsyncIterable<AnnouncePeerResponse>): Promise<void> {
    try {
      for await (const response of responses) {
        this.inbox.push(response);
        this.wakeReader?.();
      }
      this.end("scheduler closed the stream");
    } catch (error) {
      this.end(`scheduler stream failed: ${(error as Error).message}`);
    }
  }

  /** The next answer, or undefined when the stream broke or nothing came within timeoutMs. */
  async next(timeoutMs: number): Promise<AnnouncePeerResponse | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.inbox.length === 0 && !this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wakeReader = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeReader = undefined;
    }
    return this.inbox.shift();
  }

  /** Ends the stream (after flushing what was queued, when the caller gives it a moment). */
  close(): void {
    this.end("closed by the peer", 5_000);
  }

  private end(reason: string, graceMs = 0): void {
    if (this.ended) return;
    this.ended = true;
    this.endReason = reason;
    this.wakeWriter?.();
    this.wakeReader?.();
    // The queued reports are flushed and the request stream half-closed; the scheduler then ends
    // its side. The connection is dropped after a grace period in case it does not.
    setTimeout(() => this.abort.abort(), graceMs).unref();
  }
}
