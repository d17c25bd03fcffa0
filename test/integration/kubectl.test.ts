/**
 * `kubectl d7y` as a user runs it: the real bin as a subprocess against a real local cluster (manager,
 * scheduler, seed daemon, registry with a pushed image), and through kubectl's plugin discovery.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type DaemonProcess, startDaemonProcess } from "../helpers/daemon-process.js";
import { buildImage, pushImage } from "../helpers/image.js";
import { type ManagerProcess, startManagerProcess } from "../helpers/manager-process.js";
import { freePort, loopbackEnv, type RunResult, run, waitFor } from "../helpers/processes.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { type SchedulerProcess, startSchedulerProcess } from "../helpers/scheduler-process.js";

const KUBECTL_D7Y = join(dirname(fileURLToPath(import.meta.url)), "../../../kubectl-plugin/bin/kubectl-d7y.js");
const MiB = 1024 * 1024;

interface JobJson {
  id: number;
  state: string;
  type: string;
  args: { url?: string };
  result?: { layers?: Array<{ digest: string; hosts: Array<{ hostname: string; state: string }> }> };
}

/** The one line a user error prints. */
function oneStderrLine(result: RunResult): string {
  const lines = result.stderr.split("\n").filter((line) => line !== "");
  assert.equal(lines.length, 1, `exactly one stderr line, got:\n${result.stderr}`);
  return lines[0] ?? "";
}

