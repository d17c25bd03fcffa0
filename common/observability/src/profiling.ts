/**
 * Dragonfly-style profiling endpoint (its `pprofPort`), for Node: V8 CPU profiles, sampling heap profiles
 * and full heap snapshots over HTTP, one at a time per process. Every profile uses its own inspector
 * Session, disconnected afterwards, so it also works when the process runs with --inspect.
 */
import http from "node:http";
import type { Session } from "node:inspector/promises";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import v8 from "node:v8";
import { type Component, closeServer, listen } from "@d7y/lifecycle";
import type { Logger } from "pino";

/** How long a profile response may stall (the client reads nothing) before its socket is closed. */
const IDLE_RESPONSE_MS = 60_000;

/**
 * Once the answer is being written: a client that stops reading must not hold the (process-wide)
 * profiling lock, so a response socket idle for IDLE_RESPONSE_MS is cut, as if the client went away.
 * (Not while profiling: a 300 s profile writes nothing until it ends.)
 */
function stallLimit(res: http.ServerResponse): void {
  res.setTimeout(IDLE_RESPONSE_MS, () => res.destroy());
}

export interface ProfilingServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Names the downloaded files (`<name>-<timestamp>.cpuprofile`); default "node". */
  name?: string;
  /** Gets the listening address and each profile taken (debug); default silent. */
  logger?: Logger;
}

export interface ProfilingServer {
  readonly port: number;
  /** http://host:port/debug/pprof/ (loopback when listening on every address). */
  readonly url: string;
  close(): Promise<void>;
}

export const PPROF_PREFIX = "/debug/pprof/";
/** `?seconds=` of the CPU and heap profiles: default and bounds. */
export const PROFILE_SECONDS = { default: 10, min: 1, max: 300 } as const;

const INDEX = `d7y profiling endpoint (Node.js / V8)

GET ${PPROF_PREFIX}profile?seconds=N      CPU profile over N seconds (default ${PROFILE_SECONDS.default}, ${PROFILE_SECONDS.min}..${PROFILE_SECONDS.max}), .cpuprofile JSON
GET ${PPROF_PREFIX}heap?seconds=N         sampling heap profile over N seconds (default ${PROFILE_SECONDS.default}), .heapprofile JSON
GET ${PPROF_PREFIX}heapsnapshot           full heap snapshot (pauses the process while it is taken), .heapsnapshot

Open the files in Chrome DevTools (Performance / Memory tabs) or https://www.speedscope.app.
One profile at a time: a request while another runs gets 409.
`;

/** Held while a profile or snapshot is taken: V8 profiling is process-wide, so one at a time per process. */
let busy: string | undefined;

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function parseSeconds(value: string | null): number {
  if (value === null) return PROFILE_SECONDS.default;
  if (!/^\d+$/.test(value)) throw new HttpProblem(400, `seconds must be an integer, got "${value}"`);
  const seconds = Number(value);
  if (seconds < PROFILE_SECONDS.min || seconds > PROFILE_SECONDS.max) {
    throw new HttpProblem(400, `seconds must be between ${PROFILE_SECONDS.min} and ${PROFILE_SECONDS.max}`);
  }
  return seconds;
}

function timestamp(): string {
  // 2024-05-01T12:34:56.789Z -> 20240501T123456Z
  return new Date()
    .toISOString()
    .replace(/\.\d+Z$/, "Z")
    .replace(/[-:]/g, "");
}

