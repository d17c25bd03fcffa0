/**
 * d7y-manager on the real parts: manager, scheduler, seed peers and daemons as processes, Debian's
 * docker-registry (one open, one with htpasswd) behind counting fronts, real containerd and curl
 * sending Dragonfly's own requests verbatim.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TaskState } from "@d7y/proto/common/v1";
import { DfdaemonService } from "@d7y/proto/dfdaemon/v1";
import { createRpcClient } from "@d7y/rpc";
import { request } from "undici";
import { startContainerd, type TestContainerd } from "../helpers/containerd.js";
import { DAEMON_BIN, type DaemonProcess, startDaemonProcess } from "../helpers/daemon-process.js";
import { type BuiltImage, buildImage, pushImage } from "../helpers/image.js";
import { type ManagerProcess, startManagerProcess } from "../helpers/manager-process.js";
import { run, waitFor } from "../helpers/processes.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { type SchedulerProcess, startSchedulerProcess } from "../helpers/scheduler-process.js";

const MiB = 1024 * 1024;
const AMD64 = "linux/amd64";
const ARM64 = "linux/arm64";
const AUTH = { username: "preheater", password: "correct-horse" };

interface Job {
  id: number;
  state: string;
  type: string;
  result?: { error?: string; success_tasks?: unknown[]; failure_tasks?: Array<{ description: string }> } | null;
}

async function curl(args: string[]): Promise<string> {
  const result = await run("curl", ["-s", ...args], { timeoutMs: 30_000 });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

describe("d7y-manager: registry of the cluster and Dragonfly-compatible preheat", function () {
  this.timeout(300_000);

  let work: string;
  let registry: TestRegistry;
  let privateRegistry: TestRegistry;
  let manager: ManagerProcess;
  let scheduler: SchedulerProcess;
  const seeds: DaemonProcess[] = [];
  const daemons: DaemonProcess[] = [];
  let image: BuiltImage;
  let containerd: TestContainerd;

  async function waitJob(id: number, timeoutMs = 60_000): Promise<Job> {
    return waitFor(
      async () => {
        const job = JSON.parse(await curl([`${manager.url}/api/v1/jobs/${id}`])) as Job;
        return job.state === "SUCCESS" || job.state === "FAILURE" ? job : undefined;
      },
      { what: `job ${id} to finish`, timeoutMs, intervalMs: 250 },
    );
  }

  async function seedTaskIds(seed: DaemonProcess): Promise<Set<string>> {
    const { tasks } = await createRpcClient(DfdaemonService, seed.apiUrl).listTasks({});
    return new Set(tasks.filter((task) => task.state === TaskState.SUCCEEDED).map((task) => task.id));
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "d7y-manager-test-"));
    [registry, privateRegistry, containerd] = await Promise.all([
      startRegistry(),
      startRegistry({ auth: AUTH }),
      startContainerd(),
    ]);
    image = await buildImage({
      layers: [
        { size: 16 * MiB, seed: "preheat-big" },
        { size: 300 * 1024, seed: "preheat-small" },
      ],
      platforms: [
        { os: "linux", architecture: "amd64" },
        { os: "linux", architecture: "arm64" },
      ],
    });
    await pushImage(registry.url, "d7y/app", "v1", image);
    await pushImage(privateRegistry.url, "d7y/secret", "v1", image, AUTH);
    manager = await startManagerProcess();
    scheduler = await startSchedulerProcess({ manager: manager.rpcUrl });
    for (let i = 0; i < 2; i++) {
      seeds.push(
        await startDaemonProcess({
          registries: [registry.url, privateRegistry.url],
          manager: manager.rpcUrl,
          seed: true,
          announceInterval: "1s",
        }),
      );
    }
    daemons.push(
      await startDaemonProcess({
        registries: [registry.url, privateRegistry.url],
        manager: manager.rpcUrl,
        announceInterval: "1s",
      }),
    );
    await waitFor(
      async () => {
        const seedPeers = JSON.parse(await curl([`${manager.url}/api/v1/seed-peers`])) as Array<{ state: string }>;
        const schedulers = JSON.parse(await curl([`${manager.url}/api/v1/schedulers`])) as Array<{ state: string }>;
        return (
          seedPeers.filter((s) => s.state === "active").length === 2 && schedulers.some((s) => s.state === "active")
        );
      },
      { what: "the scheduler and both seeds to register", timeoutMs: 20_000 },
    );
  });

  after(async () => {
    await Promise.allSettled([...daemons, ...seeds].map((d) => d.destroy()));
    await Promise.allSettled([scheduler?.stop(), containerd?.stop(), registry?.stop(), privateRegistry?.stop()]);
    await manager?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("Dragonfly's curl requests, verbatim: the job reaches SUCCESS, and a daemon that never saw the image pulls it with zero blob GETs", async () => {
    const url = `${registry.url}/v2/d7y/app/manifests/v1`;
    const created = JSON.parse(
      await curl([
        "-X",
        "POST",
        `${manager.url}/api/v1/jobs`,
        "-H",
        "Content-Type: application/json",
        "-d",
        `{"type":"preheat","args":{"type":"image","url":"${url}"}}`,
      ]),
    ) as Job;
    assert.equal(created.type, "preheat");
    const job = await waitJob(created.id);
    assert.equal(job.state, "SUCCESS", JSON.stringify(job.result));
    assert.match(await curl([`${manager.url}/api/v1/jobs/${created.id}`]), /SUCCESS/);
    // Only the default platform's blobs were fetched from the registry, each once.
    await registry.settled();
    for (const blob of image.blobsFor(AMD64))
      assert.equal(registry.blobBytes(blob.digest), blob.size, `${blob.digest} fetched once`);
    for (const blob of image.layersFor(ARM64)) assert.equal(registry.blobGets(blob.digest).length, 0, "no arm64 layer");
    // single_seed_peer: each blob on exactly one seed.
    const held = await Promise.all(seeds.map(seedTaskIds));
    for (const blob of image.blobsFor(AMD64)) {
      assert.equal(held.filter((ids) => ids.has(blob.digest.slice(7))).length, 1);
    }
    registry.reset();
    const hostsDir = join(work, "certs.d");
    const written = await run(process.execPath, [
      DAEMON_BIN,
      "containerd-config",
      "--hosts-dir",
      hostsDir,
      "--mirror",
      daemons[0]!.mirrorUrl,
      "--registry",
      registry.url,
    ]);
    assert.equal(written.code, 0, written.stderr);
    const pull = await containerd.pull(`${registry.host}/d7y/app:v1`, { hostsDir, platform: AMD64 });
    assert.equal(pull.code, 0, pull.stderr);
    for (const blob of image.blobsFor(AMD64))
      assert.equal((await containerd.readContent(blob.digest)).digest, blob.digest);
    await registry.settled();
    assert.equal(registry.blobGets().length, 0, "every blob came from the seed peers");
  });

  it("multi-arch: the chosen platform only; all_seed_peers warms every seed", async () => {
    const fresh = await buildImage({
      layers: [{ size: 3 * MiB, seed: "preheat-arm" }],
      platforms: [
        { os: "linux", architecture: "amd64" },
        { os: "linux", architecture: "arm64" },
      ],
    });
    await pushImage(registry.url, "d7y/multi", "v2", fresh);
    registry.reset();
    const response = await request(`${manager.url}/api/v1/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        type: "preheat",
        args: {
          type: "image",
          url: `${registry.url}/v2/d7y/multi/manifests/v2`,
          platform: ARM64,
          scope: "all_seed_peers",
        },
      }),
    });
    const created = (await response.body.json()) as Job;
    const job = await waitJob(created.id);
    assert.equal(job.state, "SUCCESS", JSON.stringify(job.result));
    await registry.settled();
    for (const blob of fresh.layersFor(AMD64)) assert.equal(registry.blobGets(blob.digest).length, 0, "no amd64 layer");
    for (const blob of fresh.blobsFor(ARM64)) {
      assert.equal(registry.blobBytes(blob.digest), blob.size, "fetched from the registry once for both seeds");
      for (const seed of seeds) assert.ok((await seedTaskIds(seed)).has(blob.digest.slice(7)), "every seed holds it");
    }
  });

  it("a private registry: preheat with credentials works; a wrong password is FAILURE with the registry's reason", async () => {
    const url = `${privateRegistry.url}/v2/d7y/secret/manifests/v1`;
    const post = async (password: string) => {
      const response = await request(`${manager.url}/api/v1/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ type: "preheat", args: { type: "image", url, username: AUTH.username, password } }),
      });
      return waitJob(((await response.body.json()) as Job).id);
    };
    const good = await post(AUTH.password);
    assert.equal(good.state, "SUCCESS", JSON.stringify(good.result));
    const bad = await post("wrong");
    assert.equal(bad.state, "FAILURE");
    assert.match(JSON.stringify(bad.result), /401|unauthorized/i);
  });

  it("bad requests get 400 with a message, a missing job 404, /oapi without a token 401", async () => {
    const post = (body: string) =>
      request(`${manager.url}/api/v1/jobs`, { method: "POST", headers: { "content-type": "application/json" }, body });
    for (const body of [
      "{not json",
      '{"type":"preheat"}',
      '{"type":"preheat","args":{"type":"image"}}',
      '{"type":"explode","args":{}}',
    ]) {
      const response = await post(body);
      const text = await response.body.text();
      assert.equal(response.statusCode, 400, `${body}: ${text}`);
      assert.ok((JSON.parse(text) as { message?: string }).message, "a message says what is wrong");
    }
    const missing = await request(`${manager.url}/api/v1/jobs/99999`);
    assert.equal(missing.statusCode, 404);
    await missing.body.dump();
    const oapi = await request(`${manager.url}/oapi/v1/jobs`);
    assert.equal(oapi.statusCode, 401);
    await oapi.body.dump();
  });

  it("a manager restart keeps the jobs and their states", async () => {
    const before = JSON.parse(await curl([`${manager.url}/api/v1/jobs?page=1&per_page=50`])) as Job[];
    assert.ok(before.length >= 3);
    manager = await manager.restart();
    const after = JSON.parse(await curl([`${manager.url}/api/v1/jobs?page=1&per_page=50`])) as Job[];
    assert.deepEqual(
      after.map((job) => [job.id, job.state]),
      before.map((job) => [job.id, job.state]),
    );
  });
});
