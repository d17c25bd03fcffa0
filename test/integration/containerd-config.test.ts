/**
 * `d7y-daemon containerd-config --containerd-config FILE --inject-config-path` against REAL
 * containerd: the CLI adds config_path to a CRI-enabled config that has none, containerd loads the
 * edited file (config dump, CRI plugin ok), and a CRI PullImage goes through a running d7y daemon.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { startContainerd, type TestContainerd } from "../helpers/containerd.js";
import { criPullImage } from "../helpers/cri.js";
import { DAEMON_BIN, type DaemonProcess, startDaemonProcess } from "../helpers/daemon-process.js";
import { type BuiltImage, buildImage, pushImage } from "../helpers/image.js";
import { sampleSum } from "../helpers/metrics-text.js";
import { run } from "../helpers/processes.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";

const MiB = 1024 * 1024;

async function containerdConfigCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run(process.execPath, [DAEMON_BIN, "containerd-config", ...args], { timeoutMs: 20_000 });
}

describe("containerd-config --containerd-config --inject-config-path with real containerd", function () {
  this.timeout(180_000);

  let registry: TestRegistry;
  let daemon: DaemonProcess;
  let containerd: TestContainerd | undefined;
  let image: BuiltImage;
  let work: string;
  let hostsDir: string;
  let configFile = "";
  let original = "";
  const cliOutput: string[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "d7y-ctdcfg-it-"));
    hostsDir = join(work, "certs.d");
    registry = await startRegistry();
    image = await buildImage({
      layers: [
        { size: 4 * MiB, seed: "ctdcfg-big" },
        { size: 100 * 1024, seed: "ctdcfg-small" },
      ],
    });
    await pushImage(registry.url, "d7y/cri", "v1", image);
    daemon = await startDaemonProcess({ registries: [registry.url] });
    registry.reset();
    containerd = await startContainerd({
      cri: true,
      snapshotter: "native",
      beforeStart: async (file) => {
        configFile = file;
        original = await readFile(file, "utf8");
        assert.ok(!original.includes("config_path"), "the helper's CRI config starts without config_path");
        const args = [
          "--containerd-config",
          file,
          "--inject-config-path",
          "--hosts-dir",
          hostsDir,
          "--mirror",
          daemon.mirrorUrl,
          "--registry",
          registry.url,
        ];
        const first = await containerdConfigCli(args);
        assert.equal(first.code, 0, first.stderr);
        cliOutput.push(first.stdout);
        const second = await containerdConfigCli(args);
        assert.equal(second.code, 0, second.stderr);
        cliOutput.push(second.stdout);
      },
    });
  });

  after(async () => {
    await containerd?.stop();
    await daemon?.destroy();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("adds config_path once, keeping the rest of the file byte for byte", async () => {
    const edited = await readFile(configFile, "utf8");
    assert.equal(
      edited,
      `${original}\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = ${JSON.stringify(hostsDir)}\n`,
    );
    assert.match(cliOutput[0]!, /set config_path = .* restart containerd to read it/);
    assert.match(cliOutput[1]!, /already sets config_path/);
    const hostsToml = await readFile(join(hostsDir, registry.host, "hosts.toml"), "utf8");
    assert.ok(hostsToml.includes(daemon.mirrorUrl));
  });

  it("containerd reads it: config dump shows config_path and the CRI plugin loads", async () => {
    const dump = await run("/usr/bin/containerd", ["--config", configFile, "config", "dump"], { timeoutMs: 20_000 });
    assert.equal(dump.code, 0, dump.stderr);
    assert.match(
      dump.stdout,
      new RegExp(
        `\\[plugins\\."io\\.containerd\\.grpc\\.v1\\.cri"\\.registry\\]\\s*\\n\\s*config_path = "${hostsDir}"`,
      ),
    );
    const plugins = await containerd!.ctr(["plugins", "ls"]);
    assert.match(plugins.stdout, /io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok/);
  });

  it("a CRI PullImage goes through the d7y daemon", async () => {
    const ref = `${registry.host}/d7y/cri:v1`;
    const metricsBefore = await (await request(daemon.metricsUrl)).body.text();
    const blobsBefore = sampleSum(metricsBefore, "d7y_daemon_mirror_requests_total", { kind: "blob" }) ?? 0;
    const imageRef = await criPullImage(containerd!.socket, ref);
    assert.match(imageRef, /^sha256:[0-9a-f]{64}$/);
    const metricsAfter = await (await request(daemon.metricsUrl)).body.text();
    const blobsAfter = sampleSum(metricsAfter, "d7y_daemon_mirror_requests_total", { kind: "blob" }) ?? 0;
    const manifest = image.platforms[0]!;
    assert.ok(
      blobsAfter - blobsBefore >= manifest.layers.length + 1,
      `the daemon served the layers and config (${blobsAfter - blobsBefore} blob requests)`,
    );
    // containerd itself never fetched a blob from the registry: every blob GET came from the daemon.
    // The daemon fetches pieces with Range requests (206); containerd would GET whole blobs (200).
    const gets = registry.blobGets();
    assert.ok(gets.length > 0);
    for (const get of gets) assert.ok(get.range !== undefined && get.status === 206, `${get.path}: ${get.status}`);
    const images = await run("/usr/bin/ctr", ["-a", containerd!.socket, "-n", "k8s.io", "images", "ls", "-q"]);
    assert.ok(images.stdout.includes(ref), images.stdout);
  });
});
