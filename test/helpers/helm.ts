/**
 * Renders a Helm chart for tests, like `helm template`.
 *
 * With `helm` on PATH the real `helm template` is used. Otherwise test/helm-render/main.go (a
 * "helm template" work-alike on Go's text/template + sprig, the engine Helm itself uses) is built
 * once per process from Debian's Go packages into a cache dir under os.tmpdir(), keyed by the
 * source's hash, and reused by later runs. Set D7Y_HELM_RENDERER=go-template to use the Go
 * renderer even where helm is installed.
 *
 * mergedValues() always uses the Go renderer (`--show-values`), whatever helm is on PATH.
 */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import { parse as parseYaml } from "yaml";
import { loopbackEnv, type RunResult, run } from "./processes.js";

// ajv-formats is CommonJS: its default export arrives as the module object under NodeNext.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const HERE = dirname(fileURLToPath(import.meta.url));
/** test/helm-render/main.go (this file runs from test/dist/helpers). */
export const HELM_RENDER_SOURCE = join(HERE, "../../helm-render/main.go");
/** The project's chart, helm/d7y. */
export const D7Y_CHART_DIR = join(HERE, "../../../helm/d7y");
/** The Debian packages the Go renderer is built from. */
export const GO_RENDERER_PACKAGES = ["golang-go", "golang-github-masterminds-sprig-dev", "golang-gopkg-yaml.v3-dev"];

const BUILD_TIMEOUT_MS = 5 * 60_000;
const RENDER_TIMEOUT_MS = 60_000;

export interface HelmRenderer {
  kind: "helm" | "go-template";
  /** The helm binary, or the built helm-render binary. */
  bin: string;
}

export interface RenderOptions {
  /** The chart directory. */
  chartDir: string;
  /** Values files, applied in order after the chart's values.yaml. */
  valuesFiles?: string[];
  /** Values applied last (written to a temporary values file). */
  values?: Record<string, unknown>;
  /** Release name (default "d7y"). */
  release?: string;
  /** Release namespace (default "d7y"). */
  namespace?: string;
  /** Extra .Capabilities.APIVersions entries, e.g. "monitoring.coreos.com/v1/ServiceMonitor". */
  apiVersions?: string[];
  /** .Capabilities.KubeVersion (default: the renderer's, v1.31.0 for the Go one). */
  kubeVersion?: string;
}

export interface RenderedObject {
  /** The template the document came from, e.g. "d7y/templates/daemonset.yaml". */
  source: string;
  // biome-ignore lint/suspicious/noExplicitAny: a Kubernetes object of any kind, for tests to inspect.
  object: Record<string, any>;
}

export interface RenderResult {
  /** Every non-empty document, in output order. */
  objects: RenderedObject[];
  /** The renderer's whole stdout. */
  text: string;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable `name` on PATH (then in `fallbacks`), or undefined. */
async function which(name: string, fallbacks: string[] = []): Promise<string | undefined> {
  const dirs = (process.env.PATH ?? "").split(delimiter).filter((d) => d !== "");
  for (const file of [...dirs.map((d) => join(d, name)), ...fallbacks]) {
    if (await isExecutable(file)) return file;
  }
  return undefined;
}

let goRendererPromise: Promise<string> | undefined;
let rendererPromise: Promise<HelmRenderer> | undefined;

/** Builds test/helm-render/main.go (once per process; reused across runs from the cache dir). */
export function goRenderer(): Promise<string> {
  if (goRendererPromise === undefined) {
    const building = buildGoRenderer();
    goRendererPromise = building;
    // A failed build is not kept: the next caller retries (e.g. after installing Go).
    building.catch(() => {
      if (goRendererPromise === building) goRendererPromise = undefined;
    });
  }
  return goRendererPromise;
}

async function buildGoRenderer(): Promise<string> {
  const source = await readFile(HELM_RENDER_SOURCE);
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 12);
  const cacheDir = join(tmpdir(), `d7y-helm-render-${hash}`);
  const bin = join(cacheDir, "helm-render");
  if (await isExecutable(bin)) return bin;
  const go = await which("go", ["/usr/bin/go", "/usr/lib/go/bin/go"]);
  if (go === undefined) {
    throw new Error(
      `rendering Helm charts needs helm on PATH or Go to build test/helm-render: install the Debian packages ${GO_RENDERER_PACKAGES.join(" ")} (node scripts/ensure-system-packages.mjs does it as root)`,
    );
  }
  await mkdir(cacheDir, { recursive: true });
  // Build beside the final path and rename, so concurrent test processes never see half a binary.
  const partial = `${bin}.${process.pid}.tmp`;
  const built = await run(go, ["build", "-o", partial, HELM_RENDER_SOURCE], {
    cwd: dirname(HELM_RENDER_SOURCE),
    env: loopbackEnv({
      GO111MODULE: "off",
      GOPATH: "/usr/share/gocode",
      GOCACHE: join(cacheDir, "gocache"),
      GOFLAGS: "",
      GOPROXY: "off",
      CGO_ENABLED: "0",
    }),
    timeoutMs: BUILD_TIMEOUT_MS,
  });
  if (built.code !== 0) {
    await rm(partial, { force: true });
    throw new Error(
      `go build of ${HELM_RENDER_SOURCE} failed (exit ${built.code}); are the Debian packages ${GO_RENDERER_PACKAGES.join(" ")} installed?\n${built.stderr.trim()}`,
    );
  }
  await rename(partial, bin);
  return bin;
}

