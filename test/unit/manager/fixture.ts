import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { validateConfig } from "@d7y/config";
import {
  type Manager,
  type ManagerConfigInput,
  type ManagerDeps,
  managerConfigSchema,
  startManager,
} from "@d7y/manager";
import { createSilentLogger } from "@d7y/observability";
import { type KeepAliveRequestSchema, ManagerService, SourceType } from "@d7y/proto/manager/v1";
import { createRpcClient } from "@d7y/rpc";
import type { FakeDaemon } from "./fake-daemons.js";

export type ManagerClient = Client<typeof ManagerService>;

export interface ApiResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field in the tests.
  json: any;
  text: string;
}

/** One REST call; `body` is sent as JSON unless it is already a string. */
export async function api(
  baseUrl: string,
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  const response = await fetch(`${baseUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

/** Polls until `check` returns a value (bounded by `timeoutMs`). */
export async function waitFor<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface TestManager {
  manager: Manager;
  dataDir: string;
  url: string;
  rpc: ManagerClient;
  api(
    method: string,
    path: string,
    options?: { body?: unknown; headers?: Record<string, string> },
  ): Promise<ApiResponse>;
  /** Waits until the job is in one of `states` (final states by default) and returns it. */
  waitForJob(id: number, states?: string[]): Promise<ApiResponse["json"]>;
  stop(): Promise<void>;
}

/** The real manager on loopback ports 0 with a temp data dir (or the given one, for restarts). */
export async function startTestManager(
  options: { dataDir?: string; config?: ManagerConfigInput; deps?: Partial<ManagerDeps> } = {},
): Promise<TestManager> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "d7y-manager-")));
  const config = validateConfig(managerConfigSchema, {
    host: "127.0.0.1",
    port: 0,
    rpcHost: "127.0.0.1",
    rpcPort: 0,
    metricsHost: "127.0.0.1",
    metricsPort: 0,
    dataDir,
    logLevel: "silent",
    ...options.config,
  });
  const manager = await startManager(config, { logger: createSilentLogger(), ...options.deps });
  const call: TestManager["api"] = (method, path, callOptions) => api(manager.restUrl, method, path, callOptions);
  return {
    manager,
    dataDir,
    url: manager.restUrl,
    rpc: createRpcClient(ManagerService, manager.rpcUrl),
    api: call,
    waitForJob: (id, states = ["SUCCESS", "FAILURE"]) =>
      waitFor(
        async () => {
          const response = await call("GET", `/api/v1/jobs/${id}`);
          return states.includes(response.json?.state) ? response.json : undefined;
        },
        `job ${id} to be ${states.join(" or ")}`,
      ),
    stop: () => manager.stop(),
  };
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export interface KeepAliveStream {
  /** Sends the request again (what a scheduler does every interval). */
  send(): void;
  /** Ends the stream (the instance becomes inactive); resolves with the call's outcome. */
  close(): Promise<unknown>;
}

/** Opens a KeepAlive client stream that sends one message, then one per send(), until close(). */
export function keepAlive(
  rpc: ManagerClient,
  request: MessageInitShape<typeof KeepAliveRequestSchema>,
): KeepAliveStream {
  let pending = 1;
  let ended = false;
  let wake: (() => void) | undefined;
  async function* messages() {
    // Ends with close(): each pass sends what is pending, then waits for send() or close().
    while (!ended || pending > 0) {
      for (; pending > 0; pending--) yield request;
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  }
  const call = rpc.keepAlive(messages()).then(
    (response) => response,
    (error: unknown) => error,
  );
  return {
    send: () => {
      pending++;
      wake?.();
    },
    close: async () => {
      ended = true;
      wake?.();
      return call;
    },
  };
}

/** Registers a fake daemon as a seed peer of `clusterId` and keeps it alive; resolves once it is active. */
export async function registerSeed(test: TestManager, daemon: FakeDaemon, clusterId = 0): Promise<KeepAliveStream> {
  await test.rpc.updateSeedPeer({
    hostname: daemon.hostname,
    ip: "127.0.0.1",
    port: daemon.port,
    downloadPort: 4005,
    clusterId: BigInt(clusterId),
    hostId: daemon.hostId,
  });
  const stream = keepAlive(test.rpc, {
    sourceType: SourceType.SEED_PEER,
    hostname: daemon.hostname,
    ip: "127.0.0.1",
    port: daemon.port,
    clusterId: BigInt(clusterId),
  });
  await waitFor(async () => {
    const seeds = (await test.api("GET", "/api/v1/seed-peers?per_page=1000")).json as Array<{
      hostname: string;
      state: string;
    }>;
    return seeds.some((seed) => seed.hostname === daemon.hostname && seed.state === "active") ? true : undefined;
  }, `seed ${daemon.hostname} to be active`);
  return stream;
}
