/**
 * Runs read-modify-write updates of one key one after the other (LevelDB has no transactions), and lets
 * stop() wait for every update in flight.
 */
export class SerialQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, update: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const next = previous.then(update, update);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }

  /** Resolves when every update queued so far has settled. */
  async settle(): Promise<void> {
    await Promise.all([...this.tails.values()]);
  }
}
