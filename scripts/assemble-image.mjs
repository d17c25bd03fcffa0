// Copies what the container image needs to run every binary out of a built tree into one directory:
// the runtime workspaces' package.json, bin/ and dist/, and node_modules (pruned of dev dependencies by
// the Dockerfile before this runs). The Dockerfile runs it; a test runs it against the working tree and
// starts each binary from the result, so a missing file shows up here rather than in a cluster.
//
//   node scripts/assemble-image.mjs OUT_DIR [--link-node-modules | --hardlink-node-modules]
//
// --link-node-modules symlinks the third-party packages instead of copying them (fast, for tests that run
// the binaries as root); --hardlink-node-modules hard-links their files (fast too, and readable by another
// user even when the repository's own directory is not), falling back to a copy across file systems.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Workspaces the binaries load at run time (test and bench stay out of the image). */
export const RUNTIME_WORKSPACES = [
  "proto",
  "common/config",
  "common/observability",
  "common/rpc",
  "common/lifecycle",
  "daemon",
  "scheduler",
  "manager",
  "kubectl-plugin",
];

/** Every binary of the runtime workspaces: name -> path relative to the output directory. */
export function runtimeBins(from = root) {
  const bins = {};
  for (const workspace of RUNTIME_WORKSPACES) {
    const pkg = JSON.parse(readFileSync(join(from, workspace, "package.json"), "utf8"));
    for (const [name, path] of Object.entries(pkg.bin ?? {})) bins[name] = join(workspace, path);
  }
  return bins;
}

function withoutBuildInfo(source) {
  return !source.endsWith(".tsbuildinfo");
}

/** nodeModules: "copy" (the image), "link" (symlinks into the tree) or "hardlink" (hard-linked files). */
export function assemble(out, { nodeModules = "copy" } = {}) {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const rootPkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const runtimePkg = {
    name: rootPkg.name,
    private: true,
    type: "module",
    description: rootPkg.description,
    engines: rootPkg.engines,
    workspaces: RUNTIME_WORKSPACES,
  };
  writeFileSync(join(out, "package.json"), `${JSON.stringify(runtimePkg, null, 2)}\n`);
  for (const workspace of RUNTIME_WORKSPACES) {
    const from = join(root, workspace);
    const to = join(out, workspace);
    if (!existsSync(join(from, "dist"))) throw new Error(`${workspace}/dist is missing: run npm run build first`);
    mkdirSync(to, { recursive: true });
    cpSync(join(from, "package.json"), join(to, "package.json"));
    cpSync(join(from, "dist"), join(to, "dist"), { recursive: true, filter: withoutBuildInfo });
    if (existsSync(join(from, "bin"))) cpSync(join(from, "bin"), join(to, "bin"), { recursive: true });
  }
  if (nodeModules === "link") {
    // Third-party packages are linked from the tree; the @d7y workspace links point into OUT_DIR, so the
    // binaries load the assembled workspaces, not the sources.
    mkdirSync(join(out, "node_modules/@d7y"), { recursive: true });
    for (const entry of readdirSync(join(root, "node_modules"))) {
      if (entry === "@d7y") continue;
      symlinkSync(join(root, "node_modules", entry), join(out, "node_modules", entry));
    }
    for (const workspace of RUNTIME_WORKSPACES) {
      const name = JSON.parse(readFileSync(join(out, workspace, "package.json"), "utf8")).name.replace("@d7y/", "");
      symlinkSync(join("../..", workspace), join(out, "node_modules/@d7y", name));
    }
  } else {
    // Workspace links (node_modules/@d7y/x -> ../../x) stay relative, so they resolve inside OUT_DIR;
    // the links of workspaces left out of the image are dropped.
    let linked = false;
    if (nodeModules === "hardlink") {
      linked = spawnSync("cp", ["-al", join(root, "node_modules"), join(out, "node_modules")]).status === 0;
      if (!linked) rmSync(join(out, "node_modules"), { recursive: true, force: true });
    }
    if (!linked) {
      cpSync(join(root, "node_modules"), join(out, "node_modules"), { recursive: true, verbatimSymlinks: true });
    }
    for (const name of ["test", "bench"]) rmSync(join(out, "node_modules/@d7y", name), { force: true });
  }
  return runtimeBins(out);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2];
  if (!out) {
    console.error("usage: node scripts/assemble-image.mjs OUT_DIR [--link-node-modules | --hardlink-node-modules]");
    process.exit(2);
  }
  const nodeModules = process.argv.includes("--link-node-modules")
    ? "link"
    : process.argv.includes("--hardlink-node-modules")
      ? "hardlink"
      : "copy";
  const bins = assemble(out, { nodeModules });
  for (const [name, path] of Object.entries(bins))
    console.log(`${name} -> ${relative(process.cwd(), join(out, path))}`);
}
