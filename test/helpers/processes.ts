/**
 * Process helpers for tests: free ports, tracked child processes, bounded polling and a
 * run-to-completion helper with a hard timeout.
 *
 * Every process spawned here is recorded by PID in a module-level set. `stop()` ends it
 * (SIGTERM, then SIGKILL), and a last-chance `exit` hook SIGKILLs whatever a test forgot.
 */
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** PIDs of live processes started by this module. */
const live = new Map<number, ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const [pid, child] of live) {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
  });
}

/** PIDs of processes started by these helpers that have not exited yet (for leak checks). */
export function livePids(): number[] {
  return [...live.keys()];
}

const PROXY_VARS = ["http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "no_proxy"];

/**
 * process.env without any proxy settings, plus `extra`: child processes then dial loopback
 * addresses directly. The default env of spawnTracked() and run(). (It does not set NO_PROXY=*:
 * curl applies NO_PROXY to an explicit `-x` proxy too.)
 */
export function loopbackEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!PROXY_VARS.includes(k.toLowerCase())) env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * Ports are taken below the kernel's ephemeral range, so an outgoing connection made by some process in
 * the meantime can never take a port a test picked before the process it is meant for binds it; and a port
 * is handed out once per test process.
 */
const handedOut = new Set<number>();
const LOWEST_PORT = 20_000;

function ephemeralStart(): number {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    const value = Number(low);
    return Number.isInteger(value) && value > LOWEST_PORT + 1000 ? value : 32_768;
  } catch {
    return 32_768;
  }
}

async function canBind(port: number): Promise<boolean> {
  const server = createServer();
  try {
    server.listen(port, "0.0.0.0");
    await once(server, "listening");
    return true;
  } catch {
    return false;
  } finally {
    if (server.listening) {
      server.close();
      await once(server, "close");
    }
  }
}

/**
 * `count` consecutive TCP ports (default 1) that were free a moment ago, below the ephemeral range;
 * returns the first. Bind them soon.
 */
export async function freePortBlock(count: number): Promise<number> {
  const high = ephemeralStart() - count;
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = LOWEST_PORT + Math.floor(Math.random() * (high - LOWEST_PORT));
    const ports = Array.from({ length: count }, (_, i) => base + i);
    if (ports.some((port) => handedOut.has(port))) continue;
    let free = true;
    for (const port of ports) {
      if (!(await canBind(port))) {
        free = false;
        break;
      }
    }
    if (!free) continue;
    for (const port of ports) handedOut.add(port);
    return base;
  }
  throw new Error(`freePortBlock: no ${count} free consecutive ports below ${high + count} after 200 attempts`);
}

/** A TCP port that was free a moment ago (bind to it soon; prefer port 0 where possible). */
export async function freePort(): Promise<number> {
  return freePortBlock(1);
}

/** Keeps the last `limit` characters of a stream of text. */
class Tail {
  private chunks: string[] = [];
  private length = 0;
  constructor(private readonly limit: number) {}
  push(text: string): void {
    this.chunks.push(text);
    this.length += text.length;
    while (this.length > this.limit && this.chunks.length > 1) {
      this.length -= this.chunks.shift()!.length;
    }
    if (this.length > this.limit) {
      const only = this.chunks[0]!.slice(-this.limit);
      this.chunks = [only];
      this.length = only.length;
    }
  }
  toString(): string {
    return this.chunks.join("");
  }
}

