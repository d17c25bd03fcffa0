/** Resolves after ms, or at once when the signal aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Yields make() at once and then every intervalMs until the signal aborts (a client stream of heartbeats). */
export async function* every<T>(intervalMs: number, signal: AbortSignal, make: () => T): AsyncGenerator<T> {
  while (!signal.aborted) {
    yield make();
    await pause(intervalMs, signal);
  }
}

/**
 * Runs task (e.g. a keepalive stream) again and again until the signal aborts, waiting retryMs after
 * each end or failure: a link to a control-plane service that survives its restarts.
 */
export async function keepRunning(
  task: (signal: AbortSignal) => Promise<unknown>,
  retryMs: number,
  signal: AbortSignal,
  onError?: (error: unknown) => void,
): Promise<void> {
  while (!signal.aborted) {
    try {
      await task(signal);
    } catch (error) {
      if (!signal.aborted) onError?.(error);
    }
    if (signal.aborted) return;
    await pause(retryMs, signal);
  }
}
