import assert from "node:assert/strict";
import { createSilentLogger } from "@d7y/observability";
import type { ClusterConfig } from "@d7y/proto/manager/v1";
import { ManagerAnnouncer } from "@d7y/scheduler";
import { removeDir, startTestManager, type TestManager, waitFor } from "./fixture.js";

describe("cluster config reaches the schedulers", () => {
  let test: TestManager;
  let announcer: ManagerAnnouncer | undefined;

  afterEach(async () => {
    await announcer?.stop();
    await test?.stop();
    await removeDir(test?.dataDir);
  });

  it("a scheduler registers, keeps alive and applies a PATCHed cluster config", async () => {
    test = await startTestManager();
    const applied: ClusterConfig[] = [];
    announcer = new ManagerAnnouncer({
      manager: test.manager.rpcUrl,
      clusterId: 1,
      ip: "127.0.0.1",
      port: () => 18002,
      keepAliveIntervalMs: 100,
      configRefreshMs: 100,
      applyConfig: (config) => applied.push(config),
      logger: createSilentLogger(),
    });
    announcer.start();
    await waitFor(async () => {
      const schedulers = (await test.api("GET", "/api/v1/schedulers")).json as Array<{ port: number; state: string }>;
      return schedulers.some((s) => s.port === 18002 && s.state === "active") ? true : undefined;
    }, "the scheduler to be active");
    assert.equal(applied[0]?.candidateParentLimit, 4, "the default cluster's config came with the registration");
    const patched = await test.api("PATCH", "/api/v1/clusters/1", {
      body: { config: { candidate_parent_limit: 7, back_to_source_limit: 3 } },
    });
    assert.equal(patched.status, 200);
    await waitFor(
      async () => (applied.some((c) => c.candidateParentLimit === 7 && c.backToSourceLimit === 3) ? true : undefined),
      "the new config to be applied",
    );
    await announcer.stop();
    announcer = undefined;
    await waitFor(async () => {
      const schedulers = (await test.api("GET", "/api/v1/schedulers")).json as Array<{ port: number; state: string }>;
      return schedulers.some((s) => s.port === 18002 && s.state === "inactive") ? true : undefined;
    }, "the scheduler to be inactive after it stopped");
  });
});
