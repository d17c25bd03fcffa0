/**
 * Network namespaces for tests (iproute2): hosts on one Linux bridge, each in its own namespace, with
 * addresses in a dedicated subnet. The root namespace gets a blackhole route for the subnet before
 * anything else, so a client started in the wrong namespace fails locally instead of leaving the machine.
 *
 * Name resolution per namespace: `ip netns exec NS` bind-mounts every file of /etc/netns/NS/ over the
 * same name in /etc, so writeNetnsHosts() gives a namespace its own /etc/hosts.
 */
import { access, mkdir, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type RunResult, run } from "./processes.js";

/** Where a process runs: the root namespace or a network namespace. */
export interface Place {
  name: string;
  /** Prefix that puts a command in this place. */
  wrap(cmd: string, args: readonly string[]): [string, string[]];
}

export const ROOT_NS: Place = { name: "root", wrap: (cmd, args) => [cmd, [...args]] };

/** The place of network namespace `ns` (commands run through `ip netns exec NS`). */
export function namespace(ns: string): Place {
  return { name: ns, wrap: (cmd, args) => ["ip", ["netns", "exec", ns, cmd, ...args]] };
}

/** Runs a command, failing with its output when it exits non-zero. */
export async function sh(cmd: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const result = await run(cmd, args, { timeoutMs });
  if (result.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${result.stderr || result.stdout}`);
  return result.stdout;
}

/** Runs a command in a place; resolves with its result whatever the exit status. */
export function runIn(place: Place, cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
  const [c, a] = place.wrap(cmd, args);
  return run(c, a, { timeoutMs });
}

export interface BridgeHost {
  /** Namespace name (also the name of the host in the result). */
  ns: string;
  /** IPv4 address inside the subnet. */
  ip: string;
  /** Egress cap of the host's eth0 (tbf), none by default. */
  egressMbit?: number;
}

export interface BridgeNetwork {
  subnet: string;
  bridgeNs: string;
  hosts: Array<BridgeHost & { place: Place }>;
  /** The host in namespace `ns`. */
  host(ns: string): BridgeHost & { place: Place };
  /** Deletes every namespace, /etc/netns/<ns>, and the blackhole route. Idempotent, never throws. */
  teardown(): Promise<void>;
}

export interface CreateBridgeNetworkOptions {
  /** e.g. "10.81.0.0/24" (only /24s are supported). */
  subnet: string;
  /** Name of the namespace holding the bridge. */
  bridgeNs: string;
  hosts: BridgeHost[];
}

/** Removes namespace `ns` and its /etc/netns dir; never throws. */
async function deleteNamespace(ns: string): Promise<void> {
  await run("ip", ["netns", "del", ns], { timeoutMs: 10_000 }).catch(() => undefined);
  await rm(join("/etc/netns", ns), { recursive: true, force: true }).catch(() => undefined);
}

/**
 * Hosts on one bridge (in its own namespace `bridgeNs`), each in its own namespace with `eth0` at its
 * address. Leftovers of an earlier run with the same names are removed first.
 */
export async function createBridgeNetwork(opts: CreateBridgeNetworkOptions): Promise<BridgeNetwork> {
  if (!/^\d+\.\d+\.\d+\.0\/24$/.test(opts.subnet)) throw new Error(`createBridgeNetwork: ${opts.subnet} is not a /24`);
  const names = [...opts.hosts.map((h) => h.ns), opts.bridgeNs];
  for (const n of names) {
    if (n.length > 15) throw new Error(`namespace name ${n} is too long (veth names are derived from it)`);
  }
  const etcNetnsExisted = await access("/etc/netns").then(
    () => true,
    () => false,
  );
  const teardown = async (): Promise<void> => {
    for (const ns of names) await deleteNamespace(ns);
    // /etc/netns itself, when writeNetnsHosts() made it and it is empty again.
    if (!etcNetnsExisted) await rmdir("/etc/netns").catch(() => undefined);
    await run("ip", ["route", "del", "blackhole", opts.subnet], { timeoutMs: 10_000 }).catch(() => undefined);
  };
  await teardown();
  // First of all: a stray client in the root namespace must not reach anything through the default route.
  await sh("ip", ["route", "add", "blackhole", opts.subnet]);
  try {
    const br = opts.bridgeNs;
    await sh("ip", ["netns", "add", br]);
    await sh("ip", ["-n", br, "link", "set", "lo", "up"]);
    await sh("ip", ["-n", br, "link", "add", "br0", "type", "bridge"]);
    await sh("ip", ["-n", br, "link", "set", "br0", "up"]);
    for (const [i, host] of opts.hosts.entries()) {
      const port = `p${i + 1}`;
      await sh("ip", ["netns", "add", host.ns]);
      await sh("ip", ["-n", host.ns, "link", "set", "lo", "up"]);
      await sh("ip", ["link", "add", "eth0", "netns", host.ns, "type", "veth", "peer", "name", port, "netns", br]);
      await sh("ip", ["-n", br, "link", "set", port, "master", "br0"]);
      await sh("ip", ["-n", br, "link", "set", port, "up"]);
      await sh("ip", ["-n", host.ns, "addr", "add", `${host.ip}/24`, "dev", "eth0"]);
      await sh("ip", ["-n", host.ns, "link", "set", "eth0", "up"]);
      if (host.egressMbit !== undefined) {
        const rate = host.egressMbit;
        const burst = `${Math.max(256, Math.ceil(rate / 4))}kb`;
        await sh("tc", [
          "-n",
          host.ns,
          "qdisc",
          "add",
          "dev",
          "eth0",
          "root",
          "tbf",
          "rate",
          `${rate}mbit`,
          "burst",
          burst,
          "latency",
          "100ms",
        ]);
      }
    }
  } catch (error) {
    await teardown();
    throw error;
  }
  const hosts = opts.hosts.map((h) => ({ ...h, place: namespace(h.ns) }));
  return {
    subnet: opts.subnet,
    bridgeNs: opts.bridgeNs,
    hosts,
    host: (ns) => {
      const found = hosts.find((h) => h.ns === ns);
      if (!found) throw new Error(`no host in namespace ${ns}`);
      return found;
    },
    teardown,
  };
}

/**
 * Writes /etc/netns/NS/hosts: `127.0.0.1 localhost` plus one line per (ip, names). Processes started
 * with `ip netns exec NS` see it as /etc/hosts. Removed by BridgeNetwork.teardown().
 */
export async function writeNetnsHosts(
  ns: string,
  entries: ReadonlyArray<{ ip: string; names: string[] }>,
): Promise<string> {
  const dir = join("/etc/netns", ns);
  await mkdir(dir, { recursive: true });
  const lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"];
  for (const e of entries) if (e.names.length > 0) lines.push(`${e.ip} ${e.names.join(" ")}`);
  const file = join(dir, "hosts");
  await writeFile(file, `${lines.join("\n")}\n`, { mode: 0o644 });
  return file;
}

/** Bytes a namespace's eth0 has sent. */
export async function txBytes(place: Place): Promise<number> {
  const [cmd, args] = place.wrap("cat", ["/sys/class/net/eth0/statistics/tx_bytes"]);
  return Number((await sh(cmd, args)).trim());
}
