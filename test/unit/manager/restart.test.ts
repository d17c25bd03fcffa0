import assert from "node:assert/strict";
import { type FakeDaemon, startFakeDaemon } from "./fake-daemons.js";
import { type FakeRegistry, startFakeRegistry } from "./fake-registry.js";
import { type KeepAliveStream, registerSeed, removeDir, startTestManager, type TestManager } from "./fixture.js";

describe("manager restarts", () => {
  let test: TestManager;
  let registry: FakeRegistry;
  let daemon: FakeDaemon;
  let stream: KeepAliveStream | undefined;
  /** Config + layers of the test image. */
  let blobs: number;
  const clock = { offsetMs: 0 };
  const deps = { now: () => Date.now() + clock.offsetMs };

  beforeEach(async () => {
    clock.offsetMs = 0;
    registry = await startFakeRegistry();
    blobs = registry.pushImage("library/app", "1", 2).blobDigests.length;
    test = await startTestManager({ deps });
  });

  afterEach(async () => {
    await stream?.close();
    stream = undefined;
    await test.stop();
    await daemon?.close();
    await registry.close();
    await removeDir(test.dataDir);
  });

  const preheat = (extra: Record<string, unknown> = {}) =>
    test.api("POST", "/api/v1/jobs", {
      body: { type: "preheat", args: { type: "image", url: registry.manifestUrl("library/app", "1"), ...extra } },
    });

  it("keeps jobs, their states and results, clusters, instances and tokens", async () => {
    await test.api("PATCH", "/api/v1/clusters/1", { body: { config: { candidate_parent_limit: 6 } } });
    daemon = await startFakeDaemon({ hostname: "seed-1" });
    stream = await registerSeed(test, daemon);
    const ok = await test.waitForJob((await preheat()).json.id);
    await stream.close();
    stream = undefined;
    const failed = await test.waitForJob((await preheat()).json.id);
    assert.equal(ok.state, "SUCCESS");
    assert.equal(failed.state, "FAILURE");
    const { token } = (await test.api("POST", "/api/v1/personal-access-tokens", { body: { name: "t" } })).json;

    await test.stop();
    test = await startTestManager({ dataDir: test.dataDir, deps });

    assert.deepEqual((await test.api("GET", `/api/v1/jobs/${ok.id}`)).json, ok);
    assert.deepEqual((await test.api("GET", `/api/v1/jobs/${failed.id}`)).json, failed);
    const next = await preheat();
    assert.equal(next.json.id, 3, "ids continue after a restart");
    const clusters = (await test.api("GET", "/api/v1/clusters")).json;
    assert.equal(clusters.length, 1);
    assert.equal(clusters[0].config.candidate_parent_limit, 6);
    const seeds = (await test.api("GET", "/api/v1/seed-peers")).json;
    assert.deepEqual(
      seeds.map((seed: { hostname: string; state: string }) => [seed.hostname, seed.state]),
      [["seed-1", "inactive"]],
    );
    assert.equal(
      (await test.api("GET", "/oapi/v1/jobs", { headers: { authorization: `Bearer ${token}` } })).status,
      200,
    );
  });

  it("resumes a job the stop interrupted once its seed keeps alive again", async () => {
    daemon = await startFakeDaemon({ hostname: "seed-1", hold: true });
    stream = await registerSeed(test, daemon);
    const created = await preheat();
    await test.waitForJob(created.json.id, ["STARTED"]);
    const deadline = Date.now() + 5_000;
    while (daemon.calls.length < blobs && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(daemon.calls.length, blobs);

    await test.stop();
    await stream.close();
    stream = undefined;
    test = await startTestManager({ dataDir: test.dataDir, deps, config: { resumeGraceMs: 10_000 } });
    const waiting = await test.api("GET", `/api/v1/jobs/${created.json.id}`);
    assert.equal(waiting.json.state, "STARTED", "resumed, waiting for its seed");

    daemon.open();
    stream = await registerSeed(test, daemon);
    const job = await test.waitForJob(created.json.id);
    assert.equal(job.state, "SUCCESS", JSON.stringify(job.result));
    assert.equal(job.created_at, created.json.created_at);
    assert.equal(job.result.success_tasks.length, blobs);
    assert.equal(daemon.calls.length, 2 * blobs, "each blob asked again after the restart");
    assert.equal(daemon.aborted, blobs, "the stop aborted the downloads in flight");
  });

  it("fails a job the stop interrupted when its timeout passed meanwhile", async () => {
    daemon = await startFakeDaemon({ hostname: "seed-1", hold: true });
    stream = await registerSeed(test, daemon);
    const created = await preheat({ timeout: 60 });
    await test.waitForJob(created.json.id, ["STARTED"]);
    await test.stop();

    clock.offsetMs = 61_000;
    test = await startTestManager({ dataDir: test.dataDir, deps });
    const job = (await test.api("GET", `/api/v1/jobs/${created.json.id}`)).json;
    assert.equal(job.state, "FAILURE");
    assert.equal(job.result.error, "manager restarted while the job was running, and its timeout (60s) has passed");
    assert.equal(job.result.job_states[0].error, job.result.error);
  });

  it("fails a resumed job whose seeds do not come back within the grace period", async () => {
    daemon = await startFakeDaemon({ hostname: "seed-1", hold: true });
    stream = await registerSeed(test, daemon);
    const created = await preheat();
    await test.waitForJob(created.json.id, ["STARTED"]);
    await test.stop();
    test = await startTestManager({ dataDir: test.dataDir, deps, config: { resumeGraceMs: 300 } });
    const job = await test.waitForJob(created.json.id);
    assert.equal(job.state, "FAILURE");
    assert.equal(job.result.error, "no active seed peer in cluster 1");
  });
});
