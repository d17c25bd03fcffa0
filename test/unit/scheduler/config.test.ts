import assert from "node:assert/strict";
import { validateConfig } from "@d7y/config";
import { DEFAULTS, schedulerConfigSchema } from "@d7y/scheduler";

describe("scheduler config", () => {
  it("fills every default", () => {
    const config = validateConfig(schedulerConfigSchema, {});
    assert.equal(config.port, 8002);
    assert.equal(config.host, "0.0.0.0");
    assert.equal(config.candidateParentLimit, DEFAULTS.candidateParentLimit);
    assert.equal(config.backToSourceLimit, 1);
    assert.equal(config.retryIntervalMs, 200);
    assert.equal(config.retryLimit, 10);
    assert.equal(config.seedWaitMs, 10_000);
    assert.equal(config.badParentTtlMs, 600_000);
    assert.equal(config.taskTtlMs, 1_800_000);
  });

  it("takes durations with units and rejects bad values with their paths", () => {
    assert.equal(validateConfig(schedulerConfigSchema, { seedWaitMs: "2s" }).seedWaitMs, 2_000);
    assert.throws(() => validateConfig(schedulerConfigSchema, { port: "x" }), /port/);
    assert.throws(() => validateConfig(schedulerConfigSchema, { retryIntervalMs: "soon" }), /retryIntervalMs/);
    assert.throws(() => validateConfig(schedulerConfigSchema, { candidateParentLimit: 0 }), /candidateParentLimit/);
    assert.throws(() => validateConfig(schedulerConfigSchema, { typo: 1 }), /typo|unrecognized/i);
  });
});
