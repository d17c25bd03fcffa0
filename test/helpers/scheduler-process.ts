import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, spawnTracked, type TrackedProcess, waitFor } from "./processes.js";

/** The built d7y-scheduler entry point. */
export const SCHEDULER_BIN = join(dirname(fileURLToPath(import.meta.url)), "../../../scheduler/bin/d7y-scheduler.js");

export interface SchedulerProcess {
  readonly url: string;
  readonly port: number;
  /** http://127.0.0.1:PORT/metrics */
  readonly metricsUrl: string;
  readonly process: TrackedProcess;
  stop(): Promise<void>;
  /** SIGKILL: the scheduler dies without saying goodbye. */
  kill(): Promise<void>;
  restart(): Promise<SchedulerProcess>;
}

/** Starts a real d7y-scheduler process on loopback and waits until its port answers. */
export async function startSchedulerProcess(
  options: { port?: number; metricsPort?: number; extraArgs?: string[]; echo?: boolean; manager?: string } = {},
): Promise<SchedulerProcess> {
  const port = options.port ?? (await freePort());
  const metricsPort = options.metricsPort ?? (await freePort());
  const proc = spawnTracked(
    process.execPath,
    [
      SCHEDULER_BIN,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--metrics-host",
      "127.0.0.1",
      "--metrics-port",
      String(metricsPort),
      ...(options.manager
        ? ["--manager", options.manager, "--advertise-ip", "127.0.0.1", "--keep-alive-interval", "1s"]
        : []),
      ...(options.extraArgs ?? []),
    ],
    {
      name: "d7y-scheduler",
      echo: options.echo ?? process.env.D7Y_TEST_ECHO === "1",
    },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (!proc.isRunning()) throw new Error(`d7y-scheduler exited: ${proc.output().slice(-2000)}`);
        const response = await fetch(`${url}/d7y.scheduler.v1.SchedulerService/ListHosts`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}",
        });
        await response.arrayBuffer();
        return response.status === 200;
      },
      { what: "d7y-scheduler to answer", timeoutMs: 15_000, intervalMs: 100 },
    );
  } catch (error) {
    await proc.stop("SIGKILL");
    throw error;
  }
  return {
    url,
    port,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    process: proc,
    stop: async () => {
      await proc.stop("SIGTERM", 10_000);
    },
    kill: async () => {
      await proc.stop("SIGKILL");
    },
    restart: async () => {
      await proc.stop("SIGTERM", 10_000);
      return startSchedulerProcess({ ...options, port, metricsPort });
    },
  };
}

/** Waits (bounded) until at least `count` hosts have announced themselves to the scheduler. */
export async function waitForHosts(schedulerUrl: string, count: number, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    async () => {
      const response = await fetch(`${schedulerUrl}/d7y.scheduler.v1.SchedulerService/ListHosts`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      const { hosts = [] } = (await response.json()) as { hosts?: unknown[] };
      return hosts.length >= count;
    },
    { what: `${count} hosts announced to the scheduler`, timeoutMs },
  );
}
