/**
 * The container image's file tree, assembled by the same script the Dockerfile runs
 * (scripts/assemble-image.mjs), holds everything each binary needs: each one starts from it, outside
 * the repository, and loads the workspaces from the tree, not from the sources. (No Docker engine runs
 * here, so the image itself is not built; this is the part of it that is ours.)
 */
import assert from "node:assert/strict";
import { mkdtemp, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { run } from "../helpers/processes.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "../../..");

describe("container image tree (scripts/assemble-image.mjs)", function () {
  this.timeout(60_000);
  let out: string;
  let bins: Record<string, string>;

  before(async () => {
    out = await mkdtemp(join(tmpdir(), "d7y-image-tree-"));
    const { assemble } = (await import(pathToFileURL(join(REPO, "scripts/assemble-image.mjs")).href)) as {
      assemble(dir: string, opts: { nodeModules: "copy" | "link" | "hardlink" }): Record<string, string>;
    };
    bins = assemble(join(out, "opt/d7y"), { nodeModules: "hardlink" });
  });

  after(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it("every binary starts from the tree and answers --help", async () => {
    for (const [name, path] of Object.entries(bins)) {
      const result = await run(process.execPath, [join(out, "opt/d7y", path), "--help"], {
        cwd: out,
        timeoutMs: 30_000,
      });
      assert.equal(result.code, 0, `${name}: ${result.stderr}`);
      assert.match(result.stdout, name === "kubectl-d7y" ? /kubectl d7y/ : new RegExp(name), name);
    }
  });

  it("the workspaces resolve inside the tree, and test/bench are not in it", async () => {
    const daemon = await realpath(join(out, "opt/d7y/node_modules/@d7y/daemon"));
    assert.equal(daemon, join(await realpath(out), "opt/d7y/daemon"));
    const listed = await run("ls", [join(out, "opt/d7y"), join(out, "opt/d7y/node_modules/@d7y")], {
      timeoutMs: 10_000,
    });
    assert.doesNotMatch(listed.stdout, /^(test|bench)$/m);
  });
});
