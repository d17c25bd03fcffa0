import { SchedulerService } from "@d7y/proto/scheduler/v1";
import { createRpcClient } from "@d7y/rpc";
import { daemonUrl } from "./blob-downloader.js";
import type { HostLister } from "./target-hosts.js";

/** The real lister: d7y.scheduler.v1.SchedulerService/ListHosts on the scheduler, bounded by `timeoutMs`. */
export function createSchedulerHostLister(timeoutMs: number): HostLister {
  return async (scheduler, signal) => {
    const client = createRpcClient(SchedulerService, daemonUrl(scheduler));
    const response = await client.listHosts({}, { signal, timeoutMs });
    return response.hosts.flatMap(({ host }) =>
      host?.ip && host.port > 0
        ? [{ id: host.id, hostname: host.hostname, ip: host.ip, port: host.port, clusterId: scheduler.clusterId }]
        : [],
    );
  };
}
