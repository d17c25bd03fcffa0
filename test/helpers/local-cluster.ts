import { type DaemonProcess, startDaemonProcess } from "./daemon-process.js";
import { type ManagerProcess, startManagerProcess } from "./manager-process.js";
import { type SchedulerProcess, startSchedulerProcess, waitForHosts } from "./scheduler-process.js";

export interface LocalCluster {
  manager: ManagerProcess;
  scheduler: SchedulerProcess;
  /** Daemons that find their scheduler through the manager. */
  nodes: DaemonProcess[];
  stop(): Promise<void>;
}

/** A manager, a scheduler registered with it and `daemons` daemons, all announced before it resolves. */
export async function startLocalCluster(options: { registries: string[]; daemons: number }): Promise<LocalCluster> {
  const manager = await startManagerProcess();
  const scheduler = await startSchedulerProcess({ manager: manager.rpcUrl });
  const nodes: DaemonProcess[] = [];
  const stop = async () => {
    await Promise.allSettled(nodes.map((node) => node.destroy()));
    await scheduler.stop().catch(() => undefined);
    await manager.destroy().catch(() => undefined);
  };
  try {
    for (let i = 0; i < options.daemons; i++) {
      nodes.push(
        await startDaemonProcess({ registries: options.registries, manager: manager.rpcUrl, announceInterval: "1s" }),
      );
    }
    await waitForHosts(scheduler.url, options.daemons);
  } catch (error) {
    await stop();
    throw error;
  }
  return { manager, scheduler, nodes, stop };
}
