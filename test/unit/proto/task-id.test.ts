import assert from "node:assert/strict";
import {
  filterUrl,
  parseBlobPath,
  pieceCountFor,
  pieceLengthFor,
  pieceSpan,
  taskIdForDigest,
  taskIdForUrl,
} from "@d7y/proto";

const MiB = 1024 * 1024;

describe("task id (Dragonfly-compatible)", () => {
  it("matches Dragonfly's published vectors", () => {
    assert.equal(taskIdForUrl("https://example.com", { tag: "foo", application: "bar" }).slice(0, 8), "06408fbf");
    assert.equal(
      taskIdForUrl("https://example.com?foo=foo&bar=bar", { filteredQueryParams: ["foo", "bar"] }).slice(0, 8),
      "457b4328",
    );
  });

  it("drops ns and signature parameters, keeps the others in order", () => {
    assert.equal(
      filterUrl("https://r.io/v2/a/blobs/x?ns=docker.io&b=2&X-Amz-Signature=s&a=1"),
      "https://r.io/v2/a/blobs/x?b=2&a=1",
    );
    assert.equal(filterUrl("https://r.io/?ns=x"), "https://r.io");
  });

  it("uses the digest for blobs, so every mirror URL of a blob is one task", () => {
    const digest = `sha256:${"ab".repeat(32)}`;
    assert.equal(taskIdForDigest(digest), "ab".repeat(32));
    assert.throws(() => taskIdForDigest("sha256:xyz"), /malformed digest/);
  });

  it("recognises blob paths and rejects malformed digests", () => {
    const digest = `sha256:${"0f".repeat(32)}`;
    assert.deepEqual(parseBlobPath(`/v2/library/alpine/blobs/${digest}`), { name: "library/alpine", digest });
    assert.equal(parseBlobPath("/v2/library/alpine/manifests/latest"), null);
    assert.throws(() => parseBlobPath("/v2/library/alpine/blobs/sha256:nothex"), /malformed digest/);
    assert.throws(() => parseBlobPath("/v2/a/blobs/md5:abcd"), /malformed digest/);
  });
});

describe("piece layout", () => {
  it("uses 4 MiB pieces up to 500 of them, then powers of two up to 64 MiB", () => {
    assert.equal(pieceLengthFor(0), 4 * MiB);
    assert.equal(pieceLengthFor(100 * MiB), 4 * MiB);
    assert.equal(pieceLengthFor(2000 * MiB), 4 * MiB);
    assert.equal(pieceLengthFor(2001 * MiB), 8 * MiB);
    assert.equal(pieceLengthFor(100_000 * MiB), 64 * MiB);
  });

  it("covers the content exactly", () => {
    const length = 10 * MiB + 3;
    const pieceLength = pieceLengthFor(length);
    const count = pieceCountFor(length, pieceLength);
    assert.equal(count, 3);
    const spans = Array.from({ length: count }, (_, n) => pieceSpan(n, length, pieceLength));
    assert.equal(
      spans.reduce((sum, span) => sum + span.length, 0),
      length,
    );
    assert.equal(spans[2]!.length, 2 * MiB + 3);
    assert.throws(() => pieceSpan(3, length, pieceLength), RangeError);
    assert.equal(pieceCountFor(0, pieceLength), 0);
  });
});
