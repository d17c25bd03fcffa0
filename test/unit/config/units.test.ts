import assert from "node:assert/strict";
import { mergeLayers, parseByteSize, parseDuration } from "@d7y/config";

describe("config units", () => {
  it("parses byte sizes in SI and IEC units", () => {
    assert.equal(parseByteSize("4096"), 4096);
    assert.equal(parseByteSize("512MiB"), 512 * 1024 * 1024);
    assert.equal(parseByteSize("10GB"), 10_000_000_000);
    assert.equal(parseByteSize("1.5KiB"), 1536);
    assert.throws(() => parseByteSize("ten gigs"), /invalid byte size/);
    assert.throws(() => parseByteSize("5XB"), /invalid byte size/);
  });

  it("parses durations", () => {
    assert.equal(parseDuration("500ms"), 500);
    assert.equal(parseDuration("1h30m"), 5_400_000);
    assert.equal(parseDuration("250"), 250);
    assert.throws(() => parseDuration("soon"), /invalid duration/);
    assert.throws(() => parseDuration("5 minutes"), /invalid duration/);
  });

  it("merges layers deeply, later layers winning", () => {
    assert.deepEqual(mergeLayers({ a: { b: 1, c: 2 }, l: [1] }, { a: { c: 3 }, l: [2] }, { a: undefined }), {
      a: { b: 1, c: 3 },
      l: [2],
    });
  });
});
