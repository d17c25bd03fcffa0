import assert from "node:assert/strict";
import { validateConfig } from "@d7y/config";
import { daemonConfigSchema } from "@d7y/daemon";

describe("daemon config", () => {
  it("fills every default and derives the default registry", () => {
    const config = validateConfig(daemonConfigSchema, { proxy: { registries: ["ghcr.io", "http://127.0.0.1:5000"] } });
    assert.equal(config.proxy.port, 4001);
    assert.equal(config.api.port, 4000);
    assert.deepEqual(config.proxy.registries, ["https://ghcr.io", "http://127.0.0.1:5000"]);
    assert.equal(config.proxy.defaultRegistry, "https://ghcr.io");
    assert.equal(config.storage.quota, 20 * 1024 ** 3);
    assert.equal(config.download.pieceTimeout, 120_000);
  });

  it("rejects unknown keys and bad values with their paths", () => {
    assert.throws(() => validateConfig(daemonConfigSchema, { proxy: { port: "x" } }), /proxy\.port/);
    assert.throws(() => validateConfig(daemonConfigSchema, { storage: { quota: "lots" } }), /storage\.quota/);
    assert.throws(() => validateConfig(daemonConfigSchema, { typo: 1 }), /typo|unrecognized/i);
    // A misspelt key inside a section is refused too, not silently dropped.
    assert.throws(() => validateConfig(daemonConfigSchema, { storage: { qouta: "1GiB" } }), /storage.*qouta/);
    assert.throws(
      () => validateConfig(daemonConfigSchema, { storage: { highWatermark: 0.5, lowWatermark: 0.6 } }),
      /lowWatermark/,
    );
    assert.throws(() => validateConfig(daemonConfigSchema, { proxy: { registries: ["ftp://x"] } }), /invalid registry/);
  });
});
