import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, spawnTracked, type TrackedProcess, waitFor } from "./processes.js";

/** The built d7y-daemon entry point, run exactly as a user runs the bin. */
export const DAEMON_BIN = join(dirname(fileURLToPath(import.meta.url)), "../../../daemon/bin/d7y-daemon.js");

export interface DaemonProcessOptions {
  registries: string[];
  defaultRegistry?: string;
  /** Reuse a data directory (restart tests); a fresh temp dir otherwise. */
  dataDir?: string;
  proxyPort?: number;
  apiPort?: number;
  uploadPort?: number;
  /** Port of its Prometheus /metrics (on 127.0.0.1); a free one by default. */
  metricsPort?: number;
  /** Scheduler URLs; none: the daemon always goes to the origin. */
  schedulers?: string[];
  seed?: boolean;
  /** Short intervals for tests. */
  announceInterval?: string;
  /** The manager's Connect URL (schedulers come from it; seeds register with it). */
  manager?: string;
  extraArgs?: string[];
  echo?: boolean;
}

interface InternalOptions extends DaemonProcessOptions {
  /** The data directory was made by this helper (kept across restarts, removed by destroy()). */
  ownsDir?: boolean;
}

export interface DaemonProcess {
  readonly mirrorUrl: string;
  readonly mirrorHost: string;
  readonly apiUrl: string;
  readonly dataDir: string;
  readonly proxyPort: number;
  readonly apiPort: number;
  readonly uploadPort: number;
  readonly uploadUrl: string;
  readonly metricsPort: number;
  /** http://127.0.0.1:PORT/metrics */
  readonly metricsUrl: string;
  /** The host id the daemon announces (<ip>-<hostname>-<upload port>[-seed]). */
  readonly hostId: string;
  readonly process: TrackedProcess;
  /** Stops the process (SIGTERM) and keeps its data directory. */
  stop(): Promise<void>;
  /** Stops it and removes the data directory if this helper created it. */
  destroy(): Promise<void>;
  /** Starts a new process on the same ports and data directory. */
  restart(): Promise<DaemonProcess>;
}

/** Starts a real d7y-daemon process on loopback and waits until it says it is ready. */
export async function startDaemonProcess(options: InternalOptions): Promise<DaemonProcess> {
  const ownsDir = options.ownsDir ?? options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "d7y-daemon-")));
  const proxyPort = options.proxyPort ?? (await freePort());
  const apiPort = options.apiPort ?? (await freePort());
  const uploadPort = options.uploadPort ?? (await freePort());
  const metricsPort = options.metricsPort ?? (await freePort());
  const args = [
    DAEMON_BIN,
    "--data-dir",
    dataDir,
    "--proxy-host",
    "127.0.0.1",
    "--proxy-port",
    String(proxyPort),
    "--api-port",
    String(apiPort),
    "--upload-host",
    "127.0.0.1",
    "--upload-port",
    String(uploadPort),
    "--metrics-host",
    "127.0.0.1",
    "--metrics-port",
    String(metricsPort),
    "--host-ip",
    "127.0.0.1",
    ...(options.schedulers ?? []).flatMap((address) => ["--scheduler", address]),
    ...(options.seed ? ["--seed"] : []),
    ...(options.manager ? ["--manager", options.manager, "--manager-refresh", "1s"] : []),
    ...(options.announceInterval ? ["--announce-interval", options.announceInterval] : []),
    ...options.registries.flatMap((registry) => ["--registry", registry]),
    ...(options.defaultRegistry ? ["--default-registry", options.defaultRegistry] : []),
    ...(options.extraArgs ?? []),
  ];
  let ready = false;
  let hostId = "";
  const proc = spawnTracked(process.execPath, args, {
    name: "d7y-daemon",
    echo: options.echo ?? process.env.D7Y_TEST_ECHO === "1",
    onLine: (line) => {
      if (line.includes('"msg":"d7y-daemon ready"')) {
        hostId = (JSON.parse(line) as { hostId: string }).hostId;
        ready = true;
      }
    },
  });
  try {
    await waitFor(
      () => {
        if (!proc.isRunning()) throw new Error(`d7y-daemon exited: ${proc.output().slice(-2000)}`);
        return ready;
      },
      { what: "d7y-daemon to be ready", timeoutMs: 15_000 },
    );
  } catch (error) {
    await proc.stop("SIGKILL");
    throw error;
  }
  const daemon: DaemonProcess = {
    mirrorUrl: `http://127.0.0.1:${proxyPort}`,
    mirrorHost: `127.0.0.1:${proxyPort}`,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    dataDir,
    proxyPort,
    apiPort,
    uploadPort,
    uploadUrl: `http://127.0.0.1:${uploadPort}`,
    metricsPort,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    hostId,
    process: proc,
    stop: async () => {
      await proc.stop("SIGTERM", 10_000);
    },
    destroy: async () => {
      await proc.stop("SIGTERM", 10_000);
      if (ownsDir) await rm(dataDir, { recursive: true, force: true });
    },
    restart: async () => {
      await proc.stop("SIGTERM", 10_000);
      return startDaemonProcess({ ...options, dataDir, proxyPort, apiPort, uploadPort, metricsPort, ownsDir });
    },
  };
  return daemon;
}
