import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run, spawnTracked, type TrackedProcess, waitFor } from "@d7y/test/helpers/processes";

/** Runs a command, failing with its output when it exits non-zero. */
export async function sh(cmd: string, args: string[]): Promise<string> {
  const result = await run(cmd, args, { timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${result.stderr || result.stdout}`);
  return result.stdout;
}

/** Where a process runs: the root namespace (loopback only) or a network namespace made by the bench. */
export interface Place {
  name: string;
  /** Prefix that puts a command in this place. */
  wrap(cmd: string, args: string[]): [string, string[]];
}

export const ROOT_NS: Place = { name: "root", wrap: (cmd, args) => [cmd, args] };

export function namespace(ns: string): Place {
  return { name: ns, wrap: (cmd, args) => ["ip", ["netns", "exec", ns, cmd, ...args]] };
}

/**
 * Two hosts joined by one veth pair, the registry's side capped with tbf: a registry across a real
 * link instead of loopback. The root namespace gets a blackhole route for the subnet first, so a
 * stray client in the wrong namespace fails locally instead of leaving the machine.
 */
export interface TwoHostTestbed {
  registryNs: Place;
  nodeNs: Place;
  registryIp: string;
  nodeIp: string;
  teardown(): Promise<void>;
}

const SUBNET = "10.78.0.0/24";

export async function createTwoHostTestbed(rateMbit: number): Promise<TwoHostTestbed> {
  const reg = "d7yb-reg";
  const node = "d7yb-node";
  const teardown = async () => {
    await run("ip", ["netns", "del", reg], { timeoutMs: 10_000 });
    await run("ip", ["netns", "del", node], { timeoutMs: 10_000 });
    await run("ip", ["route", "del", "blackhole", SUBNET], { timeoutMs: 10_000 });
  };
  await teardown();
  await sh("ip", ["route", "add", "blackhole", SUBNET]);
  try {
    for (const ns of [reg, node]) {
      await sh("ip", ["netns", "add", ns]);
      await sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    }
    await sh("ip", [
      "link",
      "add",
      "veth-reg",
      "netns",
      reg,
      "type",
      "veth",
      "peer",
      "name",
      "veth-node",
      "netns",
      node,
    ]);
    await sh("ip", ["-n", reg, "addr", "add", "10.78.0.1/24", "dev", "veth-reg"]);
    await sh("ip", ["-n", node, "addr", "add", "10.78.0.2/24", "dev", "veth-node"]);
    await sh("ip", ["-n", reg, "link", "set", "veth-reg", "up"]);
    await sh("ip", ["-n", node, "link", "set", "veth-node", "up"]);
    const burst = `${Math.max(256, Math.ceil(rateMbit / 4))}kb`;
    await sh("tc", [
      "-n",
      reg,
      "qdisc",
      "add",
      "dev",
      "veth-reg",
      "root",
      "tbf",
      "rate",
      `${rateMbit}mbit`,
      "burst",
      burst,
      "latency",
      "50ms",
    ]);
  } catch (error) {
    await teardown();
    throw error;
  }
  return {
    registryNs: namespace(reg),
    nodeNs: namespace(node),
    registryIp: "10.78.0.1",
    nodeIp: "10.78.0.2",
    teardown,
  };
}

/** Starts docker-registry on addr with the given storage; waits until it answers (from inside its place). */
export async function startRegistryAt(
  place: Place,
  addr: string,
  storageDir: string,
  dir: string,
): Promise<TrackedProcess> {
  const config = join(dir, `registry-${place.name}.yml`);
  await writeFile(
    config,
    [
      "version: 0.1",
      "log: { level: error, accesslog: { disabled: true } }",
      `storage: { filesystem: { rootdirectory: ${JSON.stringify(storageDir)} }, delete: { enabled: true } }`,
      `http: { addr: ${JSON.stringify(addr)} }`,
      "",
    ].join("\n"),
  );
  const [cmd, args] = place.wrap("/usr/bin/docker-registry", ["serve", config]);
  const registry = spawnTracked(cmd, args, { name: `docker-registry (${place.name})` });
  await waitFor(
    async () => {
      if (!registry.isRunning()) throw new Error(registry.output());
      const [c, a] = place.wrap("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", `http://${addr}/v2/`]);
      return (await run(c, a, { timeoutMs: 5000 })).stdout === "200";
    },
    { what: `docker-registry on ${addr}`, timeoutMs: 15_000, intervalMs: 100 },
  );
  return registry;
}

