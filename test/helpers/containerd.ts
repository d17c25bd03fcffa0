/**
 * A real containerd for tests, run as root with its own config, root, state and socket in a temp
 * dir, and `ctr` wrappers for pulls and content inspection. `ctr images pull` does its HTTP
 * fetching in the ctr process itself and reads `--hosts-dir DIR/<host:port>/hosts.toml`.
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loopbackEnv, type RunResult, run, spawnTracked, type TrackedProcess, waitFor } from "./processes.js";

export type Snapshotter = "overlayfs" | "native";

export interface StartContainerdOptions {
  /** Enable the CRI plugin (disabled by default). */
  cri?: boolean;
  /** With `cri`: the CRI registry `config_path` (a hosts dir of `<host:port>/hosts.toml`). */
  criHostsDir?: string;
  /** Default: overlayfs when its plugin loads in the temp dir, otherwise native. */
  snapshotter?: Snapshotter;
  /** Namespace used by the ctr wrappers (default "d7ytest"). */
  namespace?: string;
  /** Mirror containerd's log to stderr. */
  echo?: boolean;
  /**
   * Called with the path of the config file the helper wrote, before containerd starts: lets a test
   * edit it (e.g. with `d7y-daemon containerd-config --inject-config-path`).
   */
  beforeStart?: (configFile: string) => Promise<void>;
  /**
   * Run containerd inside this network namespace (`ip netns exec NS containerd ...`, which execs, so the
   * tracked PID is containerd's). Its registry traffic then leaves from that namespace; the socket is a
   * file and stays reachable from the test. Use the native snapshotter: `ip netns exec` also makes a
   * mount namespace, and overlay mounts made there are not visible to the cleanup.
   */
  netns?: string;
}

export interface PullOptions {
  /** `--hosts-dir`: a dir of `<host:port>/hosts.toml` files. */
  hostsDir?: string;
  /** e.g. "linux/amd64". */
  platform?: string;
  /** "user:password". */
  user?: string;
  plainHttp?: boolean;
  allPlatforms?: boolean;
  /** Hard limit for the ctr process (default 60 s). */
  timeoutMs?: number;
  /** Extra env for ctr. */
  env?: NodeJS.ProcessEnv;
}

export interface ContentInfo {
  digest: string;
  size: number;
}

