import type { ClusterStats } from "@d7y/proto/scheduler/v1";
import { Flags } from "@oclif/core";
import { createElement } from "react";
import { D7yCommand } from "../base-command.js";
import { parseDuration } from "../services/duration.js";
import { UserError } from "../services/errors.js";
import { managerRpcUrl, watchClusterStats } from "../top/stats-stream.js";
import { type TopSnapshot, topSnapshot } from "../top/top-model.js";
import { mountFullScreen } from "../ui/render.js";
import { TopApp } from "../ui/top-app.js";

const MIN_INTERVAL_MS = 200;

export default class Top extends D7yCommand {
  static override summary = "Live view of the cluster: hosts, traffic, tasks in flight";
  static override description =
    "Subscribes to the manager's WatchClusterStats stream (Connect) and redraws per snapshot: the cluster's P2P " +
    "ratio, per-host download and upload rates, bytes from peers vs from the origin, cache use, and tasks in " +
    "flight. Keys: q quits, s cycles the sort column, / filters (Enter applies, Esc clears). Needs a terminal.";
  static override flags = {
    "manager-rpc": Flags.string({
      description:
        "URL of the manager's Connect/gRPC API (default: --manager's host, port 65003; without either, the manager Service's rpc port through the kubeconfig)",
      env: "D7Y_MANAGER_RPC",
      helpGroup: "CONNECTION",
    }),
    interval: Flags.string({ description: "time between snapshots (at least 200ms)", default: "1s" }),
  };
  static override examples = [
    "kubectl d7y top",
    "kubectl d7y top --manager http://127.0.0.1:8080",
    "kubectl d7y top --manager-rpc http://127.0.0.1:65003 --interval 500ms",
  ];

  async run(): Promise<void> {
    const { flags } = await this.parse(Top);
    const intervalMs = parseDuration(flags.interval);
    if (intervalMs < MIN_INTERVAL_MS) throw new UserError(`--interval must be at least ${MIN_INTERVAL_MS}ms`);
    if (!process.stdout.isTTY || !process.stdin.isTTY) throw new UserError("top needs a terminal");
    // Neither --manager nor --manager-rpc: the manager's RPC port through the kubeconfig, port-forwarded.
    const baseUrl =
      flags.manager || flags["manager-rpc"]
        ? managerRpcUrl(flags.manager, flags["manager-rpc"])
        : await this.connectManagerRpc(flags);

    const stop = new AbortController();
    let snapshot: TopSnapshot | undefined;
    let previous: ClusterStats | undefined;
    let status: string | undefined;
    const view = mountFullScreen();
    const draw = () => view.update(createElement(TopApp, { snapshot, status, onQuit: () => stop.abort() }));
    draw();
    try {
      for await (const event of watchClusterStats(baseUrl, intervalMs, stop.signal)) {
        if (event.kind === "status") status = event.status || undefined;
        else {
          snapshot = topSnapshot(event.stats, previous);
          previous = event.stats;
        }
        draw();
      }
    } finally {
      await view.close();
    }
  }
}