/** Real `helm` when it is on PATH (and D7Y_HELM_RENDERER is not "go-template"), else the built Go renderer. */
export function helmRenderer(): Promise<HelmRenderer> {
  if (rendererPromise === undefined) {
    const choosing = (async (): Promise<HelmRenderer> => {
      if (process.env.D7Y_HELM_RENDERER !== "go-template") {
        const helm = await which("helm");
        if (helm !== undefined) return { kind: "helm", bin: helm };
      }
      return { kind: "go-template", bin: await goRenderer() };
    })();
    rendererPromise = choosing;
    choosing.catch(() => {
      if (rendererPromise === choosing) rendererPromise = undefined;
    });
  }
  return rendererPromise;
}

/** Writes `values` (if any) to a temporary values file; `cleanup` removes it. */
async function valuesArgs(opts: RenderOptions): Promise<{ files: string[]; cleanup: () => Promise<void> }> {
  const files = [...(opts.valuesFiles ?? [])];
  if (opts.values === undefined) return { files, cleanup: async () => {} };
  const dir = await mkdtemp(join(tmpdir(), "d7y-helm-values-"));
  const file = join(dir, "values.json.yaml");
  // JSON is YAML, and unambiguous: no YAML 1.1 surprises for strings like "yes" or "0777".
  await writeFile(file, JSON.stringify(opts.values, null, 2));
  files.push(file);
  return { files, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

function goArgs(opts: RenderOptions, files: string[]): string[] {
  const args = ["--chart", opts.chartDir, "--release", opts.release ?? "d7y", "--namespace", opts.namespace ?? "d7y"];
  for (const f of files) args.push("--values", f);
  for (const a of opts.apiVersions ?? []) args.push("--api-versions", a);
  if (opts.kubeVersion !== undefined) args.push("--kube-version", opts.kubeVersion);
  return args;
}

function helmArgs(command: "template" | "install", opts: RenderOptions, files: string[]): string[] {
  const args = [command, opts.release ?? "d7y", opts.chartDir, "--namespace", opts.namespace ?? "d7y"];
  for (const f of files) args.push("--values", f);
  for (const a of opts.apiVersions ?? []) args.push("--api-versions", a);
  if (opts.kubeVersion !== undefined) args.push("--kube-version", opts.kubeVersion);
  return args;
}

/**
 * Helm checks the merged values against the chart's values.schema.json before rendering; the Go
 * renderer does not, so this does it (JSON Schema draft-07 with formats, as Helm's validator) and
 * answers with Helm's kind of error. undefined when the values pass or the chart has no schema.
 */
export async function schemaErrors(opts: RenderOptions): Promise<string | undefined> {
  let schemaText: string;
  try {
    schemaText = await readFile(join(opts.chartDir, "values.schema.json"), "utf8");
  } catch {
    return undefined;
  }
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const validate = ajv.compile(JSON.parse(schemaText) as object);
  if (validate(await mergedValues(opts))) return undefined;
  const problems = (validate.errors ?? []).map(
    (e) => `${e.instancePath || "(root)"}: ${e.message ?? "invalid"} ${JSON.stringify(e.params)}`,
  );
  return `Error: values don't meet the specifications of the schema(s) in the following chart(s): ${problems.join("; ")}`;
}

/** Runs the renderer; resolves with its exit status and output whatever they are. */
async function invoke(opts: RenderOptions, mode: "manifests" | "notes"): Promise<RunResult> {
  const renderer = await helmRenderer();
  if (renderer.kind === "go-template") {
    const schemaError = await schemaErrors(opts);
    if (schemaError !== undefined)
      return { code: 1, signal: null, stdout: "", stderr: `${schemaError}\n`, durationMs: 0 };
  }
  const { files, cleanup } = await valuesArgs(opts);
  try {
    if (renderer.kind === "go-template") {
      const args = goArgs(opts, files);
      if (mode === "notes") args.push("--notes");
      return await run(renderer.bin, args, { timeoutMs: RENDER_TIMEOUT_MS });
    }
    if (mode === "manifests")
      return await run(renderer.bin, helmArgs("template", opts, files), { timeoutMs: RENDER_TIMEOUT_MS });
    // helm template does not print NOTES.txt; a client-side dry-run install does (helm >= 3.13).
    const result = await run(renderer.bin, [...helmArgs("install", opts, files), "--dry-run=client", "-o", "json"], {
      timeoutMs: RENDER_TIMEOUT_MS,
    });
    if (result.code !== 0) return result;
    const release = JSON.parse(result.stdout) as { info?: { notes?: string } };
    return { ...result, stdout: release.info?.notes ?? "" };
  } finally {
    await cleanup();
  }
}

function failure(what: string, opts: RenderOptions, result: RunResult): Error {
  return new Error(`${what} of ${opts.chartDir} failed (exit ${result.code}): ${result.stderr.trim()}`);
}

/** Splits `helm template` output into its documents, each with its "# Source:" template. */
export function parseManifests(text: string): RenderedObject[] {
  const objects: RenderedObject[] = [];
  for (const chunk of text.split(/^---[ \t]*$/m)) {
    const source = /^# Source: (.+)$/m.exec(chunk)?.[1]?.trim() ?? "";
    // YAML 1.1, as Kubernetes' sigs.k8s.io/yaml reads manifests (unquoted yes/no are booleans).
    const object: unknown = parseYaml(chunk, { version: "1.1" });
    if (object === null || object === undefined) continue;
    if (typeof object !== "object" || Array.isArray(object)) {
      throw new Error(`rendered document from ${source || "?"} is not a mapping: ${chunk.trim().slice(0, 200)}`);
    }
    objects.push({ source, object: object as Record<string, unknown> });
  }
  return objects;
}

/** Renders the chart's manifests, like `helm template`; rejects with the renderer's error if it fails. */
export async function renderChart(opts: RenderOptions): Promise<RenderResult> {
  const result = await invoke(opts, "manifests");
  if (result.code !== 0) throw failure("rendering", opts, result);
  return { objects: parseManifests(result.stdout), text: result.stdout };
}

/** Renders templates/NOTES.txt ("" when the chart has none). */
export async function renderNotes(opts: RenderOptions): Promise<string> {
  const result = await invoke(opts, "notes");
  if (result.code !== 0) throw failure("rendering NOTES.txt", opts, result);
  return result.stdout;
}

/** The values the templates see (.Values): values.yaml coalesced with the options' values. Uses the Go renderer. */
export async function mergedValues(opts: RenderOptions): Promise<Record<string, unknown>> {
  const bin = await goRenderer();
  const { files, cleanup } = await valuesArgs(opts);
  try {
    const result = await run(bin, [...goArgs(opts, files), "--show-values"], { timeoutMs: RENDER_TIMEOUT_MS });
    if (result.code !== 0) throw failure("merging values", opts, result);
    return JSON.parse(result.stdout) as Record<string, unknown>;
  } finally {
    await cleanup();
  }
}

/**
 * Renders a chart that is expected to fail (e.g. `required` or `fail`), and returns the renderer's
 * "Error: ..." line. Rejects if rendering succeeds.
 */
export async function renderChartError(opts: RenderOptions): Promise<string> {
  const result = await invoke(opts, "manifests");
  if (result.code === 0) throw new Error(`rendering ${opts.chartDir} succeeded, but a failure was expected`);
  const lines = result.stderr.split("\n").map((l) => l.trim());
  return lines.find((l) => l.startsWith("Error: ")) ?? lines.filter((l) => l !== "").join(" ");
}
