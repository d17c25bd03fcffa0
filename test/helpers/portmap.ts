/**
 * A pod's hostPorts, installed the way the CNI `portmap` plugin does it, inside a test's network namespace
 * that stands for the node (never in the root namespace):
 *
 * - nat OUTPUT (the node's own connections) and nat PREROUTING (connections arriving at the node): TCP to
 *   `127.0.0.1:<hostPort>` and `<node IP>:<hostPort>` is DNATed to `<pod IP>:<containerPort>`;
 * - `net.ipv4.conf.all.route_localnet=1` in the node namespace, so a connection to 127.0.0.1 may leave
 *   through eth0 once it is DNATed;
 * - nat POSTROUTING `-s 127.0.0.0/8 -j MASQUERADE`, so such a connection leaves with the node's address
 *   and the pod's replies come back to the node (where conntrack undoes the DNAT).
 *
 * portmap's own chains (CNI-HOSTPORT-DNAT, CNI-DN-<hash>, CNI-HOSTPORT-SETMARK/MASQ with a mark) are
 * flattened into plain rules here; the hairpin case (a pod reaching its own hostPort) is not handled.
 */
import { sh } from "./netns.js";

export interface HostPortMapping {
  hostPort: number;
  containerPort: number;
  /** TCP only (the chart's hostPorts are TCP). */
  protocol?: string;
}

export interface PortmapOptions {
  /** Namespace standing for the node (where containerd runs). */
  nodeNs: string;
  nodeIp: string;
  podIp: string;
  ports: readonly HostPortMapping[];
}

async function iptablesIn(ns: string, args: string[]): Promise<string> {
  return sh("ip", ["netns", "exec", ns, "iptables", "-w", "5", ...args], 15_000);
}

/** Installs the rules; they live (and die) with the node namespace. */
export async function installHostPorts(opts: PortmapOptions): Promise<void> {
  if (opts.ports.length === 0) return;
  await sh("ip", ["netns", "exec", opts.nodeNs, "sysctl", "-q", "-w", "net.ipv4.conf.all.route_localnet=1"]);
  for (const p of opts.ports) {
    if ((p.protocol ?? "TCP") !== "TCP") throw new Error(`portmap: only TCP hostPorts are supported`);
    const to = `${opts.podIp}:${p.containerPort}`;
    for (const chain of ["OUTPUT", "PREROUTING"]) {
      for (const dst of ["127.0.0.1", opts.nodeIp]) {
        await iptablesIn(opts.nodeNs, [
          "-t",
          "nat",
          "-A",
          chain,
          "-p",
          "tcp",
          "-d",
          `${dst}/32`,
          "--dport",
          String(p.hostPort),
          "-j",
          "DNAT",
          "--to-destination",
          to,
        ]);
      }
    }
  }
  await iptablesIn(opts.nodeNs, ["-t", "nat", "-A", "POSTROUTING", "-s", "127.0.0.0/8", "-j", "MASQUERADE"]);
}

/** Packets (connections: only a connection's first packet traverses nat) that matched each DNAT rule. */
export async function dnatCounters(
  nodeNs: string,
  chain: "OUTPUT" | "PREROUTING",
): Promise<Array<{ dst: string; dport: number; to: string; packets: number }>> {
  const text = await iptablesIn(nodeNs, ["-t", "nat", "-L", chain, "-n", "-v", "-x"]);
  const rows: Array<{ dst: string; dport: number; to: string; packets: number }> = [];
  for (const line of text.split("\n")) {
    // pkts bytes target prot opt in out source destination  tcp dpt:4001 to:10.81.0.31:4001
    const m = /^\s*(\d+)\s+\d+\s+DNAT\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S+)\s+tcp dpt:(\d+) to:(\S+)/.exec(line);
    if (m) rows.push({ packets: Number(m[1]), dst: m[2]!, dport: Number(m[3]), to: m[4]! });
  }
  return rows;
}
