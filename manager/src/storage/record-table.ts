/** What RecordTable needs of a LevelDB sublevel with JSON values. */
export interface JsonSublevel<T> {
  get(key: string): Promise<T | undefined>;
  put(key: string, value: T): Promise<void>;
  del(key: string): Promise<void>;
  values(options: { gte?: string; lt?: string; reverse?: boolean }): { all(): Promise<T[]> };
}

/** Width of zero-padded numeric keys, so that LevelDB's byte order is numeric order. */
const ID_WIDTH = 12;

export function idKey(id: number): string {
  return String(id).padStart(ID_WIDTH, "0");
}

/** One typed namespace (a LevelDB sublevel) of JSON records. */
export class RecordTable<T> {
  constructor(private readonly sublevel: JsonSublevel<T>) {}

  async get(key: string): Promise<T | undefined> {
    return (await this.sublevel.get(key)) ?? undefined;
  }

  put(key: string, record: T): Promise<void> {
    return this.sublevel.put(key, record);
  }

  del(key: string): Promise<void> {
    return this.sublevel.del(key);
  }

  /** Every record in key order (or reversed); `prefix` limits them to keys starting with it. */
  all(options: { prefix?: string; reverse?: boolean } = {}): Promise<T[]> {
    const range = options.prefix === undefined ? {} : { gte: options.prefix, lt: `${options.prefix}\xff` };
    return this.sublevel.values({ ...range, reverse: options.reverse ?? false }).all();
  }
}
