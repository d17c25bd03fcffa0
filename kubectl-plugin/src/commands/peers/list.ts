import { D7yCommand, outputFlag } from "../../base-command.js";
import { formatOutput, formatTable } from "../../ui/table.js";

export interface PeerRow {
  kind: "scheduler" | "seed-peer";
  hostname: string;
  ip: string;
  port: number;
  state: string;
  cluster: number;
}

export default class PeersList extends D7yCommand {
  static override summary = "List the schedulers and seed peers registered with the manager";
  static override flags = { output: outputFlag };
  static override examples = ["kubectl d7y peers list", "kubectl d7y peers list -o yaml"];

  async run(): Promise<void> {
    const { flags } = await this.parse(PeersList);
    const client = await this.connectManager(flags);
    const [schedulers, seeds] = await Promise.all([client.listSchedulers(), client.listSeedPeers()]);
    const rows: PeerRow[] = [
      ...schedulers.map((s) => ({
        kind: "scheduler" as const,
        hostname: s.hostname,
        ip: s.ip,
        port: s.port,
        state: s.state,
        cluster: s.scheduler_cluster_id,
      })),
      ...seeds.map((s) => ({
        kind: "seed-peer" as const,
        hostname: s.hostname,
        ip: s.ip,
        port: s.port,
        state: s.state,
        cluster: s.seed_peer_cluster_id,
      })),
    ];
    this.print(
      formatOutput(flags.output, rows, () =>
        rows.length === 0
          ? "No schedulers or seed peers registered."
          : formatTable(
              ["kind", "hostname", "ip", "port", "state", "cluster"],
              rows.map((r) => [r.kind, r.hostname, r.ip, r.port, r.state, r.cluster]),
            ),
      ),
    );
  }
}