describe("kubectl d7y against a real cluster", function () {
  this.timeout(180_000);

  let registry: TestRegistry;
  let manager: ManagerProcess;
  let scheduler: SchedulerProcess;
  let seed: DaemonProcess;
  let pathDir: string;

  const d7y = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    run(process.execPath, [KUBECTL_D7Y, ...args], { env: loopbackEnv(env), timeoutMs: 120_000 });

  before(async () => {
    pathDir = await mkdtemp(join(tmpdir(), "d7y-kubectl-path-"));
    registry = await startRegistry();
    const image = await buildImage({
      layers: [
        { size: 4 * MiB, seed: "kubectl-big" },
        { size: 200 * 1024, seed: "kubectl-small" },
      ],
    });
    await pushImage(registry.url, "d7y/kubectl", "v1", image);
    manager = await startManagerProcess();
    scheduler = await startSchedulerProcess({ manager: manager.rpcUrl });
    seed = await startDaemonProcess({
      registries: [registry.url],
      manager: manager.rpcUrl,
      seed: true,
      announceInterval: "1s",
    });
    await waitFor(
      async () => {
        const [seeds, schedulers] = await Promise.all(
          ["seed-peers", "schedulers"].map(
            async (kind) => (await (await fetch(`${manager.url}/api/v1/${kind}`)).json()) as Array<{ state: string }>,
          ),
        );
        return seeds?.some((s) => s.state === "active") && schedulers?.some((s) => s.state === "active");
      },
      { what: "the scheduler and the seed to register", timeoutMs: 20_000 },
    );
  });

  after(async () => {
    await Promise.allSettled([seed?.destroy(), scheduler?.stop()]);
    await Promise.allSettled([manager?.destroy(), registry?.stop()]);
    if (pathDir) await rm(pathDir, { recursive: true, force: true });
  });

  let jobId = 0;

  it("preheat <registry>/repo:tag --plain-http reaches SUCCESS, shows each layer on the seed, and exits 0", async () => {
    const image = `${registry.host}/d7y/kubectl:v1`;
    const result = await d7y(["preheat", image, "--plain-http", "--manager", manager.url]);
    assert.equal(result.code, 0, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
    assert.equal(result.stderr, "");
    const match = /^job (\d+) {2}(\S+) {2}SUCCESS/m.exec(result.stdout);
    assert.ok(match, `a SUCCESS header in:\n${result.stdout}`);
    assert.equal(match[2], image);
    jobId = Number(match[1]);
    const rows = result.stdout.split("\n").filter((line) => /^ {2}sha256:[0-9a-f]{12} /.test(line));
    assert.ok(rows.length >= 2, `a row per layer (and the config):\n${result.stdout}`);
    for (const row of rows) assert.match(row, / SUCCESS /);
    // The seed really holds the blobs: the registry served them once, to the seed.
    assert.ok(registry.blobGets().length >= 2);
  });

  it("jobs list -o json parses and includes the job; jobs get shows it; an unknown job is one line", async () => {
    const list = await d7y(["jobs", "list", "-o", "json", "--manager", manager.url]);
    assert.equal(list.code, 0, list.stderr);
    const jobs = JSON.parse(list.stdout) as JobJson[];
    const job = jobs.find((j) => j.id === jobId);
    assert.ok(job, `job ${jobId} in ${list.stdout}`);
    assert.equal(job.state, "SUCCESS");
    assert.equal(job.type, "preheat");
    assert.equal(job.args.url, `http://${registry.host}/v2/d7y/kubectl/manifests/v1`);

    const table = await d7y(["jobs", "list", "--manager", manager.url]);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^ID +TYPE +STATE +CREATED +URL$/m);
    assert.match(table.stdout, new RegExp(`^${jobId} +preheat +SUCCESS `, "m"));

    const yaml = await d7y(["jobs", "get", String(jobId), "-o", "yaml", "--manager", manager.url]);
    assert.equal(yaml.code, 0);
    assert.match(yaml.stdout, /^state: SUCCESS$/m);

    const unknown = await d7y(["jobs", "get", "999999", "--manager", manager.url]);
    assert.equal(unknown.code, 2);
    assert.equal(oneStderrLine(unknown), "error: unknown job 999999");
  });

  it("a bad image reference exits non-zero with exactly one stderr line and creates no job", async () => {
    const before = JSON.parse(
      (await d7y(["jobs", "list", "-o", "json", "--manager", manager.url])).stdout,
    ) as unknown[];
    const result = await d7y(["preheat", "Not A Reference", "--manager", manager.url]);
    assert.notEqual(result.code, 0);
    assert.match(oneStderrLine(result), /^error: invalid image reference "Not A Reference": /);
    assert.equal(result.stdout, "");
    const after = JSON.parse((await d7y(["jobs", "list", "-o", "json", "--manager", manager.url])).stdout) as unknown[];
    assert.equal(after.length, before.length);
  });

  it("a preheat the manager fails exits 1 with the reason on one line", async () => {
    const result = await d7y(["preheat", `${registry.host}/d7y/missing:v1`, "--plain-http", "--manager", manager.url]);
    assert.equal(result.code, 1, result.stdout);
    assert.match(oneStderrLine(result), /^error: preheat failed: job \d+ \(.*d7y\/missing:v1\): .+/);
    assert.match(result.stdout, /FAILURE/);
  });

  it("status exits 0 (also with D7Y_MANAGER); peers list shows the scheduler and the seed peer", async () => {
    const status = await d7y(["status", "-o", "json"], { D7Y_MANAGER: manager.url });
    assert.equal(status.code, 0, status.stderr);
    const parsed = JSON.parse(status.stdout) as { manager: { healthy: boolean }; schedulers: { active: number } };
    assert.equal(parsed.manager.healthy, true);
    assert.ok(parsed.schedulers.active >= 1);
    const table = await d7y(["status", "--manager", manager.url]);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^manager +healthy /m);

    const peers = await d7y(["peers", "list", "-o", "json", "--manager", manager.url]);
    assert.equal(peers.code, 0, peers.stderr);
    const rows = JSON.parse(peers.stdout) as Array<{ kind: string; state: string; port: number }>;
    assert.deepEqual(rows.map((r) => [r.kind, r.state]).sort(), [
      ["scheduler", "active"],
      ["seed-peer", "active"],
    ]);
    const peerTable = await d7y(["peers", "list", "--manager", manager.url]);
    assert.match(peerTable.stdout, /^KIND +HOSTNAME +IP +PORT +STATE +CLUSTER$/m);
    assert.match(peerTable.stdout, new RegExp(`^seed-peer +\\S+ +127\\.0\\.0\\.1 +${seed.apiPort} +active +1$`, "m"));
  });

  it("an unreachable manager (closed port) exits non-zero with one line, for every command", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    for (const args of [["status"], ["jobs", "list"], ["peers", "list"], ["preheat", "r.example/a:1"]]) {
      const result = await d7y([...args, "--manager", closed]);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.equal(
        oneStderrLine(result),
        `error: cannot reach the manager at ${closed}: connect ECONNREFUSED ${closed.slice(7)}`,
      );
    }
  });

  it("no --manager and no kubeconfig: one clear line", async () => {
    const result = await d7y(["jobs", "list", "-n", "d7y-system"], { D7Y_MANAGER: "", KUBECONFIG: "", HOME: pathDir });
    assert.equal(result.code, 2);
    assert.equal(oneStderrLine(result), "error: no kubeconfig found: pass --kubeconfig or --manager");
  });

  it("kubectl plugin list finds kubectl-d7y on PATH, and `kubectl d7y --help` works", async () => {
    await symlink(KUBECTL_D7Y, join(pathDir, "kubectl-d7y"));
    const env = loopbackEnv({ PATH: [pathDir, dirname(process.execPath), process.env.PATH].join(":") });
    const list = await run("kubectl", ["plugin", "list"], { env });
    assert.match(list.stdout, new RegExp(`^${pathDir}/kubectl-d7y$`, "m"), `${list.stdout}\n${list.stderr}`);
    const help = await run("kubectl", ["d7y", "--help"], { env });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /\$ kubectl d7y \[COMMAND\]/);
    for (const command of ["preheat", "status", "jobs", "peers"])
      assert.match(help.stdout, new RegExp(`^ +${command} `, "m"));
    const status = await run("kubectl", ["d7y", "status", "--manager", manager.url], { env });
    assert.equal(status.code, 0, status.stderr);
  });
});
