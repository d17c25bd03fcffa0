import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { DAEMON_BIN } from "../helpers/daemon-process.js";
import { MANAGER_BIN } from "../helpers/manager-process.js";
import { freePort, run, waitFor } from "../helpers/processes.js";
import { SCHEDULER_BIN, startSchedulerProcess } from "../helpers/scheduler-process.js";

/** pino lines of a process' output. */
function logLines(output: string): Array<Record<string, unknown>> {
  return output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

describe("profiling endpoint and verbose in a config file (Dragonfly's helm values)", function () {
  this.timeout(60_000);
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "d7y-pprof-"));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("documents --pprof-port and --pprof-host in every component's --help", async () => {
    for (const bin of [DAEMON_BIN, SCHEDULER_BIN, MANAGER_BIN]) {
      const help = await run(process.execPath, [bin, "--help"]);
      assert.equal(help.code, 0);
      for (const text of ["--pprof-port <port>", "--pprof-host <host>", "pprofPort", "verbose"]) {
        assert.ok(help.stdout.includes(text), `${bin} --help mentions ${text}`);
      }
    }
  });

  it("d7y-scheduler with {verbose: true, pprofPort} serves a CPU profile and logs at debug level", async () => {
    const pprofPort = await freePort();
    const config = join(dir, "scheduler.yaml");
    await writeFile(config, `verbose: true\npprofPort: ${pprofPort}\n`);
    const scheduler = await startSchedulerProcess({ extraArgs: ["--config", config] });
    try {
      const url = `http://127.0.0.1:${pprofPort}/debug/pprof/`;
      await waitFor(
        () => logLines(scheduler.process.output()).some((line) => line.msg === "profiling endpoint listening"),
        { what: "the profiling endpoint's log line", timeoutMs: 10_000 },
      );
      const listening = logLines(scheduler.process.output()).find(
        (line) => line.msg === "profiling endpoint listening",
      );
      assert.equal(listening?.url, url);
      assert.equal(listening?.component, "pprof");

      const response = await request(`${url}profile?seconds=1`);
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers["content-type"], "application/json");
      assert.match(
        String(response.headers["content-disposition"]),
        /^attachment; filename="d7y-scheduler-\d{8}T\d{6}Z\.cpuprofile"$/,
      );
      const profile = (await response.body.json()) as {
        nodes: Array<{ id: number; callFrame: { functionName: string } }>;
        startTime: number;
        endTime: number;
        samples: number[];
      };
      assert.ok(profile.nodes.length > 0, "nodes");
      assert.ok(profile.endTime > profile.startTime);
      assert.ok(Array.isArray(profile.samples));
      assert.ok(profile.nodes.some((node) => node.callFrame.functionName === "(root)"));

      // verbose: true means debug: the profile request was logged at level 20, which info would drop.
      await waitFor(() => logLines(scheduler.process.output()).some((line) => line.msg === "profile served"), {
        what: "the debug line of the served profile",
        timeoutMs: 5_000,
      });
      const debug = logLines(scheduler.process.output()).filter((line) => line.level === 20);
      assert.ok(
        debug.some((line) => line.msg === "profiling" && line.profile === "profile"),
        "debug lines are written",
      );
    } finally {
      await scheduler.stop();
    }
    await assert.rejects(request(`http://127.0.0.1:${pprofPort}/debug/pprof/`), "the port is closed on stop");
  });
});
