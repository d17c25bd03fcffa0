// Regenerates the code into a temporary directory and fails when it differs from gen/.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "d7y-gen-"));
const out = join(scratch, "gen");
const templateFile = join(scratch, "buf.gen.yaml");
writeFileSync(templateFile, readFileSync(join(root, "buf.gen.yaml"), "utf8").replace("out: gen", `out: ${out}`));

function filesUnder(base) {
  const files = [];
  const visit = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) visit(path);
      else files.push(relative(base, path));
    }
  };
  visit(base);
  return files.sort();
}

try {
  execFileSync("buf", ["generate", "--template", templateFile], { cwd: root, stdio: "inherit" });
  const want = filesUnder(out);
  const have = filesUnder(join(root, "gen"));
  const stale = [...new Set([...want, ...have])].filter((file) => {
    const fresh = want.includes(file) ? readFileSync(join(out, file), "utf8") : null;
    const committed = have.includes(file) ? readFileSync(join(root, "gen", file), "utf8") : null;
    return fresh !== committed;
  });
  if (stale.length > 0) {
    console.error(`proto/gen is stale (${stale.join(", ")}): run \`npm run generate\` and commit the result`);
    process.exit(1);
  }
  console.log(`proto/gen is up to date (${want.length} files)`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
