import assert from "node:assert/strict";
import { HashRing, taskIdForDigest } from "@d7y/proto";
import { SourceType } from "@d7y/proto/manager/v1";
import type { RpcServer } from "@d7y/rpc";
import { type FakeDaemon, startFakeDaemon, startFakeScheduler } from "./fake-daemons.js";
import { type FakeRegistry, startFakeRegistry } from "./fake-registry.js";
import {
  type KeepAliveStream,
  keepAlive,
  registerSeed,
  removeDir,
  startTestManager,
  type TestManager,
} from "./fixture.js";

describe("manager preheat", () => {
  let test: TestManager;
  let registry: FakeRegistry | undefined;
  let daemons: FakeDaemon[];
  let streams: KeepAliveStream[];
  let servers: RpcServer[];

  beforeEach(async () => {
    test = await startTestManager();
    daemons = [];
    streams = [];
    servers = [];
  });

  afterEach(async () => {
    await Promise.all(streams.map((stream) => stream.close()));
    await test.stop();
    await Promise.all([...daemons.map((daemon) => daemon.close()), ...servers.map((server) => server.close())]);
    await registry?.close();
    registry = undefined;
    await removeDir(test.dataDir);
  });

  async function seed(hostname: string, options: Partial<Parameters<typeof startFakeDaemon>[0]> = {}) {
    const daemon = await startFakeDaemon({ hostname, ...options });
    daemons.push(daemon);
    streams.push(await registerSeed(test, daemon));
    return daemon;
  }

  it("runs the Dragonfly curl request verbatim to SUCCESS", async () => {
    registry = await startFakeRegistry();
    const image = registry.pushImage("library/app", "1.0", 2);
    const daemon = await seed("seed-1");
    // Byte for byte what `curl -X POST .../api/v1/jobs -H 'Content-Type: application/json' -d '...'` sends.
    const body = `{"type":"preheat","args":{"type":"image","url":"${registry.manifestUrl("library/app", "1.0")}"}}`;
    const created = await test.api("POST", "/api/v1/jobs", { body, headers: { "Content-Type": "application/json" } });
    assert.equal(created.status, 200, created.text);
    assert.equal(created.json.id, 1);
    assert.equal(created.json.state, "PENDING");
    assert.match(created.json.task_id, /^group_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(created.json.type, "preheat");
    assert.deepEqual(
      created.json.scheduler_clusters.map((cluster: { id: number }) => cluster.id),
      [1],
    );

    const job = await test.waitForJob(1);
    assert.equal(job.state, "SUCCESS", JSON.stringify(job.result));
    for (const key of [
      "id",
      "task_id",
      "type",
      "state",
      "args",
      "result",
      "scheduler_clusters",
      "bio",
      "user_id",
      "created_at",
      "updated_at",
    ]) {
      assert.ok(key in job, `job has ${key}`);
    }
    assert.equal(job.args.scope, "single_seed_peer");
    assert.equal(job.args.platform, "linux/amd64");
    const blobUrls = image.blobDigests.map((digest) => registry!.blobUrl("library/app", digest));
    assert.deepEqual(job.result.success_tasks.map((task: { url: string }) => task.url).sort(), [...blobUrls].sort());
    assert.deepEqual(job.result.failure_tasks, []);
    assert.equal(job.result.scheduler_cluster_id, 1);
    assert.equal(job.result.error, undefined);
    assert.equal(job.result.manifest_digest, image.manifestDigest);
    assert.deepEqual(
      job.result.layers.map((layer: { digest: string }) => layer.digest),
      image.blobDigests,
    );
    assert.equal(job.result.job_states[0].state, "SUCCESS");
    assert.deepEqual(job.result.success_tasks[0], {
      url: job.result.success_tasks[0].url,
      hostname: "seed-1",
      ip: "127.0.0.1",
    });

    // The seed got every blob, digest-addressed, through its normal piece engine.
    assert.deepEqual(daemon.calls.map((call) => call.url).sort(), [...blobUrls].sort());
    for (const call of daemon.calls) {
      assert.equal(call.needBackToSource, false);
      assert.equal(call.url, registry.blobUrl("library/app", call.digest));
    }
  });

  it("takes only the asked platform's blobs from a multi-arch index", async () => {
    registry = await startFakeRegistry();
    const images = registry.pushIndex("multi/app", "v1", ["linux/amd64", "linux/arm64/v8"]);
    const daemon = await seed("seed-1");
    const url = registry.manifestUrl("multi/app", "v1");

    const arm = await test.api("POST", "/api/v1/jobs", {
      body: { type: "preheat", args: { type: "image", url, platform: "linux/arm64" } },
    });
    const armJob = await test.waitForJob(arm.json.id);
    assert.equal(armJob.state, "SUCCESS", JSON.stringify(armJob.result));
    assert.equal(armJob.result.platform, "linux/arm64/v8");
    assert.deepEqual(daemon.calls.map((call) => call.digest).sort(), [...images["linux/arm64/v8"]!.blobDigests].sort());

    daemon.calls.length = 0;
    const amd = await test.api("POST", "/api/v1/jobs", { body: { type: "preheat", args: { type: "image", url } } });
    assert.equal((await test.waitForJob(amd.json.id)).state, "SUCCESS");
    assert.deepEqual(daemon.calls.map((call) => call.digest).sort(), [...images["linux/amd64"]!.blobDigests].sort());

    daemon.calls.length = 0;
    const none = await test.api("POST", "/api/v1/jobs", {
      body: { type: "preheat", args: { type: "image", url, platform: "linux/s390x" } },
    });
    const failed = await test.waitForJob(none.json.id);
    assert.equal(failed.state, "FAILURE");
    assert.match(failed.result.error, /^no manifest for platform linux\/s390x/);
    assert.match(failed.result.error, /linux\/amd64, linux\/arm64\/v8/);
    assert.equal(failed.result.job_states[0].error, failed.result.error);
    assert.equal(daemon.calls.length, 0);
  });

  it("follows a Bearer challenge with the credentials and hands the token to the seeds", async () => {
    registry = await startFakeRegistry({ scheme: "bearer", username: "alice", password: "s3cret" });
    const image = registry.pushImage("private/app", "1", 1);
    const daemon = await seed("seed-1");
    const created = await test.api("POST", "/api/v1/jobs", {
      body: {
        type: "preheat",
        args: {
          type: "image",
          url: registry.manifestUrl("private/app", "1"),
          username: "alice",
          password: "s3cret",
          headers: { "X-Trace": "abc" },
        },
      },
    });
    const job = await test.waitForJob(created.json.id);
    assert.equal(job.state, "SUCCESS", JSON.stringify(job.result));
    // The password never comes back.
    assert.equal(job.args.password, "******");

    const tokenRequests = registry.requestsTo("/token");
    assert.equal(tokenRequests.length, 1);
    assert.equal(tokenRequests[0]!.authorization, `Basic ${Buffer.from("alice:s3cret").toString("base64")}`);
    assert.match(tokenRequests[0]!.path, /service=fake-registry/);
    assert.match(tokenRequests[0]!.path, /scope=repository%3Aprivate%2Fapp%3Apull/);
    assert.equal(daemon.calls.length, image.blobDigests.length);
    for (const call of daemon.calls) {
      assert.match(call.requestHeader.Authorization ?? "", /^Bearer token-1-repository:private\/app:pull$/);
      assert.equal(call.requestHeader["X-Trace"], "abc");
    }
  });

  it("answers a Basic challenge with the credentials", async () => {
    registry = await startFakeRegistry({ scheme: "basic", username: "bob", password: "pw" });
    registry.pushImage("basic/app", "1", 1);
    const daemon = await seed("seed-1");
    const created = await test.api("POST", "/api/v1/jobs", {
      body: {
        type: "preheat",
        args: { type: "image", url: registry.manifestUrl("basic/app", "1"), username: "bob", password: "pw" },
      },
    });
    const job = await test.waitForJob(created.json.id);
    assert.equal(job.state, "SUCCESS", JSON.stringify(job.result));
    const basic = `Basic ${Buffer.from("bob:pw").toString("base64")}`;
    assert.ok(daemon.calls.every((call) => call.requestHeader.Authorization === basic));
  });

  it("fails with the registry's status and words on a wrong password", async () => {
    registry = await startFakeRegistry({ scheme: "bearer", username: "alice", password: "s3cret" });
    registry.pushImage("private/app", "1", 1);
    const daemon = await seed("seed-1");
    const created = await test.api("POST", "/api/v1/jobs", {
      body: {
        type: "preheat",
        args: { type: "image", url: registry.manifestUrl("private/app", "1"), username: "alice", password: "wrong" },
      },
    });
    const job = await test.waitForJob(created.json.id);
    assert.equal(job.state, "FAILURE");
    assert.match(job.result.error, /401 Unauthorized: authentication required \(UNAUTHORIZED\)/);
    assert.match(job.result.error, /\/token/);
    assert.equal(job.result.job_states[0].state, "FAILURE");
    assert.equal(job.result.job_states[0].error, job.result.error);
    assert.equal(daemon.calls.length, 0);

    // Basic auth: the manifest request itself is refused.
    const basicRegistry = await startFakeRegistry({ scheme: "basic", username: "bob", password: "pw" });
    try {
      basicRegistry.pushImage("basic/app", "1", 1);
      const basic = await test.api("POST", "/api/v1/jobs", {
        body: {
          type: "preheat",
          args: { type: "image", url: basicRegistry.manifestUrl("basic/app", "1"), username: "bob", password: "nope" },
        },
      });
      const basicJob = await test.waitForJob(basic.json.id);
      assert.equal(basicJob.state, "FAILURE");
      assert.match(basicJob.result.error, /manifests\/1: 401 Unauthorized: authentication required/);
    } finally {
      await basicRegistry.close();
    }
  });

  it("uses a given Authorization header as is, without a token request", async () => {
    registry = await startFakeRegistry();
    registry.pushImage("library/app", "1", 1);
    const daemon = await seed("seed-1");
    const created = await test.api("POST", "/api/v1/jobs", {
      body: {
        type: "preheat",
        args: {
          type: "image",
          url: registry.manifestUrl("library/app", "1"),
          headers: { Authorization: "Bearer given" },
        },
      },
    });
    const job = await test.waitForJob(created.json.id);
    assert.equal(job.state, "SUCCESS");
    assert.equal(job.args.headers.Authorization, "******");
    assert.equal(registry.requestsTo("/token").length, 0);
    assert.ok(registry.requestsTo("/v2/").every((request) => request.authorization === "Bearer given"));
    assert.ok(daemon.calls.every((call) => call.requestHeader.Authorization === "Bearer given"));
  });

  it("all_seed_peers downloads every blob on every active seed", async () => {
    registry = await startFakeRegistry();
    const image = registry.pushImage("library/app", "1", 3);
    const seeds = [await seed("seed-1"), await seed("seed-2"), await seed("seed-3")];
    const created = await test.api("POST", "/api/v1/jobs", {
      body: {
        type: "preheat",
        args: { type: "image", url: registry.manifestUrl("library/app", "1"), scope: "all_seed_peers" },
      },
    });
    const job = await test.waitForJob(created.json.id);
    assert.equal(job.state, "SUCCESS", JSON.stringify(job.result));
    for (const daemon of seeds) {
      assert.deepEqual(daemon.calls.map((call) => call.digest).sort(), [...image.blobDigests].sort());
    }
    assert.equal(job.result.success_tasks.length, image.blobDigests.length * seeds.length);
    for (const layer of job.result.layers) assert.equal(layer.hosts.length, 3);
  });

  it("single_seed_peer sends each blob to one seed chosen by hashing its task id", async () => {
    registry = await startFakeRegistry();
    const image = registry.pushImage("library/app", "1", 7);
    const seeds = [await seed("seed-1"), await seed("seed-2"), await seed("seed-3")];
    const created = await test.api("POST", "/api/v1/jobs", {
      body: { type: "preheat", args: { type: "image", url: registry.manifestUrl("library/app", "1") } },
    });
    assert.equal((await test.waitForJob(created.json.id)).state, "SUCCESS");
    const ring = new HashRing(seeds.map((daemon) => daemon.hostId));
    for (const digest of image.blobDigests) {
      const owners = seeds.filter((daemon) => daemon.calls.some((call) => call.digest === digest));
      assert.equal(owners.length, 1, `${digest} downloaded once`);
      assert.equal(owners[0]!.hostId, ring.get(taskIdForDigest(digest)));
    }
  });

  it("fails when the cluster has no active seed peer", async () => {
    registry = await startFakeRegistry();
    registry.pushImage("library/app", "1", 1);
    const url = registry.manifestUrl("library/app", "1");
    const first = await test.api("POST", "/api/v1/jobs", { body: { type: "preheat", args: { type: "image", url } } });
    const job = await test.waitForJob(first.json.id);
    assert.equal(job.state, "FAILURE");
    assert.equal(job.result.error, "no active seed peer in cluster 1");
    assert.equal(registry.requests.length, 0, "the registry is not asked when there is nobody to download");

    // A registered seed whose keepalive ended is inactive: still nobody.
    const daemon = await startFakeDaemon({ hostname: "gone" });
    daemons.push(daemon);
    await (await registerSeed(test, daemon)).close();
    await test.api("GET", "/api/v1/seed-peers");
    const second = await test.api("POST", "/api/v1/jobs", { body: { type: "preheat", args: { type: "image", url } } });
    assert.equal((await test.waitForJob(second.json.id)).result.error, "no active seed peer in cluster 1");
    assert.equal(daemon.calls.length, 0);
  });

  it("reports a seed's download failure per host and fails the job with it", async () => {
    registry = await startFakeRegistry();
    const image = registry.pushImage("library/app", "1", 2);
    const bad = image.blobDigests[1]!;
    await seed("seed-1", { fail: (download) => (download.digest === bad ? "origin returned 500" : undefined) });
    const created = await test.api("POST", "/api/v1/jobs", {
      body: { type: "preheat", args: { type: "image", url: registry.manifestUrl("library/app", "1") } },
    });
    const job = await test.waitForJob(created.json.id);
    assert.equal(job.state, "FAILURE");
    assert.equal(job.result.success_tasks.length, 2);
    assert.equal(job.result.failure_tasks.length, 1);
    assert.equal(job.result.failure_tasks[0].url, registry.blobUrl("library/app", bad));
    assert.match(job.result.failure_tasks[0].description, /origin returned 500/);
    assert.match(job.result.error, /origin returned 500/);
    const layer = job.result.layers.find((entry: { digest: string }) => entry.digest === bad);
    assert.equal(layer.hosts[0].state, "FAILURE");
  });

  it("preheats files by URL, without digests", async () => {
    const daemon = await seed("seed-1");
    const urls = ["http://files.example/a.bin?Expires=1&x=2", "http://files.example/b.bin"];
    const created = await test.api("POST", "/api/v1/jobs", {
      body: {
        type: "preheat",
        args: { type: "file", urls, filtered_query_params: "Expires&Signature", piece_length: 4194304 },
      },
    });
    const job = await test.waitForJob(created.json.id);
    assert.equal(job.state, "SUCCESS", JSON.stringify(job.result));
    assert.deepEqual(daemon.calls.map((call) => call.url).sort(), [...urls].sort());
    for (const call of daemon.calls) {
      assert.equal(call.digest, "");
      assert.deepEqual(call.filteredQueryParams, ["Expires", "Signature"]);
      assert.equal(call.pieceLength, 4194304n);
    }
  });

  it("all_peers downloads on every host the cluster's schedulers list", async () => {
    registry = await startFakeRegistry();
    const image = registry.pushImage("library/app", "1", 1);
    const peers = [await startFakeDaemon({ hostname: "peer-1" }), await startFakeDaemon({ hostname: "peer-2" })];
    daemons.push(...peers);
    const scheduler = await startFakeScheduler(peers);
    servers.push(scheduler);
    await test.rpc.updateScheduler({ hostname: "scheduler-1", ip: "127.0.0.1", port: scheduler.port });
    const stream = keepAlive(test.rpc, {
      sourceType: SourceType.SCHEDULER,
      hostname: "scheduler-1",
      ip: "127.0.0.1",
      port: scheduler.port,
    });
    streams.push(stream);
    const created = await test.api("POST", "/api/v1/jobs", {
      body: {
        type: "preheat",
        args: { type: "image", url: registry.manifestUrl("library/app", "1"), scope: "all_peers" },
      },
    });
    const job = await test.waitForJob(created.json.id);
    assert.equal(job.state, "SUCCESS", JSON.stringify(job.result));
    for (const peer of peers) assert.equal(peer.calls.length, image.blobDigests.length);

    // ips narrow the hosts down.
    for (const peer of peers) peer.calls.length = 0;
    const narrowed = await test.api("POST", "/api/v1/jobs", {
      body: {
        type: "preheat",
        args: { type: "image", url: registry.manifestUrl("library/app", "1"), scope: "all_peers", count: 1 },
      },
    });
    assert.equal((await test.waitForJob(narrowed.json.id)).state, "SUCCESS");
    assert.deepEqual(
      peers.map((peer) => peer.calls.length),
      [image.blobDigests.length, 0],
    );
  });

  it("DELETE cancels a running job", async () => {
    registry = await startFakeRegistry();
    registry.pushImage("library/app", "1", 1);
    const daemon = await seed("seed-1", { hold: true });
    const created = await test.api("POST", "/api/v1/jobs", {
      body: { type: "preheat", args: { type: "image", url: registry.manifestUrl("library/app", "1") } },
    });
    await test.waitForJob(created.json.id, ["STARTED"]);
    await waitForCalls(daemon, 1);
    const deleted = await test.api("DELETE", `/api/v1/jobs/${created.json.id}`);
    assert.equal(deleted.status, 204);
    assert.equal((await test.api("GET", `/api/v1/jobs/${created.json.id}`)).status, 404);
    assert.equal((await test.api("DELETE", `/api/v1/jobs/${created.json.id}`)).status, 404);
  });

  it("fails a job that outlives its timeout", async () => {
    registry = await startFakeRegistry();
    registry.pushImage("library/app", "1", 1);
    await seed("seed-1", { hold: true });
    const created = await test.api("POST", "/api/v1/jobs", {
      body: { type: "preheat", args: { type: "image", url: registry.manifestUrl("library/app", "1"), timeout: "1s" } },
    });
    assert.equal(created.json.args.timeout, 1);
    const job = await test.waitForJob(created.json.id);
    assert.equal(job.state, "FAILURE");
    assert.equal(job.result.error, "the job timed out after 1s");
  });
});

async function waitForCalls(daemon: FakeDaemon, count: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (daemon.calls.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(daemon.calls.length >= count, `${daemon.hostname} got ${count} downloads`);
}
