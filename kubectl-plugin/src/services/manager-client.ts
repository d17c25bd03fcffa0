import { type Dispatcher, request, errors as undiciErrors } from "undici";
import { ManagerHttpError, ManagerUnreachableError, UserError } from "./errors.js";
import type { TaskView } from "./task-view.js";

export type JobState = "PENDING" | "STARTED" | "SUCCESS" | "FAILURE";
export type PreheatScope = "single_seed_peer" | "all_seed_peers" | "all_peers";

export interface LayerHost {
  hostname: string;
  ip: string;
  scheduler_cluster_id?: number;
  state: string;
  error?: string;
  cost_ms?: number;
}

export interface JobLayer {
  url: string;
  digest: string;
  size?: number;
  hosts: LayerHost[];
}

export interface JobResult {
  manifest_url?: string;
  manifest_digest?: string;
  platform?: string;
  layers?: JobLayer[];
  error?: string;
  [key: string]: unknown;
}

export interface Job {
  id: number;
  type: string;
  state: JobState;
  args: { url?: string; urls?: string[]; scope?: string; platform?: string; [key: string]: unknown };
  result?: JobResult | null;
  created_at: string;
  updated_at?: string;
  [key: string]: unknown;
}

export interface SchedulerRecord {
  id: number;
  hostname: string;
  ip: string;
  port: number;
  state: string;
  scheduler_cluster_id: number;
  [key: string]: unknown;
}

export interface SeedPeerRecord {
  id: number;
  hostname: string;
  ip: string;
  port: number;
  download_port?: number;
  state: string;
  seed_peer_cluster_id: number;
  [key: string]: unknown;
}

export interface PreheatRequest {
  url: string;
  platform?: string;
  scope?: PreheatScope;
  username?: string;
  password?: string;
  /** A duration string ("30m") or seconds. */
  timeout?: string;
}

export interface ManagerClientOptions {
  /** Per request; default 10 s. */
  timeoutMs?: number;
  dispatcher?: Dispatcher;
}

/** The largest page the manager serves. */
const MAX_PER_PAGE = 1000;

/** The manager's REST API (`/api/v1`, `/healthy`) over undici. Errors are UserErrors with one-line messages. */
/** `GET /api/v1/images/layers` of the manager. */
export interface ImageLayer {
  digest: string;
  size?: number;
  media_type?: string;
  url: string;
  /** True for the image's config blob. */
  config: boolean;
}

export interface ImageLayers {
  url: string;
  manifest_digest?: string;
  platform: string;
  layers: ImageLayer[];
}

