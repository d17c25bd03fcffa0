import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createBridgeNetwork, namespace, type Place, sh } from "@d7y/test/helpers/netns";
import { run, spawnTracked, type TrackedProcess, waitFor } from "@d7y/test/helpers/processes";

// The namespace helpers live in the test package (the chart's end-to-end test uses them too).
export { namespace, type Place, ROOT_NS, sh, txBytes } from "@d7y/test/helpers/netns";

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
  const network = await createBridgeNetwork({
    subnet: SWARM_SUBNET,
    bridgeNs: "d7yf-br",
    hosts: egressMbit.map((rate, i) => ({ ns: `d7yf-h${i + 1}`, ip: `10.79.0.${i + 1}`, egressMbit: rate })),
  });
  return {
    hosts: network.hosts.map((h) => ({ ns: h.ns, ip: h.ip, place: h.place })),
    teardown: network.teardown,
  };
}
