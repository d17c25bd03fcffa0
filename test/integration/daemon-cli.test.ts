import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { DAEMON_BIN } from "../helpers/daemon-process.js";
import { freePort, run, spawnTracked, waitFor } from "../helpers/processes.js";

describe("d7y-daemon command line", () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "d7y-cli-"));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("documents every option in --help", async () => {
    const help = await run(process.execPath, [DAEMON_BIN, "--help"]);
    assert.equal(help.code, 0);
    for (const flag of [
      "--config",
      "--data-dir",
      "--registry",
      "--default-registry",
      "--proxy-port",
      "--api-port",
      "--quota",
      "--metrics-port",
      "--no-metrics",
      "--no-auth-check",
      "--log-level",
    ]) {
      assert.ok(help.stdout.includes(flag), `--help mentions ${flag}`);
    }
    const sub = await run(process.execPath, [DAEMON_BIN, "containerd-config", "--help"]);
    assert.match(sub.stdout, /--hosts-dir/);
    assert.match(sub.stdout, /--all/);
  });

  it("rejects bad configuration with one clear line and a non-zero exit", async () => {
    const bad = join(dir, "bad.yaml");
    await writeFile(bad, "proxy:\n  port: eighty\nstorage:\n  quota: lots\n");
    const result = await run(process.execPath, [DAEMON_BIN, "--config", bad], { timeoutMs: 20_000 });
    assert.equal(result.code, 2);
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    assert.match(result.stderr, /proxy\.port/);
    assert.match(result.stderr, /storage\.quota/);
    const missing = await run(process.execPath, [DAEMON_BIN, "--config", join(dir, "nope.yaml")], {
      timeoutMs: 20_000,
    });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read config file/);
    const noRegistry = await run(process.execPath, [DAEMON_BIN, "containerd-config", "--hosts-dir", dir], {
      timeoutMs: 20_000,
    });
    assert.equal(noRegistry.code, 2);
    assert.match(noRegistry.stderr, /--registry/);
  });

  it("reads a YAML config and lets flags override it; answers Connect JSON on the API port", async () => {
    const [proxyPort, apiPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    const config = join(dir, "daemon.yaml");
    await writeFile(
      config,
      [
        `dataDir: ${JSON.stringify(join(dir, "data"))}`,
        "proxy:",
        "  host: 127.0.0.1",
        "  port: 1",
        '  registries: ["http://127.0.0.1:9"]',
        "storage:",
        "  quota: 1GiB",
        "metrics:",
        "  host: 127.0.0.1",
        `  port: ${metricsPort}`,
        "",
      ].join("\n"),
    );
    const daemon = spawnTracked(
      process.execPath,
      [
        DAEMON_BIN,
        "-c",
        config,
        "--proxy-port",
        String(proxyPort),
        "--api-port",
        String(apiPort),
        "--upload-port",
        String(await freePort()),
      ],
      {
        name: "d7y-daemon",
      },
    );
    try {
      await waitFor(() => daemon.output().includes('"msg":"d7y-daemon ready"'), {
        what: "daemon ready",
        timeoutMs: 15_000,
      });
      const health = await request(`http://127.0.0.1:${proxyPort}/healthy`);
      assert.equal(health.statusCode, 200);
      await health.body.dump();
      const metrics = await request(`http://127.0.0.1:${metricsPort}/metrics`);
      assert.equal(metrics.statusCode, 200, "metrics.{host,port} from the config file");
      assert.match(
        await metrics.body.text(),
        /^d7y_daemon_download_bytes_total\{source="origin",component="daemon"\} 0$/m,
      );
      // Connect protocol with JSON over HTTP/1.1, on the same port gRPC clients use over HTTP/2.
      const list = await request(`http://127.0.0.1:${apiPort}/d7y.dfdaemon.v1.DfdaemonService/ListTasks`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      assert.equal(list.statusCode, 200);
      assert.deepEqual(await list.body.json(), {});
      const missing = await request(`http://127.0.0.1:${apiPort}/d7y.dfdaemon.v1.DfdaemonService/StatTask`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ taskId: "0".repeat(64) }),
      });
      assert.equal(missing.statusCode, 404);
      assert.equal(((await missing.body.json()) as { code: string }).code, "not_found");
      // gRPC-Web framing on the same port.
      const web = await request(`http://127.0.0.1:${apiPort}/d7y.dfdaemon.v1.DfdaemonService/ListTasks`, {
        method: "POST",
        headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
        body: Buffer.from([0, 0, 0, 0, 0]),
      });
      assert.equal(web.statusCode, 200);
      assert.match(String(web.headers["content-type"]), /grpc-web/);
      await web.body.dump();
    } finally {
      await daemon.stop();
    }
  });
});
