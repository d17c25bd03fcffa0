import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyFileVerbose, ConfigError, configFromOptions } from "@d7y/config";
import { daemonConfigSchema } from "@d7y/daemon";
import { managerConfigSchema } from "@d7y/manager";
import { schedulerConfigSchema } from "@d7y/scheduler";

describe("config files: verbose and pprof keys", () => {
  let dir: string;
  let count = 0;
  const file = (yaml: string): string => {
    const path = join(dir, `config-${++count}.yaml`);
    writeFileSync(path, yaml);
    return path;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "d7y-config-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("turns a file's verbose: true into logLevel debug and strips the key", () => {
    assert.deepEqual(applyFileVerbose({ verbose: true, port: 1 }), { logLevel: "debug", port: 1 });
    assert.deepEqual(applyFileVerbose({ verbose: false, port: 1 }), { port: 1 });
    assert.deepEqual(applyFileVerbose({ verbose: true, logLevel: "warn" }), { logLevel: "warn" });
    assert.deepEqual(applyFileVerbose({ port: 1 }), { port: 1 });
    assert.throws(() => applyFileVerbose({ verbose: "yes" }), ConfigError);
    assert.throws(() => applyFileVerbose({ verbose: "yes" }), /verbose: expected a boolean/);
  });

  it("means debug logs unless the file or a flag sets logLevel", () => {
    const verbose = file("verbose: true\n");
    assert.equal(configFromOptions(schedulerConfigSchema, { config: verbose }, {}).logLevel, "debug");
    const flagPaths = { logLevel: "logLevel" };
    assert.equal(
      configFromOptions(schedulerConfigSchema, { config: verbose, logLevel: "warn" }, flagPaths).logLevel,
      "warn",
      "--log-level wins over the file's verbose",
    );
    const both = file("verbose: true\nlogLevel: error\n");
    assert.equal(configFromOptions(schedulerConfigSchema, { config: both }, flagPaths).logLevel, "error");
    const quiet = file("verbose: false\n");
    assert.equal(configFromOptions(schedulerConfigSchema, { config: quiet }, flagPaths).logLevel, "info");
    assert.equal(
      configFromOptions(schedulerConfigSchema, { config: quiet, verbose: true }, flagPaths).logLevel,
      "debug",
      "--verbose still means debug",
    );
    assert.throws(() => configFromOptions(schedulerConfigSchema, { config: file("verbose: 3\n") }, {}), ConfigError);
  });

  it("accepts the helm chart's {verbose: true, pprofPort: 18066} in every component", () => {
    const helm = file("verbose: true\npprofPort: 18066\n");
    for (const [name, schema] of [
      ["daemon", daemonConfigSchema],
      ["scheduler", schedulerConfigSchema],
      ["manager", managerConfigSchema],
    ] as const) {
      const config = configFromOptions(schema, { config: helm }, {});
      assert.equal(config.logLevel, "debug", name);
      assert.equal(config.pprofPort, 18066, name);
      assert.equal(config.pprofHost, "127.0.0.1", name);
      const off = configFromOptions(schema, {}, {});
      assert.equal(off.pprofPort, -1, `${name}: profiling is off by default`);
      const flags = configFromOptions(
        schema,
        { config: helm, pprofPort: 0, pprofHost: "0.0.0.0" },
        { pprofPort: "pprofPort", pprofHost: "pprofHost" },
      );
      assert.equal(flags.pprofPort, 0, `${name}: the flag wins`);
      assert.equal(flags.pprofHost, "0.0.0.0", name);
      for (const bad of ["pprofPort: -2\n", "pprofPort: 65536\n", "pprofPort: 1.5\n"]) {
        assert.throws(() => configFromOptions(schema, { config: file(bad) }, {}), /pprofPort/, `${name}: ${bad}`);
      }
      assert.throws(() => configFromOptions(schema, { config: file("pprof: 1\n") }, {}), ConfigError, "still strict");
    }
  });
});