function sendText(res: http.ServerResponse, status: number, text: string, headers: http.OutgoingHttpHeaders = {}) {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function attachment(name: string, extension: string): http.OutgoingHttpHeaders {
  return {
    "content-type": "application/json",
    "content-disposition": `attachment; filename="${name}-${timestamp()}.${extension}"`,
    "cache-control": "no-store",
  };
}

/** Aborted when the client goes away before the response is complete. */
function clientGone(res: http.ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** Runs `profile` in a fresh, connected inspector session and always disconnects it. */
async function withSession<T>(profile: (session: Session) => Promise<T>): Promise<T> {
  const { Session } = await import("node:inspector/promises");
  const session = new Session();
  session.connect();
  try {
    return await profile(session);
  } finally {
    session.disconnect();
  }
}

/** Waits `seconds`; resolves false when the client went away first. */
async function waitFor(seconds: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(seconds * 1000, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

async function cpuProfile(seconds: number, signal: AbortSignal): Promise<unknown> {
  return withSession(async (session) => {
    await session.post("Profiler.enable");
    let started = false;
    try {
      await session.post("Profiler.start");
      started = true;
      if (!(await waitFor(seconds, signal))) return undefined;
      const { profile } = await session.post("Profiler.stop");
      started = false;
      return profile;
    } finally {
      if (started) await session.post("Profiler.stop").catch(() => undefined);
      await session.post("Profiler.disable").catch(() => undefined);
    }
  });
}

async function heapProfile(seconds: number, signal: AbortSignal): Promise<unknown> {
  return withSession(async (session) => {
    let started = false;
    try {
      await session.post("HeapProfiler.startSampling");
      started = true;
      if (!(await waitFor(seconds, signal))) return undefined;
      const { profile } = await session.post("HeapProfiler.stopSampling");
      started = false;
      return profile;
    } finally {
      if (started) await session.post("HeapProfiler.stopSampling").catch(() => undefined);
    }
  });
}

type Route = "index" | "profile" | "heap" | "heapsnapshot";

function route(path: string): Route | undefined {
  if (path === PPROF_PREFIX || path === PPROF_PREFIX.slice(0, -1)) return "index";
  const name = path.startsWith(PPROF_PREFIX) ? path.slice(PPROF_PREFIX.length) : undefined;
  return name === "profile" || name === "heap" || name === "heapsnapshot" ? name : undefined;
}

async function handle(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  name: string,
  logger: Logger | undefined,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://pprof");
  const target = route(url.pathname);
  if (!target) {
    sendText(res, 404, `not found: see GET ${PPROF_PREFIX}\n`);
    return;
  }
  if (req.method !== "GET") {
    sendText(res, 405, `method not allowed: ${url.pathname} answers GET only\n`, { allow: "GET" });
    return;
  }
  if (target === "index") {
    sendText(res, 200, INDEX);
    return;
  }
  const seconds = target === "heapsnapshot" ? 0 : parseSeconds(url.searchParams.get("seconds"));
  if (busy) throw new HttpProblem(409, `a ${busy} is already being taken; try again when it is done`);
  busy = target === "profile" ? "CPU profile" : target === "heap" ? "heap profile" : "heap snapshot";
  const signal = clientGone(res);
  const began = Date.now();
  try {
    logger?.debug({ profile: target, seconds }, "profiling");
    if (target === "heapsnapshot") {
      const snapshot = v8.getHeapSnapshot();
      stallLimit(res);
      res.writeHead(200, attachment(name, "heapsnapshot"));
      try {
        await pipeline(snapshot, res);
      } catch (error) {
        if (!signal.aborted) throw error;
        logger?.debug({ profile: target }, "heap snapshot stopped: the client went away");
        return;
      }
    } else {
      const profile = target === "profile" ? await cpuProfile(seconds, signal) : await heapProfile(seconds, signal);
      if (profile === undefined || signal.aborted) {
        logger?.debug({ profile: target }, "profiling stopped: the client went away");
        return;
      }
      const body = JSON.stringify(profile);
      stallLimit(res);
      res.writeHead(200, {
        ...attachment(name, target === "profile" ? "cpuprofile" : "heapprofile"),
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
    }
    logger?.debug({ profile: target, ms: Date.now() - began }, "profile served");
  } finally {
    busy = undefined;
  }
}

/** Serves the profiling endpoints under /debug/pprof/; never lets a failure reach the process. */
export async function startProfilingServer(options: ProfilingServerOptions): Promise<ProfilingServer> {
  const name = options.name ?? "node";
  const logger = options.logger;
  const server = http.createServer((req, res) => {
    handle(req, res, name, logger).catch((error: unknown) => {
      if (error instanceof HttpProblem) {
        sendText(res, error.status, `${error.message}\n`);
        return;
      }
      logger?.warn({ err: error }, "profiling failed");
      if (res.headersSent) res.destroy();
      else sendText(res, 500, `profiling failed: ${(error as Error)?.message ?? String(error)}\n`);
    });
  });
  server.on("clientError", (_error, socket) => socket.destroy());
  await listen(server, options.port, options.host);
  const port = (server.address() as AddressInfo).port;
  const host = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}${PPROF_PREFIX}`;
  logger?.info({ url, host: options.host, port }, "profiling endpoint listening");
  return { port, url, close: () => closeServer(server) };
}

/** The profiling server as a supervised component (`name` "pprof"); `url` and `port` are known once started. */
export class ProfilingEndpoint implements Component {
  readonly name = "pprof";
  private server: ProfilingServer | undefined;

  constructor(private readonly options: ProfilingServerOptions) {}

  get url(): string | undefined {
    return this.server?.url;
  }

  get port(): number | undefined {
    return this.server?.port;
  }

  async start(): Promise<void> {
    this.server ??= await startProfilingServer(this.options);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.close();
  }
}

/**
 * The profiling endpoint of a component configured with Dragonfly's `pprofPort` (-1: none) and a host,
 * or undefined when it is off.
 */
export function profilingEndpointFor(
  name: string,
  config: { pprofHost: string; pprofPort: number },
  logger: Logger,
): ProfilingEndpoint | undefined {
  if (config.pprofPort < 0) return undefined;
  return new ProfilingEndpoint({
    host: config.pprofHost,
    port: config.pprofPort,
    name,
    logger: logger.child({ component: "pprof" }),
  });
}