/** CPU seconds and peak RSS of a process, from /proc. */
export async function processUsage(pid: number): Promise<{ cpuSeconds: number; peakRssMiB: number }> {
  const { readFile } = await import("node:fs/promises");
  const stat = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]!.split(" ");
  const ticks = Number(stat[11]) + Number(stat[12]);
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return { cpuSeconds: ticks / 100, peakRssMiB: Math.round(hwm / 1024) };
}

/** Hosts on one bridge (each in its own namespace), with an egress cap per host. */
export interface SwarmTestbed {
  hosts: Array<{ place: Place; ip: string; ns: string }>;
  teardown(): Promise<void>;
}

const SWARM_SUBNET = "10.79.0.0/24";

/**
 * N hosts 10.79.0.1..N on a bridge namespace; host i's upload (egress) is capped at egressMbit[i].
 * The root namespace gets a blackhole route for the subnet before anything starts.
 */
export async function createSwarmTestbed(egressMbit: number[]): Promise<SwarmTestbed> {
  const bridge = "d7yf-br";
  const names = egressMbit.map((_, i) => `d7yf-h${i + 1}`);
  const teardown = async () => {
    for (const ns of [...names, bridge]) await run("ip", ["netns", "del", ns], { timeoutMs: 10_000 });
    await run("ip", ["route", "del", "blackhole", SWARM_SUBNET], { timeoutMs: 10_000 });
  };
  await teardown();
  await sh("ip", ["route", "add", "blackhole", SWARM_SUBNET]);
  try {
    await sh("ip", ["netns", "add", bridge]);
    await sh("ip", ["-n", bridge, "link", "set", "lo", "up"]);
    await sh("ip", ["-n", bridge, "link", "add", "br0", "type", "bridge"]);
    await sh("ip", ["-n", bridge, "link", "set", "br0", "up"]);
    for (const [i, ns] of names.entries()) {
      const ip = `10.79.0.${i + 1}`;
      await sh("ip", ["netns", "add", ns]);
      await sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
      await sh("ip", [
        "link",
        "add",
        "eth0",
        "netns",
        ns,
        "type",
        "veth",
        "peer",
        "name",
        `p${i + 1}`,
        "netns",
        bridge,
      ]);
      await sh("ip", ["-n", bridge, "link", "set", `p${i + 1}`, "master", "br0"]);
      await sh("ip", ["-n", bridge, "link", "set", `p${i + 1}`, "up"]);
      await sh("ip", ["-n", ns, "addr", "add", `${ip}/24`, "dev", "eth0"]);
      await sh("ip", ["-n", ns, "link", "set", "eth0", "up"]);
      const rate = egressMbit[i]!;
      const burst = `${Math.max(256, Math.ceil(rate / 4))}kb`;
      await sh("tc", [
        "-n",
        ns,
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
  } catch (error) {
    await teardown();
    throw error;
  }
  return { hosts: names.map((ns, i) => ({ ns, ip: `10.79.0.${i + 1}`, place: namespace(ns) })), teardown };
}

/** Bytes a namespace's eth0 has sent. */
export async function txBytes(place: Place): Promise<number> {
  const [cmd, args] = place.wrap("cat", ["/sys/class/net/eth0/statistics/tx_bytes"]);
  return Number((await sh(cmd, args)).trim());
}
