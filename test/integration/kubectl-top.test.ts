/**
 * `kubectl d7y top` as a user sees it: the real bin in an 80x24 tmux pane, fed by the manager's
 * WatchClusterStats stream over a real cluster (manager, scheduler, two daemons found through the manager,
 * a registry). Node 1 pulls a 64 MiB layer from the origin, node 2 through its mirror from node 1; the
 * captured screen shows both hosts and the peer traffic; `q` quits with exit code 0.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import type { DaemonProcess } from "../helpers/daemon-process.js";
import { type BuiltImage, buildImage, pushImage } from "../helpers/image.js";
import { type LocalCluster, startLocalCluster } from "../helpers/local-cluster.js";
import type { ManagerProcess } from "../helpers/manager-process.js";
import { loopbackEnv, run, waitFor } from "../helpers/processes.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";

const KUBECTL_D7Y = join(dirname(fileURLToPath(import.meta.url)), "../../../kubectl-plugin/bin/kubectl-d7y.js");
const MiB = 1024 * 1024;
/** A tmux server of our own (its socket name), so the test never touches a user's sessions. */
const TMUX_SOCKET = `d7y-top-${process.pid}`;
const SESSION = "top";

const tmux = (args: string[]) =>
  run("tmux", ["-L", TMUX_SOCKET, ...args], { env: loopbackEnv({ TERM: "xterm-256color" }), timeoutMs: 10_000 });

async function capture(): Promise<string> {
  const result = await tmux(["capture-pane", "-p", "-t", SESSION]);
  return result.code === 0 ? result.stdout : "";
}

/** Single-quoted for sh. */
const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

describe("kubectl d7y top under tmux during a P2P pull", function () {
  this.timeout(240_000);

  let registry: TestRegistry;
  let manager: ManagerProcess;
  let cluster: LocalCluster | undefined;
  const nodes: DaemonProcess[] = [];
  let image: BuiltImage;
  let workDir: string;

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), "d7y-top-"));
    registry = await startRegistry();
    image = await buildImage({ layers: [{ size: 64 * MiB, seed: "kubectl-top-big" }] });
    await pushImage(registry.url, "d7y/top", "v1", image);
    cluster = await startLocalCluster({ registries: [registry.url], daemons: 2 });
    ({ manager } = cluster);
    nodes.push(...cluster.nodes);
  });

  after(async () => {
    await tmux(["kill-server"]).catch(() => undefined);
    await cluster?.stop();
    await registry?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it("shows both hosts and non-zero peer traffic in 80x24, and q quits", async () => {
    const exitFile = join(workDir, "exit-code");
    // A person's terminal: CI variables (set when this suite runs in CI) make Ink print only a final frame.
    const command = [
      "env -u CI -u CONTINUOUS_INTEGRATION",
      quote(process.execPath),
      quote(KUBECTL_D7Y),
      "top",
      `--manager ${quote(manager.url)}`,
      `--manager-rpc ${quote(manager.rpcUrl)}`,
      "--interval 300ms",
      "2>",
      quote(join(workDir, "stderr")),
      `; echo $? > ${quote(exitFile)}`,
    ].join(" ");
    const started = await tmux(["new-session", "-d", "-x", "80", "-y", "24", "-s", SESSION, command]);
    assert.equal(started.code, 0, started.stderr);
    await waitFor(async () => /HOST.*ROLE.*DOWN MB\/s/.test(await capture()), {
      what: "top's hosts table on the screen",
      timeoutMs: 20_000,
    });

    const layer = image.platforms[0]!.layers[0]!;
    for (const node of nodes) {
      const response = await request(`${node.mirrorUrl}/v2/d7y/top/blobs/${layer.digest}?ns=${registry.host}`);
      assert.equal(response.statusCode, 200);
      await response.body.dump({ limit: Number.MAX_SAFE_INTEGER });
    }
    const [node1, node2] = nodes as [DaemonProcess, DaemonProcess];
    // Bounded polling until the stream carried both pulls to the screen: half of all bytes moved between peers.
    let screen = "";
    await waitFor(
      async () => {
        screen = await capture();
        return /P2P 50\.0%/.test(screen);
      },
      { what: "peer traffic on the screen", timeoutMs: 30_000 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; the screen:\n${screen}`);
    });
    const lines = screen.trimEnd().split("\n");
    assert.ok(lines.length <= 24, `fits 24 rows:\n${screen}`);
    for (const line of lines) assert.ok(line.length <= 80, `fits 80 columns: ${line}`);
    const row1 = lines.find((line) => line.includes(`:${node1.uploadPort} `));
    const row2 = lines.find((line) => line.includes(`:${node2.uploadPort} `));
    assert.ok(row1 && row2, `a row per daemon (upload ports ${node1.uploadPort}, ${node2.uploadPort}):\n${screen}`);
    // HOST ROLE DOWN UP PEERS ORIGIN CACHE: node 2's bytes came from peers, node 1's from the origin.
    const columns = (row: string) => row.trim().split(/\s+/);
    assert.equal(columns(row2)[4], "64.0M", `node 2 got the layer from peers:\n${screen}`);
    assert.equal(columns(row1)[5], "64.0M", `node 1 got the layer from the origin:\n${screen}`);

    await tmux(["send-keys", "-t", SESSION, "q"]);
    await waitFor(async () => (await readFile(exitFile, "utf8").catch(() => "")).trim() !== "", {
      what: "top to exit after q",
      timeoutMs: 10_000,
    });
    assert.equal((await readFile(exitFile, "utf8")).trim(), "0", await readFile(join(workDir, "stderr"), "utf8"));
  });
});
