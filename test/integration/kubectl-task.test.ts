/**
 * `kubectl d7y task get` on a real cluster (manager, scheduler, two daemons found through the manager, a
 * registry): after node 2 pulls a blob that node 1 fetched, both hosts hold every piece and node 2's came from
 * node 1.
 */
import assert from "node:assert/strict";
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

interface TaskJson {
  id: string;
  digest: string;
  piece_count: number;
  peers: Array<{ host_id: string; finished_pieces: number[]; piece_parents: Record<string, string> }>;
}

describe("kubectl d7y task get after a P2P pull", function () {
  this.timeout(180_000);

  let registry: TestRegistry;
  let manager: ManagerProcess;
  let cluster: LocalCluster | undefined;
  const nodes: DaemonProcess[] = [];
  let image: BuiltImage;

  const d7y = (args: string[]) =>
    run(process.execPath, [KUBECTL_D7Y, ...args], { env: loopbackEnv(), timeoutMs: 60_000 });

  before(async () => {
    registry = await startRegistry();
    image = await buildImage({ layers: [{ size: 24 * MiB, seed: "kubectl-task-big" }] });
    await pushImage(registry.url, "d7y/task", "v1", image);
    cluster = await startLocalCluster({ registries: [registry.url], daemons: 2 });
    ({ manager } = cluster);
    nodes.push(...cluster.nodes);
  });

  after(async () => {
    await cluster?.stop();
    await registry?.stop();
  });

  it("shows both hosts with every piece, node 2's pieces from node 1", async () => {
    const layer = image.platforms[0]!.layers[0]!;
    for (const node of nodes) {
      const response = await request(`${node.mirrorUrl}/v2/d7y/task/blobs/${layer.digest}?ns=${registry.host}`);
      assert.equal(response.statusCode, 200);
      await response.body.dump({ limit: Number.MAX_SAFE_INTEGER });
    }
    const [node1, node2] = nodes as [DaemonProcess, DaemonProcess];
    let task: TaskJson | undefined;
    await waitFor(
      async () => {
        const result = await d7y(["task", "get", layer.digest, "-o", "json", "--manager", manager.url]);
        if (result.code !== 0) return false;
        task = JSON.parse(result.stdout) as TaskJson;
        return task.peers.every((peer) => peer.finished_pieces.length === task?.piece_count) && task.peers.length >= 2;
      },
      { what: "both peers finished in task get", timeoutMs: 20_000 },
    );
    assert.ok(task);
    assert.equal(task.id, layer.digest.slice(7));
    assert.ok(task.piece_count > 1, `several pieces: ${task.piece_count}`);
    const byHost = new Map(task.peers.map((peer) => [peer.host_id, peer]));
    const peer1 = byHost.get(node1.hostId);
    const peer2 = byHost.get(node2.hostId);
    assert.ok(peer1 && peer2, `both daemons (${node1.hostId}, ${node2.hostId}) in ${[...byHost.keys()]}`);
    assert.equal(peer1.finished_pieces.length, task.piece_count);
    assert.equal(peer2.finished_pieces.length, task.piece_count);
    assert.deepEqual(new Set(Object.values(peer1.piece_parents)), new Set([""]), "node 1 went to the origin");
    assert.deepEqual(new Set(Object.values(peer2.piece_parents)), new Set([node1.hostId]), "node 2 got it from node 1");

    const table = await d7y(["task", "get", layer.digest, "--manager", manager.url]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^HOST +STATE +PIECES +FROM$/m);
    assert.match(
      table.stdout,
      new RegExp(` ${task.piece_count}/${task.piece_count} +origin ${task.piece_count}$`, "m"),
    );
  });

  it("task get IMAGE lists the image's layers (config marked) and, for the pulled layer, both hosts", async () => {
    const layer = image.platforms[0]!.layers[0]!;
    const [node1, node2] = nodes as [DaemonProcess, DaemonProcess];
    const result = await d7y([
      "task",
      "get",
      `${registry.host}/d7y/task:v1`,
      "--plain-http",
      "-o",
      "json",
      "--manager",
      manager.url,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const parsed = JSON.parse(result.stdout) as {
      url: string;
      platform: string;
      layers: Array<{
        digest: string;
        size?: number;
        media_type?: string;
        url: string;
        config: boolean;
        task: TaskJson | null;
      }>;
    };
    assert.equal(parsed.url, `http://${registry.host}/v2/d7y/task/manifests/v1`);
    assert.equal(parsed.layers.length, 2, `config and one layer: ${parsed.layers.map((l) => l.digest)}`);
    assert.equal(parsed.layers.filter((l) => l.config).length, 1, "one config blob, marked");
    const pulled = parsed.layers.find((l) => l.digest === layer.digest);
    assert.ok(pulled, `the pulled layer ${layer.digest} is listed`);
    assert.equal(pulled.config, false);
    assert.equal(pulled.url, `http://${registry.host}/v2/d7y/task/blobs/${layer.digest}`);
    assert.ok(pulled.task, "the pulled layer is cached");
    const hosts = new Set(pulled.task.peers.map((peer) => peer.host_id));
    assert.ok(hosts.has(node1.hostId) && hosts.has(node2.hostId), `both hosts in ${[...hosts]}`);
    const config = parsed.layers.find((l) => l.config)!;
    assert.equal(config.task, null, "the config blob was never pulled");

    const table = await d7y(["task", "get", `${registry.host}/d7y/task:v1`, "--plain-http", "--manager", manager.url]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^config +sha256:[a-f0-9]{64}/m);
    assert.match(table.stdout, /not cached anywhere/);
    assert.match(table.stdout, /^HOST +STATE +PIECES +FROM$/m);
  });

  it("a bad image reference, a missing image or an unknown digest is one line and a non-zero exit", async () => {
    const bad = await d7y(["task", "get", "not a reference", "--manager", manager.url]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: invalid image reference "not a reference"/);
    assert.equal(bad.stderr.split("\n").length, 2, bad.stderr);
    const missing = await d7y([
      "task",
      "get",
      `${registry.host}/d7y/none:v1`,
      "--plain-http",
      "--manager",
      manager.url,
    ]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^error: manager: 404 .*MANIFEST_UNKNOWN|^error: manager: 404 .*NAME_UNKNOWN/i);
    const unknown = await d7y(["task", "get", `sha256:${"0".repeat(64)}`, "--manager", manager.url]);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr, `error: no scheduler knows task sha256:${"0".repeat(64)}\n`);
  });
});
