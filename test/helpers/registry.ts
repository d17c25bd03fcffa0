/**
 * A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution 2.8) with filesystem
 * storage in a temp dir, on 127.0.0.1, behind a small counting HTTP proxy that forwards every request
 * unchanged and records what was served.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, open, rm, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { run, spawnTracked, type TrackedProcess, waitFor } from "./processes.js";

export interface RegistryAuth {
  username: string;
  password: string;
}

export interface StartRegistryOptions {
  /** Require HTTP Basic auth (htpasswd, bcrypt). */
  auth?: RegistryAuth;
  /** Run as a pull-through cache of another registry (`proxy.remoteurl`). */
  proxy?: { remoteUrl: string; username?: string; password?: string };
  /** Mirror the registry's log to stderr. */
  echo?: boolean;
}

/** One request seen by the counting proxy. Fields are filled in as the exchange progresses. */
export interface RecordedRequest {
  method: string;
  /** Path and query, as sent by the client. */
  path: string;
  /** Response status; 0 until the registry answered, 502 if it could not be reached. */
  status: number;
  /** Response body bytes forwarded to the client so far. */
  bytes: number;
  /** The request's Range header, if any. */
  range?: string;
  /** Whether the request carried an Authorization header. */
  authorized: boolean;
  userAgent?: string;
  /** True once the response has been fully sent (or the exchange aborted). */
  done: boolean;
  /** True if the client or the registry went away before the end of the response. */
  aborted: boolean;
  startedAt: number;
  durationMs?: number;
}

export interface TestRegistry {
  /** `http://127.0.0.1:FRONTPORT`: the counting proxy. */
  readonly url: string;
  /** `127.0.0.1:FRONTPORT`. */
  readonly host: string;
  /** `http://127.0.0.1:PORT` of docker-registry itself (bypasses the counters). */
  readonly directUrl: string;
  /** `127.0.0.1:PORT` of docker-registry itself. */
  readonly directHost: string;
  /** Storage root of the registry (filesystem driver). */
  readonly storageDir: string;
  readonly auth?: RegistryAuth;
  /** Every request that reached the front, in arrival order (cleared in place by reset()). */
  readonly requests: RecordedRequest[];
  /** GET requests on `/v2/<repo>/blobs/<digest>` (any status), optionally for one digest. */
  blobGets(digest?: string): RecordedRequest[];
  /** Body bytes of successful (2xx) blob GETs for `digest` sent to clients. */
  blobBytes(digest: string): number;
  /** GET/HEAD requests on `/v2/<repo>/manifests/<ref>`. */
  manifestRequests(ref?: string): RecordedRequest[];
  /** Resolves once no recorded exchange is in flight (bounded). */
  settled(timeoutMs?: number): Promise<void>;
  /** Forgets the recorded requests. */
  reset(): void;
  /** Path of the stored data file of a blob. */
  blobPath(digest: string): string;
  /**
   * Flips bytes in the stored blob data (same size): the registry then serves content that does
   * not match its digest (it does not verify on read).
   */
  corruptBlob(digest: string): Promise<void>;
  /** Basic auth header value for the configured credentials (undefined without auth). */
  authorization(): string | undefined;
  /** The tail of docker-registry's log. */
  output(): string;
  readonly pid: number;
  stop(): Promise<void>;
}

const BLOB_PATH = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})(?:\?.*)?$/;
const MANIFEST_PATH = /^\/v2\/(.+)\/manifests\/([^?]+)(?:\?.*)?$/;

function blobDigestOf(path: string): string | undefined {
  return BLOB_PATH.exec(path)?.[2];
}

function checkDigest(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new Error(`not a sha256 digest: ${digest}`);
  return m[1]!;
}

function yamlString(s: string): string {
  return JSON.stringify(s);
}

async function htpasswdLine(auth: RegistryAuth): Promise<string> {
  const r = await run("htpasswd", ["-Bbn", auth.username, auth.password], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`htpasswd failed (${r.code}): ${r.stderr}`);
  return r.stdout.trim();
}

