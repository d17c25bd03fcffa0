import assert from "node:assert/strict";
import { request } from "undici";
import { sampleSum } from "../../helpers/metrics-text.js";
import { type FakeDaemon, startFakeDaemon } from "./fake-daemons.js";
import { type FakeRegistry, startFakeRegistry } from "./fake-registry.js";
import { type KeepAliveStream, registerSeed, removeDir, startTestManager, type TestManager } from "./fixture.js";

describe("manager metrics", () => {
  let test: TestManager;
  let registry: FakeRegistry;
  let daemon: FakeDaemon | undefined;
  let stream: KeepAliveStream | undefined;

  beforeEach(async () => {
    test = await startTestManager();
    registry = await startFakeRegistry();
  });

  afterEach(async () => {
    await stream?.close();
    stream = undefined;
    await test.stop();
    await daemon?.close();
    daemon = undefined;
    await registry.close();
    await removeDir(test.dataDir);
  });

  async function scrape(): Promise<string> {
    assert.ok(test.manager.metricsUrl, "metrics are enabled");
    const response = await request(test.manager.metricsUrl);
    assert.equal(response.statusCode, 200);
    return response.body.text();
  }

  it("counts created jobs, jobs by state, preheated blobs by result and instances by state", async () => {
    let text = await scrape();
    assert.equal(sampleSum(text, "d7y_manager_jobs_created_total", { type: "preheat" }), 0);
    assert.equal(sampleSum(text, "d7y_manager_jobs"), 0);
    assert.equal(sampleSum(text, "d7y_manager_instances"), 0);

    const image = registry.pushImage("library/app", "1.0", 2);
    const failing = image.blobDigests[1]!;
    daemon = await startFakeDaemon({
      hostname: "seed-1",
      fail: (download) => (download.digest === failing ? "disk full" : undefined),
    });
    stream = await registerSeed(test, daemon);
    text = await scrape();
    assert.equal(sampleSum(text, "d7y_manager_instances", { kind: "seed-peer", state: "active" }), 1);
    assert.equal(sampleSum(text, "d7y_manager_instances", { kind: "scheduler", state: "active" }), 0);

    const created = await test.api("POST", "/api/v1/jobs", {
      body: { type: "preheat", args: { type: "image", url: registry.manifestUrl("library/app", "1.0") } },
    });
    assert.equal(created.status, 200, created.text);
    const job = await test.waitForJob(created.json.id);
    text = await scrape();
    assert.equal(sampleSum(text, "d7y_manager_jobs_created_total", { type: "preheat" }), 1);
    assert.equal(sampleSum(text, "d7y_manager_jobs", { type: "preheat", state: job.state }), 1);
    assert.equal(sampleSum(text, "d7y_manager_jobs"), 1);
    assert.equal(
      sampleSum(text, "d7y_manager_preheat_blobs_total", { result: "success" }),
      image.blobDigests.length - 1,
    );
    assert.equal(sampleSum(text, "d7y_manager_preheat_blobs_total", { result: "failure" }), 1);
    assert.equal(sampleSum(text, "d7y_manager_preheat_blobs_total", { result: "cancelled" }), 0);
  });
});
