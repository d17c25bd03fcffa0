import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "../helpers/processes.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../../..");

describe("npm run demo", function () {
  this.timeout(300_000);

  it("runs the user story and prints where each pull's bytes came from", async () => {
    const result = await run(process.execPath, [join(ROOT, "bench/dist/demo.js")], { timeoutMs: 280_000 });
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    const rows = result.stdout.split("\n").filter((line) => /^\d\. /.test(line));
    assert.equal(rows.length, 4, result.stdout);
    const mib = (line: string) => [...line.matchAll(/([\d.]+) MiB/g)].map((m) => Number(m[1]));
    const [first, again, second, preheated] = rows.map(mib) as [number[], number[], number[], number[]];
    // columns: image, origin, peers, cache
    assert.ok(first[1]! > 0, "the first pull reached the registry");
    assert.equal(again[1], 0, "the re-pull did not reach the registry");
    assert.equal(again[3], again[0], "the re-pull came from the local cache");
    assert.equal(second[1], 0, "node 2 did not reach the registry");
    assert.ok(second[2]! >= second[0]! * 0.99, "node 2 got the image from peers");
    assert.equal(preheated[1], 0, "after preheat, node 3 did not reach the registry");
    assert.ok(preheated[2]! >= preheated[0]! * 0.99, "node 3 got it from the seed");
  });
});