/** Starts docker-registry and its counting front proxy; waits until `GET /v2/` answers 200 or 401. */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), "d7y-reg-"));
  const storageDir = join(dir, "data");
  let registry: TrackedProcess | undefined;
  let front: http.Server | undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  try {
    const lines = [
      "version: 0.1",
      "log:",
      "  level: info",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${yamlString(storageDir)}`,
      "  delete:",
      "    enabled: true",
      "  maintenance:",
      "    uploadpurging:",
      "      enabled: false",
      "http:",
      // Port 0: the kernel picks a free port and the registry logs "listening on 127.0.0.1:PORT".
      "  addr: 127.0.0.1:0",
      `  secret: ${yamlString(randomBytes(16).toString("hex"))}`,
    ];
    if (opts.auth) {
      const htpasswdFile = join(dir, "htpasswd");
      await writeFile(htpasswdFile, `${await htpasswdLine(opts.auth)}\n`, { mode: 0o600 });
      lines.push("auth:", "  htpasswd:", "    realm: d7y-test-registry", `    path: ${yamlString(htpasswdFile)}`);
    }
    if (opts.proxy) {
      lines.push("proxy:", `  remoteurl: ${yamlString(opts.proxy.remoteUrl)}`);
      if (opts.proxy.username !== undefined) lines.push(`  username: ${yamlString(opts.proxy.username)}`);
      if (opts.proxy.password !== undefined) lines.push(`  password: ${yamlString(opts.proxy.password)}`);
    }
    const configFile = join(dir, "config.yml");
    await writeFile(configFile, `${lines.join("\n")}\n`);

    let listening: number | undefined;
    registry = spawnTracked("/usr/bin/docker-registry", ["serve", configFile], {
      name: "docker-registry",
      echo: opts.echo,
      onLine: (line) => {
        const m = /msg="listening on 127\.0\.0\.1:(\d+)"/.exec(line);
        if (m && listening === undefined) listening = Number(m[1]);
      },
    });
    const reg = registry;
    const directPort = await waitFor(
      () => {
        if (!reg.isRunning()) throw new Error(`docker-registry exited: ${reg.output().slice(-2000)}`);
        return listening;
      },
      { what: "docker-registry to listen", timeoutMs: 15_000, intervalMs: 20 },
    );
    const directHost = `127.0.0.1:${directPort}`;
    const directUrl = `http://${directHost}`;

    const requests: RecordedRequest[] = [];
    const inFlight = new Set<RecordedRequest>();
    const finish = (rec: RecordedRequest, aborted: boolean): void => {
      if (rec.done) return;
      rec.done = true;
      rec.aborted = aborted;
      rec.durationMs = Date.now() - rec.startedAt;
      inFlight.delete(rec);
    };

    front = http.createServer((req, res) => {
      const rec: RecordedRequest = {
        method: req.method ?? "GET",
        path: req.url ?? "/",
        status: 0,
        bytes: 0,
        range: typeof req.headers.range === "string" ? req.headers.range : undefined,
        authorized: req.headers.authorization !== undefined,
        userAgent: req.headers["user-agent"],
        done: false,
        aborted: false,
        startedAt: Date.now(),
      };
      requests.push(rec);
      inFlight.add(rec);
      // Forward unchanged: same method, path, and raw headers (Host included, so that the
      // registry's Location headers point back to the front).
      const upstream = http.request({
        host: "127.0.0.1",
        port: directPort,
        method: req.method,
        path: req.url,
        headers: req.rawHeaders,
        agent,
        setHost: false,
      });
      upstream.on("response", (up) => {
        rec.status = up.statusCode ?? 0;
        res.writeHead(up.statusCode ?? 502, up.statusMessage, up.rawHeaders);
        up.on("data", (chunk: Buffer) => {
          rec.bytes += chunk.length;
          if (!res.write(chunk)) {
            up.pause();
            res.once("drain", () => up.resume());
          }
        });
        up.on("end", () => {
          res.end(() => finish(rec, false));
        });
        up.on("error", () => {
          finish(rec, true);
          res.destroy();
        });
        up.on("close", () => {
          if (!up.complete) {
            finish(rec, true);
            res.destroy();
          }
        });
      });
      upstream.on("error", (err) => {
        if (rec.status === 0) {
          rec.status = 502;
          if (!res.headersSent) {
            res.writeHead(502, { "content-type": "text/plain" });
            res.end(`counting proxy: ${err.message}\n`);
          }
        } else {
          res.destroy();
        }
        finish(rec, true);
      });
      req.on("error", () => upstream.destroy());
      res.on("close", () => {
        if (!rec.done) {
          // The client went away before the end of the response.
          finish(rec, true);
          upstream.destroy();
        }
      });
      req.pipe(upstream);
    });
    front.keepAliveTimeout = 30_000;
    front.listen(0, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      front!.once("listening", resolve);
      front!.once("error", reject);
    });
    const frontPort = (front.address() as AddressInfo).port;
    const host = `127.0.0.1:${frontPort}`;
    const url = `http://${host}`;

    await waitFor(
      async () => {
        const r = await request(`${url}/v2/`, { method: "GET", headersTimeout: 2000, bodyTimeout: 2000 });
        await r.body.dump();
        return r.statusCode === 200 || r.statusCode === 401;
      },
      { what: "docker-registry GET /v2/ (200 or 401)", timeoutMs: 15_000, intervalMs: 50 },
    );
    requests.length = 0;

    const blobPath = (digest: string): string => {
      const hex = checkDigest(digest);
      return join(storageDir, "docker", "registry", "v2", "blobs", "sha256", hex.slice(0, 2), hex, "data");
    };
    const blobGets = (digest?: string): RecordedRequest[] =>
      requests.filter((r) => {
        if (r.method !== "GET") return false;
        const d = blobDigestOf(r.path);
        return d !== undefined && (digest === undefined || d === digest);
      });
    const stopFront = front;
    const stopRegistry = registry;
    let stopped = false;
    return {
      url,
      host,
      directUrl,
      directHost,
      storageDir,
      auth: opts.auth,
      requests,
      pid: registry.pid,
      blobGets,
      blobBytes: (digest) =>
        blobGets(digest)
          .filter((r) => r.status >= 200 && r.status < 300)
          .reduce((sum, r) => sum + r.bytes, 0),
      manifestRequests: (ref) =>
        requests.filter((r) => {
          if (r.method !== "GET" && r.method !== "HEAD") return false;
          const m = MANIFEST_PATH.exec(r.path);
          return m !== null && (ref === undefined || m[2] === ref);
        }),
      settled: async (timeoutMs = 10_000) => {
        await waitFor(() => inFlight.size === 0, {
          what: `counting proxy: ${inFlight.size} request(s) in flight to finish`,
          timeoutMs,
          intervalMs: 10,
        });
      },
      reset: () => {
        requests.length = 0;
      },
      blobPath,
      corruptBlob: async (digest) => {
        const path = blobPath(digest);
        const { size } = await stat(path);
        if (size === 0) throw new Error(`corruptBlob: ${digest} is empty`);
        const fh = await open(path, "r+");
        try {
          // Flip a few bytes at the start, the middle and the end (the size does not change).
          const offsets = [...new Set([0, Math.floor(size / 2), size - 1])];
          for (const offset of offsets) {
            const buf = Buffer.alloc(1);
            await fh.read(buf, 0, 1, offset);
            buf[0] = buf[0]! ^ 0xff;
            await fh.write(buf, 0, 1, offset);
          }
          await fh.sync();
        } finally {
          await fh.close();
        }
      },
      authorization: () =>
        opts.auth
          ? `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString("base64")}`
          : undefined,
      output: () => stopRegistry.output(),
      stop: async () => {
        if (stopped) return;
        stopped = true;
        stopFront.closeAllConnections();
        await new Promise<void>((resolve) => stopFront.close(() => resolve()));
        agent.destroy();
        await stopRegistry.stop("SIGTERM", 5000);
        await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      },
    };
  } catch (err) {
    front?.closeAllConnections();
    front?.close();
    agent.destroy();
    await registry?.stop("SIGKILL", 2000);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    throw err;
  }
}
