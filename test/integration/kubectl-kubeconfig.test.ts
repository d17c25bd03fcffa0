/**
 * `kubectl d7y` without --manager: the manager found through a kubeconfig whose API server is a fake on loopback
 * (list Services, list Pods, the port-forward websocket relayed to a real local manager process).
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type DaemonProcess, startDaemonProcess } from "../helpers/daemon-process.js";
import { type FakeKubeApi, kubeconfigFor, startFakeKubeApi } from "../helpers/fake-kube-api.js";
import { type ManagerProcess, startManagerProcess } from "../helpers/manager-process.js";
import { freePort, loopbackEnv, type RunResult, run, waitFor } from "../helpers/processes.js";
import { type SchedulerProcess, startSchedulerProcess } from "../helpers/scheduler-process.js";

const KUBECTL_D7Y = join(dirname(fileURLToPath(import.meta.url)), "../../../kubectl-plugin/bin/kubectl-d7y.js");
/** A tmux server of our own (its socket name), so the test never touches a user's sessions. */
const TMUX_SOCKET = `d7y-kubeconfig-top-${process.pid}`;
const SESSION = "top";
/** Single-quoted for sh. */
const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
const tmux = (args: string[]) =>
  run("tmux", ["-L", TMUX_SOCKET, ...args], { env: loopbackEnv({ TERM: "xterm-256color" }), timeoutMs: 10_000 });

