import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type Client, createClient, createRouterTransport } from "@connectrpc/connect";
import { validateConfig } from "@d7y/config";
import { createSilentLogger } from "@d7y/observability";
import { HostSchema, HostType } from "@d7y/proto/common/v1";
import {
  type AnnouncePeerRequest,
  AnnouncePeerRequestSchema,
  type AnnouncePeerResponse,
  type HostTaskSchema,
  SchedulerService,
} from "@d7y/proto/scheduler/v1";
import {
  type SchedulerConfigInput,
  SchedulerState,
  type SeedTrigger,
  schedulerConfigSchema,
  schedulerOptions,
  schedulerRoutes,
} from "@d7y/scheduler";

export type SchedulerClient = Client<typeof SchedulerService>;

/** Fast test tunables: short waits so the bounded loops finish quickly. */
export const TEST_OPTIONS: SchedulerConfigInput = {
  retryIntervalMs: 10,
  retryLimit: 3,
  seedWaitMs: 1_000,
  hostTtlMinMs: 1_000,
  badParentTtlMs: 60_000,
  taskTtlMs: 60_000,
};

export interface Harness {
  state: SchedulerState;
  client: SchedulerClient;
  clock: { now: number };
  close(): Promise<void>;
}

/** The service in-process on a router transport (no sockets), with a fake clock and a substitutable seed trigger. */
export function createHarness(options: SchedulerConfigInput = {}, seedTrigger?: SeedTrigger): Harness {
  const config = validateConfig(schedulerConfigSchema, { ...TEST_OPTIONS, ...options });
  const clock = { now: 1_000_000 };
  const logger = createSilentLogger();
  const noSeeds: SeedTrigger = async () => {
    throw new Error("no seed trigger in this test");
  };
  const state = new SchedulerState(schedulerOptions(config), {
    logger,
    seedTrigger: seedTrigger ?? noSeeds,
    now: () => clock.now,
  });
  const client = createClient(SchedulerService, createRouterTransport(schedulerRoutes({ state, logger })));
  return { state, client, clock, close: () => state.stop() };
}

export interface HostOptions {
  type?: "normal" | "seed";
  ip?: string;
  idc?: string;
  location?: string;
  uploadLimit?: number;
  uploadInFlight?: number;
  intervalMs?: number;
  tasks?: MessageInitShape<typeof HostTaskSchema>[];
  /** The tasks are the host's full list (finished peers of other tasks are dropped). */
  tasksComplete?: boolean;
}

export async function announceHost(client: SchedulerClient, id: string, options: HostOptions = {}): Promise<void> {
  await client.announceHost({
    host: create(HostSchema, {
      id,
      type: options.type === "seed" ? HostType.SEED : HostType.NORMAL,
      hostname: id,
      ip: options.ip ?? "10.0.0.1",
      port: 4000,
      downloadPort: 4005,
      proxyPort: 4001,
      idc: options.idc ?? "",
      location: options.location ?? "",
      uploadLimit: options.uploadLimit ?? 0,
      uploadInFlight: options.uploadInFlight ?? 0,
    }),
    intervalMs: BigInt(options.intervalMs ?? 0),
    tasks: options.tasks ?? [],
    tasksComplete: options.tasksComplete ?? false,
  });
}

export const DIGEST = `sha256:${"ab".repeat(32)}`;
export const TASK = "task-1";
export const BLOB_URL = `http://registry.example/v2/library/alpine/blobs/${DIGEST}`;
export const MiB = 1024 * 1024;

/** One arm of the AnnouncePeerRequest oneof, e.g. { case: "downloadPeerStarted", value: {} }. */
export type RequestInit = NonNullable<MessageInitShape<typeof AnnouncePeerRequestSchema>["request"]>;

/** An async iterable fed by push(), closed by end(): the request side of a bidi stream. */
class RequestQueue implements AsyncIterable<AnnouncePeerRequest> {
  private readonly items: AnnouncePeerRequest[] = [];
  private wake: (() => void) | undefined;
  private ended = false;

  push(item: AnnouncePeerRequest): void {
    this.items.push(item);
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<AnnouncePeerRequest> {
    for (;;) {
      const item = this.items.shift();
      if (item) {
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

/** One AnnouncePeer stream driven step by step, like a daemon would. */
export class PeerStream {
  private readonly requests = new RequestQueue();
  private readonly responses: AsyncIterator<AnnouncePeerResponse>;

  constructor(
    client: SchedulerClient,
    readonly hostId: string,
    readonly peerId: string,
    readonly taskId = TASK,
  ) {
    this.responses = client.announcePeer(this.requests)[Symbol.asyncIterator]();
  }

  send(request: RequestInit): void {
    this.requests.push(
      create(AnnouncePeerRequestSchema, { hostId: this.hostId, taskId: this.taskId, peerId: this.peerId, request }),
    );
  }

  async next(): Promise<AnnouncePeerResponse> {
    const result = await this.responses.next();
    if (result.done) throw new Error("stream ended without a response");
    return result.value;
  }

  /** Registers and returns the scheduler's answer. */
  async register(
    download: { needBackToSource?: boolean; requestHeader?: Record<string, string> } = {},
    pieces: number[] = [],
  ): Promise<AnnouncePeerResponse> {
    this.send({
      case: "registerPeer",
      value: {
        download: { url: BLOB_URL, digest: DIGEST, ...download },
        pieces: pieces.map((number) => ({ number, length: BigInt(4 * MiB), digest: `crc32:${number}` })),
      },
    });
    return this.next();
  }

  /** Reports a piece; parent is the parent's host id ("" = from the origin). */
  piece(number: number, parentHostId = ""): void {
    const piece = { number, length: BigInt(4 * MiB), digest: `crc32:${number}`, parentId: parentHostId };
    if (parentHostId) this.send({ case: "downloadPieceFinished", value: { piece } });
    else this.send({ case: "downloadPieceBackToSourceFinished", value: { piece } });
  }

  /** Closes the request side and waits for the server to end the stream. */
  async end(): Promise<void> {
    this.requests.end();
    for (let index = 0; index < 100; index++) {
      const result = await this.responses.next();
      if (result.done) return;
    }
  }
}

export function parentIds(response: AnnouncePeerResponse): string[] {
  if (response.response.case !== "normalTask") {
    throw new Error(`expected normal_task, got ${response.response.case}`);
  }
  return response.response.value.candidateParents.map((parent) => parent.peerId);
}

/** Waits until the server side has processed what was sent (pushes are handled asynchronously). */
export async function until(check: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