export interface TestContainerd {
  /** Absolute path of the gRPC unix socket. */
  readonly socket: string;
  readonly root: string;
  readonly state: string;
  /** The temp dir holding everything. */
  readonly dir: string;
  readonly namespace: string;
  readonly snapshotter: Snapshotter;
  readonly pid: number;
  /** Runs `ctr -a SOCK -n NS ARGS...`. */
  ctr(args: readonly string[], opts?: { timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<RunResult>;
  /** `ctr images pull`; never throws on a non-zero exit (only on timeout). */
  pull(ref: string, opts?: PullOptions): Promise<RunResult>;
  /** `ctr images rm --sync REF`. */
  removeImage(ref: string): Promise<RunResult>;
  /** Image references known in the namespace. */
  images(): Promise<string[]>;
  /** Digests of every content blob (`ctr content ls -q`). */
  contentDigests(): Promise<string[]>;
  /** sha256 and size of the bytes `ctr content get DIGEST` returns, hashed as they stream. */
  readContent(digest: string): Promise<ContentInfo>;
  /** The tail of containerd's log. */
  output(): string;
  stop(): Promise<void>;
}

const DISABLED_PLUGINS = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
];

function toml(s: string): string {
  return JSON.stringify(s);
}

/** Mount points at or below `dir`, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile("/proc/self/mountinfo", "utf8");
  const points = text
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Starts containerd and waits until `ctr version` answers. */
export async function startContainerd(opts: StartContainerdOptions = {}): Promise<TestContainerd> {
  if (process.getuid?.() !== 0) throw new Error("startContainerd: containerd needs root");
  // Short paths: a unix socket path must stay under 108 bytes.
  const dir = await mkdtemp(join(tmpdir(), "d7y-ctd-"));
  const root = join(dir, "root");
  const state = join(dir, "state");
  const temp = join(dir, "tmp");
  const socket = join(dir, "c.sock");
  const namespace = opts.namespace ?? "d7ytest";
  let daemon: TrackedProcess | undefined;
  const cleanup = async (): Promise<void> => {
    await daemon?.stop("SIGTERM", 5000);
    for (const m of await mountsUnder(dir)) {
      await run("umount", ["-l", m], { timeoutMs: 10_000 }).catch(() => undefined);
    }
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };
  try {
    await mkdir(temp, { recursive: true });
    const disabled = [...DISABLED_PLUGINS, ...(opts.cri ? [] : ["io.containerd.grpc.v1.cri"])];
    const config = [
      "version = 2",
      `root = ${toml(root)}`,
      `state = ${toml(state)}`,
      `temp = ${toml(temp)}`,
      `disabled_plugins = [${disabled.map(toml).join(", ")}]`,
      "[grpc]",
      `  address = ${toml(socket)}`,
      "[ttrpc]",
      `  address = ${toml(`${socket}.ttrpc`)}`,
      "[debug]",
      '  level = "info"',
      "[metrics]",
      '  address = ""',
      '[plugins."io.containerd.gc.v1.scheduler"]',
      '  startup_delay = "100ms"',
    ];
    if (opts.cri) {
      config.push(
        '[plugins."io.containerd.grpc.v1.cri"]',
        "  disable_tcp_service = true",
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        '[plugins."io.containerd.grpc.v1.cri".cni]',
        `  conf_dir = ${toml(join(dir, "cni"))}`,
        `  bin_dir = ${toml(join(dir, "cni-bin"))}`,
        '[plugins."io.containerd.grpc.v1.cri".containerd]',
        `  snapshotter = ${toml(opts.snapshotter ?? "overlayfs")}`,
      );
      if (opts.criHostsDir) {
        config.push('[plugins."io.containerd.grpc.v1.cri".registry]', `  config_path = ${toml(opts.criHostsDir)}`);
      }
    }
    const configFile = join(dir, "config.toml");
    await writeFile(configFile, `${config.join("\n")}\n`);
    await opts.beforeStart?.(configFile);
    const containerdArgs = ["--config", configFile];
    daemon = opts.netns
      ? spawnTracked("ip", ["netns", "exec", opts.netns, "/usr/bin/containerd", ...containerdArgs], {
          name: `containerd (${opts.netns})`,
          echo: opts.echo,
        })
      : spawnTracked("/usr/bin/containerd", containerdArgs, { name: "containerd", echo: opts.echo });
    const d = daemon;
    const ctr = (args: readonly string[], o: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}) =>
      run("/usr/bin/ctr", ["-a", socket, "-n", namespace, ...args], {
        timeoutMs: o.timeoutMs ?? 30_000,
        env: loopbackEnv(o.env),
      });
    await waitFor(
      async () => {
        if (!d.isRunning()) throw new Error(`containerd exited: ${d.output().slice(-2000)}`);
        const r = await ctr(["version"], { timeoutMs: 5000 });
        if (r.code !== 0) throw new Error(r.stderr.trim());
        return true;
      },
      { what: "containerd to answer `ctr version`", timeoutMs: 20_000, intervalMs: 100 },
    );
    let snapshotter: Snapshotter = opts.snapshotter ?? "native";
    if (!opts.snapshotter) {
      const plugins = await ctr(["plugins", "ls"]);
      const overlay = plugins.stdout.split("\n").find((l) => /\bio\.containerd\.snapshotter\.v1\s+overlayfs\b/.test(l));
      snapshotter = overlay && /\bok\s*$/.test(overlay) ? "overlayfs" : "native";
    }
    let stopped = false;
    return {
      socket,
      root,
      state,
      dir,
      namespace,
      snapshotter,
      pid: d.pid,
      ctr,
      pull: (ref, o = {}) => {
        const args = ["images", "pull", "--snapshotter", snapshotter];
        if (o.hostsDir) args.push("--hosts-dir", o.hostsDir);
        if (o.platform) args.push("--platform", o.platform);
        if (o.allPlatforms) args.push("--all-platforms");
        if (o.user) args.push("--user", o.user);
        if (o.plainHttp) args.push("--plain-http");
        args.push(ref);
        return ctr(args, { timeoutMs: o.timeoutMs ?? 60_000, env: o.env });
      },
      removeImage: (ref) => ctr(["images", "rm", "--sync", ref]),
      images: async () => {
        const r = await ctr(["images", "ls", "-q"]);
        if (r.code !== 0) throw new Error(`ctr images ls: ${r.stderr}`);
        return r.stdout.split("\n").filter((l) => l.trim() !== "");
      },
      contentDigests: async () => {
        const r = await ctr(["content", "ls", "-q"]);
        if (r.code !== 0) throw new Error(`ctr content ls: ${r.stderr}`);
        return r.stdout
          .split("\n")
          .map((l) => l.trim())
          .filter((l) => l.startsWith("sha256:"));
      },
      readContent: async (digest) => {
        const hash = createHash("sha256");
        let size = 0;
        const r = await run("/usr/bin/ctr", ["-a", socket, "-n", namespace, "content", "get", digest], {
          timeoutMs: 60_000,
          onStdout: (c) => {
            hash.update(c);
            size += c.length;
          },
        });
        if (r.code !== 0) throw new Error(`ctr content get ${digest}: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
        return { digest: `sha256:${hash.digest("hex")}`, size };
      },
      output: () => d.output(),
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

export interface HostsTomlHost {
  /** e.g. "http://127.0.0.1:4001". */
  url: string;
  /** Default ["pull", "resolve"]. */
  capabilities?: string[];
  skipVerify?: boolean;
  /** Extra headers sent to this host. */
  header?: Record<string, string>;
}

/**
 * Writes DIR/<registryHost>/hosts.toml (containerd's hosts dir format): `server` is the fallback
 * when every host fails; containerd 1.6 needs at least one `[host."..."]` table.
 */
export async function writeHostsToml(
  hostsDir: string,
  registryHost: string,
  opts: { server?: string; hosts: HostsTomlHost[] },
): Promise<string> {
  if (opts.hosts.length === 0) throw new Error("writeHostsToml: containerd 1.6 needs at least one [host] entry");
  const lines: string[] = [];
  if (opts.server) lines.push(`server = ${toml(opts.server)}`, "");
  for (const h of opts.hosts) {
    lines.push(`[host.${toml(h.url)}]`);
    lines.push(`  capabilities = [${(h.capabilities ?? ["pull", "resolve"]).map(toml).join(", ")}]`);
    if (h.skipVerify) lines.push("  skip_verify = true");
    if (h.header) {
      lines.push(`  [host.${toml(h.url)}.header]`);
      for (const [k, v] of Object.entries(h.header)) lines.push(`    ${toml(k)} = ${toml(v)}`);
    }
    lines.push("");
  }
  const dir = join(hostsDir, registryHost);
  await mkdir(dir, { recursive: true });
  const file = join(dir, "hosts.toml");
  await writeFile(file, lines.join("\n"));
  return file;
}
