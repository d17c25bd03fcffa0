/**
 * `kubectl d7y` without --manager: the manager found through a kubeconfig whose API server is a fake on loopback
 * (list Services, list Pods, the port-forward websocket relayed to a real local manager process).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type FakeKubeApi, kubeconfigFor, startFakeKubeApi } from "../helpers/fake-kube-api.js";
import { type ManagerProcess, startManagerProcess } from "../helpers/manager-process.js";
import { freePort, loopbackEnv, type RunResult, run } from "../helpers/processes.js";

const KUBECTL_D7Y = join(dirname(fileURLToPath(import.meta.url)), "../../../kubectl-plugin/bin/kubectl-d7y.js");

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
    api = await startFakeKubeApi({ namespace: "d7y", managerPort: Number(new URL(manager.url).port) });
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
});
