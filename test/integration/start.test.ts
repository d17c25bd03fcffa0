import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { freePort, freePortBlock, spawnTracked, waitFor } from "../helpers/processes.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../../..");

describe("npm start (the all-in-one local cluster)", function () {
  this.timeout(120_000);
  let registry: TestRegistry;
  let dataDir: string;

  before(async () => {
    registry = await startRegistry();
    dataDir = await mkdtemp(join(tmpdir(), "d7y-start-"));
  });

  after(async () => {
    await registry?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("runs manager, scheduler, seed peer and daemon, and prints the mirror and its hosts.toml", async () => {
    const ports: Record<string, number> = {};
    for (const name of [
      "PROXY",
      "API",
      "UPLOAD",
      "SCHEDULER",
      "MANAGER",
      "MANAGER_RPC",
      "METRICS",
      "SCHEDULER_METRICS",
      "MANAGER_METRICS",
    ])
      ports[name] = await freePort();
    // The seed uses base, +1, +2 and +5.
    const seedBase = await freePortBlock(6);
    const start = spawnTracked(process.execPath, [join(ROOT, "scripts/start.mjs")], {
      name: "npm start",
      env: {
        ...process.env,
        D7Y_DATA_DIR: dataDir,
        D7Y_REGISTRIES: registry.url,
        D7Y_PROXY_PORT: String(ports.PROXY),
        D7Y_API_PORT: String(ports.API),
        D7Y_UPLOAD_PORT: String(ports.UPLOAD),
        D7Y_SCHEDULER_PORT: String(ports.SCHEDULER),
        D7Y_MANAGER_PORT: String(ports.MANAGER),
        D7Y_MANAGER_RPC_PORT: String(ports.MANAGER_RPC),
        D7Y_SEED_PORT_BASE: String(seedBase),
        D7Y_METRICS_PORT: String(ports.METRICS),
        D7Y_SCHEDULER_METRICS_PORT: String(ports.SCHEDULER_METRICS),
        D7Y_MANAGER_METRICS_PORT: String(ports.MANAGER_METRICS),
      },
    });
    try {
      await waitFor(
        () => {
          if (!start.isRunning()) throw new Error(start.output());
          return start.output().includes("d7y is up");
        },
        { what: "the start banner", timeoutMs: 60_000 },
      );
      assert.match(start.output(), new RegExp(`registry mirror  http://127.0.0.1:${ports.PROXY}`));
      const hosts = await readFile(join(dataDir, "certs.d", registry.host, "hosts.toml"), "utf8");
      assert.match(hosts, new RegExp(`server = "${registry.url}"`));
      const ping = await request(`http://127.0.0.1:${ports.PROXY}/v2/`);
      await ping.body.dump();
      assert.equal(ping.statusCode, 200, "the mirror forwards /v2/ to the configured registry");
      const manager = `http://127.0.0.1:${ports.MANAGER}`;
      const healthy = await request(`${manager}/healthy`);
      await healthy.body.dump();
      assert.equal(healthy.statusCode, 200);
      for (const [component, port] of [
        ["daemon", ports.METRICS],
        ["daemon", seedBase + 2],
        ["scheduler", ports.SCHEDULER_METRICS],
        ["manager", ports.MANAGER_METRICS],
      ] as const) {
        const metrics = await request(`http://127.0.0.1:${port}/metrics`);
        assert.equal(metrics.statusCode, 200);
        assert.match(await metrics.body.text(), new RegExp(`^d7y_${component}_\\w+\\{.*component="${component}"`, "m"));
      }
      // The scheduler and the seed peer registered with the manager and are kept alive.
      await waitFor(
        async () => {
          const schedulers = (await (await request(`${manager}/api/v1/schedulers`)).body.json()) as Array<{
            state: string;
          }>;
          const seeds = (await (await request(`${manager}/api/v1/seed-peers`)).body.json()) as Array<{ state: string }>;
          return schedulers.some((s) => s.state === "active") && seeds.some((s) => s.state === "active");
        },
        { what: "scheduler and seed peer active in the manager", timeoutMs: 20_000 },
      );
    } finally {
      await start.stop("SIGTERM", 20_000);
    }
    assert.equal(start.isRunning(), false);
  });
});
