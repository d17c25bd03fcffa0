import { Code, ConnectError } from "@connectrpc/connect";

/** Answers a client may leave unread before its stream is failed (it only gets one per register/reschedule). */
export const MAX_UNREAD_RESPONSES = 64;

/**
 * The response side of a bidi stream, filled by the request loop and drained by the handler's generator,
 * so requests keep being processed whether or not the client has read the previous answer yet.
 */
export class ResponseQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private error: unknown;
  private ended = false;
  private wake: (() => void) | undefined;

  push(item: T): void {
    if (this.ended) return;
    if (this.items.length >= MAX_UNREAD_RESPONSES) {
      this.fail(new ConnectError("too many unread responses: read the answers", Code.ResourceExhausted));
      return;
    }
    this.items.push(item);
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  fail(error: unknown): void {
    if (this.ended) return;
    this.error = error;
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    // Each turn either yields an item or waits for push/end/fail; it returns once ended and drained.
    for (;;) {
      if (this.error !== undefined) throw this.error;
      const item = this.items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }
}