export interface SpawnTrackedOptions {
  cwd?: string;
  /** Default: loopbackEnv(). */
  env?: NodeJS.ProcessEnv;
  /** Name used in error messages (default: the command). */
  name?: string;
  /** How many characters of combined stdout+stderr to keep (default 256 KiB). */
  outputLimit?: number;
  /** Called with every chunk of output (stdout and stderr), e.g. to wait for a log line. */
  onOutput?: (text: string) => void;
  /** Called with every complete line of output (stdout and stderr buffered separately). */
  onLine?: (line: string) => void;
  /** Mirror the output to this process' stderr (debugging), default false. */
  echo?: boolean;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface TrackedProcess {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly name: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  isRunning(): boolean;
  /** Sends `signal` (default SIGTERM), waits up to `timeoutMs` (default 5000), then SIGKILLs. Idempotent. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitStatus>;
  /** The tail of the combined stdout+stderr. */
  output(): string;
}

/** Spawns a process (no shell) whose stdout/stderr are captured, and records it by PID. */
export function spawnTracked(cmd: string, args: readonly string[], opts: SpawnTrackedOptions = {}): TrackedProcess {
  installExitHook();
  const name = opts.name ?? cmd;
  const spawnOptions: SpawnOptions = {
    cwd: opts.cwd,
    env: opts.env ?? loopbackEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  };
  const proc = spawn(cmd, args, spawnOptions);
  if (proc.pid === undefined) {
    // spawn failures (ENOENT...) are reported asynchronously; surface them as a throw here.
    proc.on("error", () => {});
    throw new Error(`${name}: failed to spawn ${cmd}`);
  }
  const pid = proc.pid;
  live.set(pid, proc);
  const tail = new Tail(opts.outputLimit ?? 256 * 1024);
  const onLine = opts.onLine;
  const listen = (stream: NodeJS.ReadableStream | null): void => {
    if (!stream) return;
    let partial = "";
    // setEncoding: multi-byte characters split across chunks are decoded correctly.
    stream.setEncoding("utf8");
    stream.on("data", (text: string) => {
      tail.push(text);
      if (opts.echo) process.stderr.write(`[${name}] ${text}`);
      opts.onOutput?.(text);
      if (!onLine) return;
      const lines = (partial + text).split("\n");
      partial = lines.pop() ?? "";
      if (partial.length > 64 * 1024) {
        // A "line" that never ends is cut at 64 KiB.
        lines.push(partial);
        partial = "";
      }
      for (const line of lines) onLine(line);
    });
  };
  listen(proc.stdout);
  listen(proc.stderr);
  const exited = new Promise<ExitStatus>((resolve) => {
    proc.once("exit", (code, signal) => {
      live.delete(pid);
      resolve({ code, signal });
    });
    proc.once("error", (err) => {
      tail.push(`\n[spawn error] ${err.message}\n`);
      if (proc.exitCode === null && proc.signalCode === null && proc.pid === undefined) {
        live.delete(pid);
        resolve({ code: null, signal: null });
      }
    });
  });
  const isRunning = (): boolean => proc.exitCode === null && proc.signalCode === null;
  const stop = async (signal: NodeJS.Signals = "SIGTERM", timeoutMs = 5000): Promise<ExitStatus> => {
    if (isRunning()) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
      const timer = sleep(timeoutMs, "timeout" as const);
      const first = await Promise.race([exited, timer]);
      if (first === "timeout" && isRunning()) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    return await exited;
  };
  return { proc, pid, name, exited, isRunning, stop, output: () => tail.toString() };
}

export interface WaitForOptions {
  /** Total time budget (default 10 s). */
  timeoutMs?: number;
  /** Pause between attempts (default 50 ms). */
  intervalMs?: number;
  /** What is being waited for, named in the timeout error. */
  what: string;
  /** Upper bound on attempts (default: derived from timeoutMs / intervalMs, plus a margin). */
  maxAttempts?: number;
}

/**
 * Calls `fn` until it returns a value other than `undefined`, `null` or `false` (that value is
 * returned). A throwing `fn` counts as "not yet"; its last error is quoted in the timeout error.
 * Bounded both in time and in attempts.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  opts: WaitForOptions,
): Promise<Exclude<T, undefined | null | false>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = Math.max(1, opts.intervalMs ?? 50);
  const maxAttempts = opts.maxAttempts ?? Math.ceil(timeoutMs / intervalMs) + 10;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let attempts = 0;
  while (attempts < maxAttempts) {
    attempts++;
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false)
        return value as Exclude<T, undefined | null | false>;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
  const detail =
    lastError === undefined
      ? ""
      : `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
  throw new Error(`timed out waiting for ${opts.what} (${timeoutMs} ms, ${attempts} attempts)${detail}`);
}

export interface RunOptions {
  cwd?: string;
  /** Default: loopbackEnv(). */
  env?: NodeJS.ProcessEnv;
  /** Hard limit; the process is SIGKILLed and run() rejects when it is exceeded (default 60 s). */
  timeoutMs?: number;
  /** Written to stdin, which is then closed (default: stdin is /dev/null). */
  input?: string | Buffer;
  /** Maximum characters of stdout and of stderr kept, each (default 16 MiB); beyond it the head is kept. */
  maxOutput?: number;
  /** Receives stdout as it streams (then `stdout` in the result stays empty), e.g. to hash it. */
  onStdout?: (chunk: Buffer) => void;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** Runs a command to completion (no shell). Resolves with its exit status whatever it is; rejects on timeout. */
export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  installExitHook();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const maxOutput = opts.maxOutput ?? 16 * 1024 * 1024;
  const started = Date.now();
  const proc = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? loopbackEnv(),
    stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  const pid = proc.pid;
  if (pid !== undefined) live.set(pid, proc);
  let stdout = "";
  let stderr = "";
  const onStdout = opts.onStdout;
  if (onStdout) proc.stdout?.on("data", (c: Buffer) => onStdout(c));
  else
    proc.stdout?.setEncoding("utf8").on("data", (s: string) => {
      if (stdout.length < maxOutput) stdout += s.slice(0, maxOutput - stdout.length);
    });
  proc.stderr?.setEncoding("utf8").on("data", (s: string) => {
    if (stderr.length < maxOutput) stderr += s.slice(0, maxOutput - stderr.length);
  });
  if (opts.input !== undefined && proc.stdin) {
    proc.stdin.on("error", () => {});
    proc.stdin.end(opts.input);
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      proc.once("error", reject);
      // "close" (not "exit") so that all of stdout/stderr has been read.
      proc.once("close", (c: number | null, s: NodeJS.Signals | null) => resolve([c, s]));
    });
    if (timedOut) {
      throw new Error(
        `${cmd} ${args.join(" ")}: timed out after ${timeoutMs} ms\nstdout: ${stdout.slice(-2000)}\nstderr: ${stderr.slice(-2000)}`,
      );
    }
    return { code, signal, stdout, stderr, durationMs: Date.now() - started };
  } finally {
    clearTimeout(timer);
    if (pid !== undefined) live.delete(pid);
  }
}