describe("kubectl d7y through a kubeconfig (fake Kubernetes API)", function () {
  this.timeout(120_000);

  let work: string;
  let manager: ManagerProcess;
  let api: FakeKubeApi;
  let kubeconfig: string;

  /** The bin with a HOME of its own and no KUBECONFIG or D7Y_MANAGER from the outside. */
  const d7y = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const base = loopbackEnv({ HOME: work });
    delete base.KUBECONFIG;
    delete base.D7Y_MANAGER;
    return run(process.execPath, [KUBECTL_D7Y, ...args], { env: { ...base, ...env }, timeoutMs: 60_000 });
  };
  const stderrLine = (result: RunResult) => {
    assert.equal(result.stderr.split("\n").filter(Boolean).length, 1, result.stderr);
    return result.stderr.trim();
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "d7y-kubeconfig-test-"));
    manager = await startManagerProcess();
    api = await startFakeKubeApi({
      namespace: "d7y",
      managerPort: Number(new URL(manager.url).port),
      managerRpcPort: Number(new URL(manager.rpcUrl).port),
    });
    kubeconfig = join(work, "config");
    await writeFile(kubeconfig, kubeconfigFor(api.url, { fake: {}, other: {} }));
  });

  after(async () => {
    await api?.close();
    await manager?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("finds the manager Service, port-forwards to its ready pod and talks to the manager", async () => {
    const result = await d7y(["status", "-o", "json", "--kubeconfig", kubeconfig]);
    const status = JSON.parse(result.stdout) as { manager: { url: string; healthy: boolean } };
    assert.equal(status.manager.healthy, true, result.stderr);
    assert.match(status.manager.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    // No scheduler runs here: status says so on one line, after reaching the manager through the tunnel.
    assert.equal(result.code, 1);
    assert.equal(stderrLine(result), "error: no active scheduler");
    assert.ok(
      api.requests.includes(
        "GET /api/v1/namespaces/d7y/services?labelSelector=app.kubernetes.io%2Fcomponent%3Dmanager",
      ),
      api.requests.join("\n"),
    );
    assert.ok(
      api.requests.includes("GET /api/v1/namespaces/d7y/pods?labelSelector=app%3Dd7y-manager"),
      api.requests.join("\n"),
    );
    assert.ok(api.requests.includes("UPGRADE /api/v1/namespaces/d7y/pods/d7y-manager-7d9f-x2/portforward?ports=8080"));
    assert.ok(api.forwards >= 1);
  });

  it("reads $KUBECONFIG and --context; jobs list -o json parses", async () => {
    const result = await d7y(["jobs", "list", "-o", "json", "--context", "other"], { KUBECONFIG: kubeconfig });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), []);
  });

  it("no kubeconfig, an unknown context, an unreachable API server, no Service: one line each", async () => {
    const none = await d7y(["status"]);
    assert.equal(none.code, 2);
    assert.equal(stderrLine(none), "error: no kubeconfig found: pass --kubeconfig or --manager");

    const context = await d7y(["status", "--kubeconfig", kubeconfig, "--context", "nope"]);
    assert.equal(context.code, 2);
    assert.equal(stderrLine(context), `error: unknown context "nope" in ${kubeconfig}`);

    const dead = join(work, "dead-config");
    const deadPort = await freePort();
    await writeFile(dead, kubeconfigFor(`http://127.0.0.1:${deadPort}`));
    const unreachable = await d7y(["status", "--kubeconfig", dead]);
    assert.equal(unreachable.code, 2);
    assert.match(
      stderrLine(unreachable),
      new RegExp(`^error: cannot reach the Kubernetes API server at http://127\\.0\\.0\\.1:${deadPort}: `),
    );

    const missing = await d7y(["status", "--kubeconfig", kubeconfig, "-n", "elsewhere"]);
    assert.equal(missing.code, 2);
    assert.match(stderrLine(missing), /^error: no manager Service in namespace elsewhere /);
  });

  it("falls back to the Service named d7y-manager when none has the component label", async () => {
    const unlabelled = await startFakeKubeApi({
      namespace: "d7y",
      managerPort: Number(new URL(manager.url).port),
      labelled: false,
    });
    try {
      const config = join(work, "unlabelled-config");
      await writeFile(config, kubeconfigFor(unlabelled.url));
      const result = await d7y(["jobs", "list", "-o", "json", "--kubeconfig", config]);
      assert.equal(result.code, 0, result.stderr);
      assert.ok(unlabelled.requests.includes("GET /api/v1/namespaces/d7y/services"), unlabelled.requests.join("\n"));
    } finally {
      await unlabelled.close();
    }
  });

  it("top through the kubeconfig: port-forwards the manager's rpc port and shows the hosts table", async () => {
    let scheduler: SchedulerProcess | undefined;
    let daemon: DaemonProcess | undefined;
    try {
      scheduler = await startSchedulerProcess({ manager: manager.rpcUrl });
      daemon = await startDaemonProcess({ registries: [], manager: manager.rpcUrl, announceInterval: "1s" });
      const exitFile = join(work, "top-exit-code");
      const stderrFile = join(work, "top-stderr");
      // HOME of its own, no KUBECONFIG, D7Y_MANAGER or D7Y_MANAGER_RPC: only --kubeconfig finds the manager.
      const command = [
        "env -u CI -u CONTINUOUS_INTEGRATION -u KUBECONFIG -u D7Y_MANAGER -u D7Y_MANAGER_RPC",
        `HOME=${quote(work)}`,
        quote(process.execPath),
        quote(KUBECTL_D7Y),
        "top",
        `--kubeconfig ${quote(kubeconfig)}`,
        "--interval 300ms",
        `2> ${quote(stderrFile)}`,
        `; echo $? > ${quote(exitFile)}`,
      ].join(" ");
      const started = await tmux(["new-session", "-d", "-x", "80", "-y", "24", "-s", SESSION, command]);
      assert.equal(started.code, 0, started.stderr);
      let screen = "";
      await waitFor(
        async () => {
          const captured = await tmux(["capture-pane", "-p", "-t", SESSION]);
          screen = captured.code === 0 ? captured.stdout : "";
          return /HOST.*ROLE.*DOWN MB\/s/.test(screen) && /^\s*\S+\s+normal\s/m.test(screen);
        },
        { what: "top's hosts table with the daemon on the screen", timeoutMs: 30_000 },
      ).catch(async (error: Error) => {
        const stderr = await readFile(stderrFile, "utf8").catch(() => "");
        throw new Error(`${error.message}\n${screen}\n${stderr}`);
      });
      assert.ok(
        api.requests.includes("UPGRADE /api/v1/namespaces/d7y/pods/d7y-manager-7d9f-x2/portforward?ports=65003"),
        api.requests.join("\n"),
      );
      await tmux(["send-keys", "-t", SESSION, "q"]);
      await waitFor(async () => (await readFile(exitFile, "utf8").catch(() => "")).trim() !== "", {
        what: "top to exit after q",
        timeoutMs: 10_000,
      });
      assert.equal((await readFile(exitFile, "utf8")).trim(), "0", await readFile(stderrFile, "utf8"));
    } finally {
      await tmux(["kill-server"]).catch(() => undefined);
      await daemon?.destroy();
      await scheduler?.stop();
    }
  });
});
