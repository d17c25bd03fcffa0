/**
 * Proves the test fixtures on the real components: docker-registry behind the counting proxy,
 * in-process OCI images, containerd + ctr, and skopeo.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { startContainerd, type TestContainerd, writeHostsToml } from "../helpers/containerd.js";
import { type BuiltImage, buildImage, pushImage } from "../helpers/image.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { ociLayoutDigests, skopeoCopy, writeRegistriesConf } from "../helpers/skopeo.js";

const MiB = 1024 * 1024;
const AMD64 = "linux/amd64";
const ARM64 = "linux/arm64";
const PLATFORMS = [
  { os: "linux", architecture: "amd64" },
  { os: "linux", architecture: "arm64" },
];

describe("fixtures", function () {
  this.timeout(60_000);

  let work: string;
  let image: BuiltImage;
  let registry: TestRegistry;
  let containerd: TestContainerd;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "d7y-fixtures-"));
    const started = Date.now();
    image = await buildImage({
      layers: [
        { size: 64 * MiB, seed: "fixtures-big" },
        { size: 4096, seed: "fixtures-small-1" },
        { size: 300_000, seed: "fixtures-small-2" },
      ],
      platforms: PLATFORMS,
    });
    assert.ok(Date.now() - started < 10_000, `building 2 x 64 MiB took ${Date.now() - started} ms`);
    registry = await startRegistry();
    containerd = await startContainerd();
    // Pushed through the counting proxy (exercises streaming request bodies), then forgotten.
    const pushed = await pushImage(registry.url, "fixtures/app", "v1", image);
    assert.equal(pushed.digest, image.root.digest);
    assert.equal(pushed.uploaded, image.blobs.length);
    registry.reset();
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await containerd?.stop();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function hostsDirFor(reg: TestRegistry, name: string): Promise<string> {
    const dir = join(work, name);
    await writeHostsToml(dir, reg.host, { server: reg.url, hosts: [{ url: reg.url }] });
    return dir;
  }

  it("builds deterministic images whose platforms have distinct layers", async () => {
    const again = await buildImage({
      layers: [
        { size: 64 * MiB, seed: "fixtures-big" },
        { size: 4096, seed: "fixtures-small-1" },
        { size: 300_000, seed: "fixtures-small-2" },
      ],
      platforms: PLATFORMS,
    });
    assert.equal(again.root.digest, image.root.digest);
    assert.ok(image.index, "a multi-platform image has an index");
    assert.equal(image.root, image.index);
    const amd = image.layersFor(AMD64).map((b) => b.digest);
    const arm = image.layersFor(ARM64).map((b) => b.digest);
    assert.equal(amd.length, 3);
    assert.equal(new Set([...amd, ...arm]).size, 6, "no layer is shared between platforms");
    const big = image.layersFor(AMD64)[0]!;
    assert.ok(big.path, "a 64 MiB layer lives in a file");
    assert.ok(big.size >= 64 * MiB && big.size < 64 * MiB + 4096, `big layer size ${big.size}`);
  });

  it("the counting proxy forwards Range requests and records them", async () => {
    registry.reset();
    const big = image.layersFor(AMD64)[0]!;
    const res = await request(`${registry.url}/v2/fixtures/app/blobs/${big.digest}`, {
      headers: { range: "bytes=100-1123" },
    });
    assert.equal(res.statusCode, 206);
    assert.equal((await res.body.arrayBuffer()).byteLength, 1024);
    await registry.settled();
    const [rec] = registry.blobGets(big.digest);
    assert.equal(rec?.status, 206);
    assert.equal(rec?.range, "bytes=100-1123");
    assert.equal(rec?.bytes, 1024);
    assert.equal(registry.blobBytes(big.digest), 1024);
    registry.reset();
  });

  it("pulls linux/amd64 directly from the registry with containerd", async () => {
    const hostsDir = await hostsDirFor(registry, "hosts-direct");
    const ref = `${registry.host}/fixtures/app:v1`;
    const r = await containerd.pull(ref, { hostsDir, platform: AMD64 });
    assert.equal(r.code, 0, `ctr pull failed:\n${r.stdout}\n${r.stderr}`);
    await registry.settled();

    const have = new Set(await containerd.contentDigests());
    for (const blob of image.pullSetFor(AMD64)) {
      assert.ok(have.has(blob.digest), `containerd has ${blob.digest}`);
      const read = await containerd.readContent(blob.digest);
      assert.equal(read.digest, blob.digest);
      assert.equal(read.size, blob.size);
    }
    for (const blob of image.layersFor(ARM64)) {
      assert.equal(registry.blobGets(blob.digest).length, 0, `arm64 layer ${blob.digest} was not fetched`);
      assert.ok(!have.has(blob.digest));
    }
    for (const blob of image.blobsFor(AMD64)) {
      assert.equal(registry.blobGets(blob.digest).length, 1, `one GET of ${blob.digest}`);
      assert.equal(registry.blobBytes(blob.digest), blob.size, `bytes served for ${blob.digest}`);
    }
    assert.ok(registry.requests.every((q) => q.userAgent?.startsWith("containerd/")));
    assert.deepEqual(await containerd.images(), [ref]);

    // images rm --sync really deletes the content; a --plain-http pull (no hosts dir) works too.
    const rm1 = await containerd.removeImage(ref);
    assert.equal(rm1.code, 0, rm1.stderr);
    assert.deepEqual(await containerd.contentDigests(), []);
    registry.reset();
    const r2 = await containerd.pull(ref, { plainHttp: true, platform: AMD64 });
    assert.equal(r2.code, 0, `ctr pull --plain-http failed:\n${r2.stderr}`);
    await registry.settled();
    const big = image.layersFor(AMD64)[0]!;
    assert.equal(registry.blobBytes(big.digest), big.size);
    assert.equal((await containerd.removeImage(ref)).code, 0);
  });

  it("copies an image with skopeo directly", async () => {
    registry.reset();
    const conf = await writeRegistriesConf(join(work, "registries.conf"), { registry: registry.host });
    const destDir = join(work, "oci-arm64");
    const r = await skopeoCopy(`${registry.host}/fixtures/app:v1`, { registriesConf: conf, destDir, platform: ARM64 });
    assert.equal(r.code, 0, `skopeo copy failed:\n${r.stderr}`);
    await registry.settled();
    const have = new Set(await ociLayoutDigests(destDir));
    for (const blob of [image.forPlatform(ARM64).manifest, ...image.blobsFor(ARM64)]) {
      assert.ok(have.has(blob.digest), `OCI layout has ${blob.digest}`);
    }
    for (const blob of image.layersFor(AMD64)) assert.equal(registry.blobGets(blob.digest).length, 0);
    assert.ok(
      registry.requests.some((q) => q.method === "GET" && q.path === "/v2/"),
      "skopeo pings /v2/ first",
    );
  });

  it("an auth registry refuses a pull without credentials and serves one with them", async () => {
    const auth = { username: "d7y", password: "s3cret-pass" };
    const secure = await startRegistry({ auth });
    cleanups.push(() => secure.stop());
    const small = await buildImage({ layers: [{ size: 2 * MiB, seed: "fixtures-auth" }] });
    await assert.rejects(pushImage(secure.url, "fixtures/private", "v1", small), /401/);
    await pushImage(secure.url, "fixtures/private", "v1", small, auth);
    const hostsDir = await hostsDirFor(secure, "hosts-auth");
    const ref = `${secure.host}/fixtures/private:v1`;

    secure.reset();
    const denied = await containerd.pull(ref, { hostsDir });
    assert.notEqual(denied.code, 0, "a pull without credentials fails");
    assert.match(denied.stderr, /401|unauthorized/i);
    assert.equal(secure.blobBytes(small.layersFor(AMD64)[0]!.digest), 0);

    secure.reset();
    const allowed = await containerd.pull(ref, { hostsDir, user: `${auth.username}:${auth.password}` });
    assert.equal(allowed.code, 0, `pull with credentials failed:\n${allowed.stderr}`);
    await secure.settled();
    assert.equal(secure.requests[0]?.status, 401, "the first request comes without credentials");
    const layer = small.layersFor(AMD64)[0]!;
    assert.equal(secure.blobBytes(layer.digest), layer.size);
    assert.ok(secure.blobGets(layer.digest).every((q) => q.authorized));
    assert.equal((await containerd.readContent(layer.digest)).digest, layer.digest);
    assert.equal((await containerd.removeImage(ref)).code, 0);
  });

  it("corruptBlob makes the registry serve bad bytes and a direct containerd pull fail", async () => {
    const victim = await buildImage({ layers: [{ size: 3 * MiB, seed: "fixtures-corrupt" }] });
    await pushImage(registry.directUrl, "fixtures/corrupt", "v1", victim);
    const layer = victim.layersFor(AMD64)[0]!;
    await registry.corruptBlob(layer.digest);

    // docker-registry serves the stored bytes without checking them against the digest.
    const res = await request(`${registry.directUrl}/v2/fixtures/corrupt/blobs/${layer.digest}`);
    assert.equal(res.statusCode, 200);
    const body = Buffer.from(await res.body.arrayBuffer());
    assert.equal(body.length, layer.size);
    assert.notEqual(`sha256:${createHash("sha256").update(body).digest("hex")}`, layer.digest);

    const hostsDir = await hostsDirFor(registry, "hosts-corrupt");
    const r = await containerd.pull(`${registry.host}/fixtures/corrupt:v1`, { hostsDir });
    assert.notEqual(r.code, 0, "pulling a corrupted layer fails");
    assert.match(r.stderr, /digest|size/i);
    assert.ok(!(await containerd.contentDigests()).includes(layer.digest), "no corrupted content is committed");
  });
});
