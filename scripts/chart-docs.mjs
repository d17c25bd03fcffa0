// Writes the values table of helm/d7y/README.md from helm/d7y/values.yaml: every leaf key, its default and
// the `# -- ` comment above it. `--check` exits 1 when the README's table is stale (a test runs it), and any
// key without a `# -- ` comment is an error, so no value goes undocumented.
//
//   node scripts/chart-docs.mjs [--check]
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isMap, parseDocument } from "yaml";

const chart = join(dirname(fileURLToPath(import.meta.url)), "../helm/d7y");
const README = join(chart, "README.md");
const START = "<!-- values:start (npm run chart:docs) -->";
const END = "<!-- values:end -->";
/** Maps documented as one value (their keys are free-form or a unit). */
const WHOLE = new Set(["resources", "config", "labels", "updateStrategy", "additionalLabels"]);

/** The text after the last line starting with "--" in a comment block, or undefined. */
function description(comment) {
  if (!comment) return undefined;
  const lines = comment.split("\n").map((line) => line.replace(/^ ?/, ""));
  const start = lines.findLastIndex((line) => line.startsWith("-- "));
  if (start < 0) return undefined;
  return lines.slice(start).join(" ").replace(/^-- /, "").replace(/\s+/g, " ").trim();
}

function render(value) {
  const json = JSON.stringify(value);
  return json.length > 70 ? `${json.slice(0, 67)}...` : json;
}

export function valuesRows() {
  const doc = parseDocument(readFileSync(join(chart, "values.yaml"), "utf8"));
  const rows = [];
  const missing = [];
  const walk = (map, prefix) => {
    map.items.forEach((pair, index) => {
      const key = String(pair.key.value);
      const path = prefix ? `${prefix}.${key}` : key;
      const comment = pair.key.commentBefore ?? (index === 0 ? map.commentBefore : undefined);
      const value = pair.value;
      if (isMap(value) && !value.flow && value.items.length > 0 && !WHOLE.has(key)) {
        walk(value, path);
        return;
      }
      const text = description(comment);
      if (!text) missing.push(path);
      rows.push(`| \`${path}\` | \`${render(value?.toJSON() ?? null).replaceAll("|", "\\|")}\` | ${text ?? ""} |`);
    });
  };
  walk(doc.contents, "");
  if (missing.length > 0) throw new Error(`values without a "# -- " description: ${missing.join(", ")}`);
  return rows;
}

export function readmeWithTable(readme) {
  const table = ["| Key | Default | Description |", "|---|---|---|", ...valuesRows()].join("\n");
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${README} lacks the ${START} ... ${END} markers`);
  return `${readme.slice(0, start + START.length)}\n${table}\n${readme.slice(end)}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const current = readFileSync(README, "utf8");
  const next = readmeWithTable(current);
  if (process.argv.includes("--check")) {
    if (next !== current) {
      console.error("helm/d7y/README.md's values table is stale: run npm run chart:docs");
      process.exit(1);
    }
  } else {
    writeFileSync(README, next);
    console.log(`wrote the values table of ${README}`);
  }
}