export class ManagerClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly dispatcher: Dispatcher | undefined;

  constructor(baseUrl: string, options: ManagerClientOptions = {}) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new UserError(`invalid --manager URL "${baseUrl}" (expected http://host:port)`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new UserError(`invalid --manager URL "${baseUrl}" (expected http://host:port)`);
    }
    this.baseUrl = url.origin + url.pathname.replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.dispatcher = options.dispatcher;
  }

  /** True when `GET /healthy` answers 200; false for any other status. Throws when unreachable. */
  async healthy(): Promise<boolean> {
    const { status } = await this.send("GET", "/healthy");
    return status === 200;
  }

  async createPreheatJob(preheat: PreheatRequest): Promise<Job> {
    const args: Record<string, unknown> = { type: "image", url: preheat.url };
    if (preheat.platform !== undefined) args.platform = preheat.platform;
    if (preheat.scope !== undefined) args.scope = preheat.scope;
    if (preheat.username !== undefined) args.username = preheat.username;
    if (preheat.password !== undefined) args.password = preheat.password;
    if (preheat.timeout !== undefined) args.timeout = preheat.timeout;
    return (await this.json("POST", "/api/v1/jobs", { type: "preheat", args })) as Job;
  }

  async getJob(id: number): Promise<Job> {
    try {
      return (await this.json("GET", `/api/v1/jobs/${id}`)) as Job;
    } catch (error) {
      if (error instanceof ManagerHttpError && error.status === 404) throw new UserError(`unknown job ${id}`);
      throw error;
    }
  }

  /** Jobs, newest first (at most `limit`, default 100). */
  async listJobs(options: { limit?: number; state?: JobState; type?: string } = {}): Promise<Job[]> {
    const query = new URLSearchParams({ page: "1", per_page: String(Math.min(options.limit ?? 100, MAX_PER_PAGE)) });
    if (options.state) query.set("state", options.state);
    if (options.type) query.set("type", options.type);
    return (await this.json("GET", `/api/v1/jobs?${query}`)) as Job[];
  }

  async listSchedulers(): Promise<SchedulerRecord[]> {
    return (await this.json("GET", `/api/v1/schedulers?page=1&per_page=${MAX_PER_PAGE}`)) as SchedulerRecord[];
  }

  async listSeedPeers(): Promise<SeedPeerRecord[]> {
    return (await this.json("GET", `/api/v1/seed-peers?page=1&per_page=${MAX_PER_PAGE}`)) as SeedPeerRecord[];
  }

  /** A task (blob digest `sha256:<hex>`) as the active schedulers know it. */
  async getTask(digest: string): Promise<TaskView> {
    try {
      return (await this.json("GET", `/api/v1/tasks/${encodeURIComponent(digest)}`)) as TaskView;
    } catch (error) {
      if (error instanceof ManagerHttpError && error.status === 404) {
        throw new UserError(`no scheduler knows task ${digest}`);
      }
      throw error;
    }
  }

  /** The blobs of an image (config first, marked) as the manager resolves them from the registry. */
  async getImageLayers(query: {
    url: string;
    platform?: string | undefined;
    username?: string | undefined;
    password?: string | undefined;
  }): Promise<ImageLayers> {
    const params = new URLSearchParams({ url: query.url });
    if (query.platform) params.set("platform", query.platform);
    if (query.username !== undefined) params.set("username", query.username);
    if (query.password !== undefined) params.set("password", query.password);
    return (await this.json("GET", `/api/v1/images/layers?${params}`)) as ImageLayers;
  }

  /** A task as getTask, or undefined when no scheduler knows it (404). */
  async findTask(digest: string): Promise<TaskView | undefined> {
    try {
      return (await this.json("GET", `/api/v1/tasks/${encodeURIComponent(digest)}`)) as TaskView;
    } catch (error) {
      if (error instanceof ManagerHttpError && error.status === 404) return undefined;
      throw error;
    }
  }

  private async json(method: "GET" | "POST", path: string, body?: unknown): Promise<unknown> {
    const { status, text } = await this.send(method, path, body);
    if (status >= 400)
      throw new ManagerHttpError(status, `manager: ${status} ${errorMessage(text)} (${method} ${path})`);
    try {
      return JSON.parse(text);
    } catch {
      throw new UserError(`manager: ${method} ${path} did not answer JSON (is ${this.baseUrl} a d7y manager?)`);
    }
  }

  private async send(method: "GET" | "POST", path: string, body?: unknown): Promise<{ status: number; text: string }> {
    const url = this.baseUrl + path;
    try {
      const response = await request(url, {
        method,
        headers: body === undefined ? { accept: "application/json" } : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal: AbortSignal.timeout(this.timeoutMs),
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
      });
      return { status: response.statusCode, text: await response.body.text() };
    } catch (error) {
      throw new ManagerUnreachableError(`cannot reach the manager at ${this.baseUrl}: ${describeNetworkError(error)}`);
    }
  }
}

function errorMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === "string") return parsed.message;
  } catch {
    // not JSON: use the text itself
  }
  return text.trim().split("\n")[0]?.slice(0, 200) || "(no message)";
}

function describeNetworkError(error: unknown): string {
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) {
    return "timed out";
  }
  if (error instanceof Error && error.name === "TimeoutError") return "timed out";
  const err = error as { code?: string; message?: string; cause?: unknown; errors?: unknown[] };
  // Node reports a refused dual-stack connect as an AggregateError of per-address errors.
  const inner = (err.errors?.[0] ?? err.cause) as { code?: string; message?: string } | undefined;
  const message = inner?.message || err.message || String(error);
  return message.split("\n")[0] ?? message;
}
