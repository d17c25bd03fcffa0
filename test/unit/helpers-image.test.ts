import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import tar from "tar-stream";
import { buildImage, MEDIA_TYPES, openBlob, readBlob } from "../helpers/image.js";

const MiB = 1024 * 1024;

async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash("sha256");
  for await (const c of stream) hash.update(c as Buffer);
  return `sha256:${hash.digest("hex")}`;
}

describe("helpers/image", () => {
  it("is deterministic for a seed, and differs across seeds", async () => {
    const a = await buildImage({ layers: [{ size: 1000, seed: "s1" }] });
    const b = await buildImage({ layers: [{ size: 1000, seed: "s1" }] });
    const c = await buildImage({ layers: [{ size: 1000, seed: "s2" }] });
    assert.equal(a.root.digest, b.root.digest);
    assert.notEqual(a.root.digest, c.root.digest);
    assert.equal(a.index, undefined);
    assert.equal(a.root.mediaType, MEDIA_TYPES.manifest);
  });

  it("writes a one-file uncompressed tar of the requested size", async () => {
    const img = await buildImage({ layers: [{ size: 5000, seed: "tar" }] });
    const layer = img.layersFor("linux/amd64")[0]!;
    assert.equal(layer.mediaType, MEDIA_TYPES.layerTar);
    const extract = tar.extract();
    const entries: Array<{ name: string; size: number; bytes: number }> = [];
    extract.on("entry", (header, stream, next) => {
      let bytes = 0;
      stream.on("data", (c) => {
        bytes += (c as Buffer).length;
      });
      stream.on("end", () => {
        entries.push({ name: header.name, size: header.size, bytes });
        next();
      });
    });
    const done = new Promise<void>((resolve, reject) => {
      extract.on("finish", () => resolve());
      extract.on("error", reject);
    });
    extract.end(await readBlob(layer));
    await done;
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.size, 5000);
    assert.equal(entries[0]!.bytes, 5000);
  });

  it("keeps big layers in files whose digest and size are right", async () => {
    const img = await buildImage({ layers: [{ size: 3 * MiB, seed: "file" }] });
    const layer = img.layersFor("linux/amd64")[0]!;
    assert.ok(layer.path && !layer.data);
    assert.equal(await sha256Of(openBlob(layer)), layer.digest);
    assert.equal((await readBlob(layer)).length, layer.size);
    for (const blob of img.all) {
      if (blob.data) assert.equal(await sha256Of(Readable.from([blob.data])), blob.digest);
    }
  });

  it("builds an index whose platforms have their own layers and configs", async () => {
    const img = await buildImage({
      layers: [
        { size: 100, seed: "m1" },
        { size: 200, seed: "m2" },
      ],
      platforms: [
        { os: "linux", architecture: "amd64" },
        { os: "linux", architecture: "arm", variant: "v7" },
      ],
    });
    assert.ok(img.index);
    const index = JSON.parse(img.index.data.toString());
    assert.equal(index.mediaType, MEDIA_TYPES.index);
    assert.deepEqual(
      index.manifests.map((m: { platform: unknown }) => m.platform),
      [
        { os: "linux", architecture: "amd64" },
        { os: "linux", architecture: "arm", variant: "v7" },
      ],
    );
    const arm = img.forPlatform("linux/arm/v7");
    const manifest = JSON.parse(arm.manifest.data.toString());
    assert.equal(manifest.config.digest, arm.config.digest);
    assert.deepEqual(
      manifest.layers.map((l: { digest: string }) => l.digest),
      arm.layers.map((l) => l.digest),
    );
    const config = JSON.parse(arm.config.data.toString());
    assert.equal(config.architecture, "arm");
    assert.equal(config.variant, "v7");
    assert.deepEqual(
      config.rootfs.diff_ids,
      arm.layers.map((l) => l.digest),
    );
    const amdLayers = new Set(img.layersFor("linux/amd64").map((l) => l.digest));
    assert.ok(arm.layers.every((l) => !amdLayers.has(l.digest)));
    assert.equal(img.blobs.length, 6);
    assert.equal(img.pullSetFor("linux/amd64").length, 5);
    assert.throws(() => img.forPlatform("linux/s390x"), /no platform linux\/s390x/);
  });

  it("generates 64 MiB in well under a few seconds", async () => {
    const started = Date.now();
    const img = await buildImage({ layers: [{ size: 64 * MiB, seed: `speed-${process.pid}` }] });
    const elapsed = Date.now() - started;
    assert.ok(img.layersFor("linux/amd64")[0]!.size > 64 * MiB);
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
  });
});
