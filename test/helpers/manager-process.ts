import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, spawnTracked, type TrackedProcess, waitFor } from "./processes.js";

/** The built d7y-manager entry point. */
export const MANAGER_BIN = join(dirname(fileURLToPath(import.meta.url)), "../../../manager/bin/d7y-manager.js");

export interface ManagerProcess {
  /** REST: http://127.0.0.1:PORT */
  readonly url: string;
  /** Connect: http://127.0.0.1:RPCPORT */
  readonly rpcUrl: string;
  /** http://127.0.0.1:PORT/metrics */
  readonly metricsUrl: string;
  readonly dataDir: string;
  readonly process: TrackedProcess;
  stop(): Promise<void>;
  restart(): Promise<ManagerProcess>;
  destroy(): Promise<void>;
}

interface Options {
  dataDir?: string;
  port?: number;
  rpcPort?: number;
  /** Port of its Prometheus /metrics (on 127.0.0.1); a free one by default. */
  metricsPort?: number;
  extraArgs?: string[];
  ownsDir?: boolean;
}

/** Starts a real d7y-manager process on loopback with its own LevelDB directory; waits for /healthy. */
export async function startManagerProcess(options: Options = {}): Promise<ManagerProcess> {
  const ownsDir = options.ownsDir ?? options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "d7y-manager-")));
  const port = options.port ?? (await freePort());
  const rpcPort = options.rpcPort ?? (await freePort());
  const metricsPort = options.metricsPort ?? (await freePort());
  const proc = spawnTracked(
    process.execPath,
    [
      MANAGER_BIN,
      "--data-dir",
      dataDir,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--rpc-host",
      "127.0.0.1",
      "--rpc-port",
      String(rpcPort),
      "--metrics-host",
      "127.0.0.1",
      "--metrics-port",
      String(metricsPort),
      ...(options.extraArgs ?? []),
    ],
    { name: "d7y-manager", echo: process.env.D7Y_TEST_ECHO === "1" },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (!proc.isRunning()) throw new Error(`d7y-manager exited: ${proc.output().slice(-2000)}`);
        const response = await fetch(`${url}/healthy`);
        await response.arrayBuffer();
        return response.status === 200;
      },
      { what: "d7y-manager /healthy", timeoutMs: 15_000, intervalMs: 100 },
    );
  } catch (error) {
    await proc.stop("SIGKILL");
    throw error;
  }
  const manager: ManagerProcess = {
    url,
    rpcUrl: `http://127.0.0.1:${rpcPort}`,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    dataDir,
    process: proc,
    stop: async () => {
      await proc.stop("SIGTERM", 10_000);
    },
    restart: async () => {
      await proc.stop("SIGTERM", 10_000);
      return startManagerProcess({ ...options, dataDir, port, rpcPort, metricsPort, ownsDir });
    },
    destroy: async () => {
      await proc.stop("SIGTERM", 10_000);
      if (ownsDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
  return manager;
}
