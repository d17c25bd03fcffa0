import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { freePort, spawnTracked, waitFor } from "../helpers/processes.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../../..");

describe("npm start", () => {
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

  it("runs the daemon in front of the configured registry and prints the containerd config", async () => {
    const [proxyPort, apiPort] = [await freePort(), await freePort()];
    const start = spawnTracked(process.execPath, [join(ROOT, "scripts/start.mjs")], {
      name: "npm start",
      env: {
        ...process.env,
        D7Y_DATA_DIR: dataDir,
        D7Y_REGISTRIES: registry.url,
        D7Y_PROXY_PORT: String(proxyPort),
        D7Y_API_PORT: String(apiPort),
        D7Y_UPLOAD_PORT: String(await freePort()),
      },
    });
    try {
      await waitFor(() => start.output().includes("d7y-daemon is up"), { what: "the start banner", timeoutMs: 20_000 });
      assert.match(start.output(), new RegExp(`registry mirror http://127.0.0.1:${proxyPort}`));
      const hosts = await readFile(join(dataDir, "certs.d", registry.host, "hosts.toml"), "utf8");
      assert.match(hosts, new RegExp(`server = "${registry.url}"`));
      const ping = await request(`http://127.0.0.1:${proxyPort}/v2/`);
      await ping.body.dump();
      assert.equal(ping.statusCode, 200, "the mirror forwards /v2/ to the configured registry");
      assert.ok(registry.requests.some((r) => r.path === "/v2/"));
    } finally {
      await start.stop("SIGTERM", 10_000);
    }
    assert.equal(start.isRunning(), false);
  });
});
