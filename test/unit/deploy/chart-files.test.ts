/**
 * Files generated from others stay in step: values.schema.json from the components' config schemas,
 * the chart README's values table from values.yaml, and the Dockerfile from the binaries the workspaces
 * declare.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "../../../..");

// biome-ignore lint/suspicious/noExplicitAny: the scripts are plain ESM without type declarations.
async function script(name: string): Promise<any> {
  return import(pathToFileURL(join(REPO, "scripts", name)).href);
}

describe("chart and image files", () => {
  it("helm/d7y/values.schema.json is what npm run chart:schema generates from the config schemas", async () => {
    const { chartSchemaText, SCHEMA_PATH } = await script("chart-schema.mjs");
    const committed = await readFile(SCHEMA_PATH, "utf8");
    assert.equal(committed, await chartSchemaText(), "values.schema.json is stale: run npm run chart:schema");
  });

  it("helm/d7y/README.md's values table documents every value (npm run chart:docs)", async () => {
    const { readmeWithTable, valuesRows } = await script("chart-docs.mjs");
    const readme = await readFile(join(REPO, "helm/d7y/README.md"), "utf8");
    assert.equal(readme, readmeWithTable(readme), "the README's values table is stale: run npm run chart:docs");
    const rows: string[] = valuesRows();
    assert.ok(rows.some((row) => row.startsWith("| `dfdaemon.hostPort` | `4001` |")));
    assert.ok(rows.length > 80);
  });

  it("the Dockerfile builds on Node 22 LTS, links every binary and runs as a non-root user", async () => {
    const dockerfile = await readFile(join(REPO, "Dockerfile"), "utf8");
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    assert.ok(froms.length >= 2, "a build stage and a runtime stage");
    for (const from of froms) assert.match(from!, /^node:22[-.]/);
    const { runtimeBins } = await script("assemble-image.mjs");
    const bins: Record<string, string> = runtimeBins();
    assert.deepEqual(Object.keys(bins).sort(), ["d7y-daemon", "d7y-manager", "d7y-scheduler", "kubectl-d7y"]);
    for (const [name, path] of Object.entries(bins)) {
      assert.ok(dockerfile.includes(`ln -s /opt/d7y/${path} /usr/local/bin/${name}`), `${name} is on the image's PATH`);
    }
    const users = [...dockerfile.matchAll(/^USER (\S+)/gm)].map((m) => m[1]);
    assert.equal(users.at(-1), "1000:1000");
    assert.match(dockerfile, /node scripts\/assemble-image\.mjs \/opt\/d7y/);
  });
});
