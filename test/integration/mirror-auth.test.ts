/**
 * The mirror's access check on the real parts: Debian's docker-registry with htpasswd behind the counting
 * front, and the daemon as a separate process. A blob already in the daemon's cache is served only to a
 * client the origin would serve (HEAD with the client's own headers), like going direct.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { type DaemonProcess, startDaemonProcess } from "../helpers/daemon-process.js";
import { type BuiltImage, buildImage, type ImageBlob, pushImage, readBlob } from "../helpers/image.js";
import { sampleSum } from "../helpers/metrics-text.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { type SchedulerProcess, startSchedulerProcess, waitForHosts } from "../helpers/scheduler-process.js";

const MiB = 1024 * 1024;
const AUTH = { username: "puller", password: "s3cret-pass" };
const BASIC = `Basic ${Buffer.from(`${AUTH.username}:${AUTH.password}`).toString("base64")}`;
const WRONG = `Basic ${Buffer.from(`${AUTH.username}:not-the-password`).toString("base64")}`;
/** Short enough to outlive within the test (the stale case), long enough for back-to-back requests. */
const TTL_MS = 5000;

const sha256 = (bytes: Buffer) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

async function get(url: string, authorization?: string) {
  const response = await request(url, { headers: authorization ? { authorization } : {} });
  const body = Buffer.from(await response.body.arrayBuffer());
  return { status: response.statusCode, headers: response.headers, body };
}

/** HEAD requests on blob paths that reached the registry. */
function blobHeads(registry: TestRegistry, digest: string): number {
  return registry.requests.filter((r) => r.method === "HEAD" && r.path.includes(`/blobs/${digest}`)).length;
}

async function authChecks(daemon: DaemonProcess, result: string): Promise<number> {
  const text = await (await request(daemon.metricsUrl)).body.text();
  return sampleSum(text, "d7y_daemon_auth_checks_total", { result }) ?? 0;
}

describe("the mirror checks access before serving a cached blob", function () {
  this.timeout(120_000);

  let privateRegistry: TestRegistry;
  let publicRegistry: TestRegistry;
  let daemon: DaemonProcess;
  let unchecked: DaemonProcess | undefined;
  let work: string;
  let image: BuiltImage;
  let layer: ImageBlob;
  let expected: Buffer;
  let lastVerdictAt = 0;

  const privateUrl = () => `${daemon.mirrorUrl}/v2/d7y/private/blobs/${layer.digest}?ns=${privateRegistry.host}`;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "d7y-mirror-auth-"));
    [privateRegistry, publicRegistry] = await Promise.all([startRegistry({ auth: AUTH }), startRegistry()]);
    image = await buildImage({ layers: [{ size: 6 * MiB, seed: "auth-check-layer" }] });
    await Promise.all([
      pushImage(privateRegistry.url, "d7y/private", "v1", image, AUTH),
      pushImage(publicRegistry.url, "d7y/public", "v1", image),
    ]);
    layer = image.layersFor("linux/amd64")[0]!;
    expected = await readBlob(layer);
    const config = join(work, "daemon.yaml");
    await writeFile(config, `proxy:\n  authCheck:\n    ttl: ${TTL_MS}ms\n    staleIfError: 1h\n`);
    daemon = await startDaemonProcess({
      registries: [privateRegistry.url, publicRegistry.url],
      extraArgs: ["--config", config],
    });
  });

  after(async () => {
    await Promise.allSettled([
      daemon?.destroy(),
      unchecked?.destroy(),
      privateRegistry?.stop(),
      publicRegistry?.stop(),
    ]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("a pull with valid credentials fills the cache; its own origin request is the verdict (no HEAD)", async () => {
    privateRegistry.reset();
    const first = await get(privateUrl(), BASIC);
    assert.equal(first.status, 200);
    assert.equal(sha256(first.body), layer.digest);
    const anonymous = await get(`${daemon.mirrorUrl}/v2/d7y/public/blobs/${layer.digest}?ns=${publicRegistry.host}`);
    assert.equal(anonymous.status, 200, "the public registry's copy (same digest, same task) is served too");
    await privateRegistry.settled();
    assert.equal(privateRegistry.blobBytes(layer.digest), layer.size);
    assert.equal(blobHeads(privateRegistry, layer.digest), 0, "no extra request for the download's own client");
    // A restart keeps the cache and forgets the verdicts: every check below asks the origin first.
    daemon = await daemon.restart();
    privateRegistry.reset();
    publicRegistry.reset();
  });

  it("no credentials: the registry's 401 and challenge, no blob bytes", async () => {
    const viaMirror = await get(privateUrl());
    const direct = await get(`${privateRegistry.directUrl}/v2/d7y/private/blobs/${layer.digest}`);
    assert.equal(viaMirror.status, 401);
    assert.ok(viaMirror.headers["www-authenticate"], "a challenge the client can answer");
    assert.equal(viaMirror.headers["www-authenticate"], direct.headers["www-authenticate"]);
    assert.ok(viaMirror.body.length < 1024, `no blob bytes (got ${viaMirror.body.length})`);
    assert.ok(!viaMirror.body.includes(expected.subarray(0, 64)));
    await privateRegistry.settled();
    assert.equal(privateRegistry.blobGets(layer.digest).length, 0);
    assert.equal(blobHeads(privateRegistry, layer.digest), 1);
  });

  it("a wrong password: 401", async () => {
    const wrong = await get(privateUrl(), WRONG);
    assert.equal(wrong.status, 401);
    assert.ok(wrong.body.length < 1024);
  });

  it("valid credentials: 200 with the right bytes after one HEAD, zero blob GETs at the registry", async () => {
    privateRegistry.reset();
    const served = await get(privateUrl(), BASIC);
    lastVerdictAt = Date.now();
    assert.equal(served.status, 200);
    assert.equal(served.headers["x-dragonfly-task-download-finished"], "true", "from the cache");
    assert.equal(sha256(served.body), layer.digest);
    assert.ok(served.body.equals(expected));
    await privateRegistry.settled();
    assert.equal(privateRegistry.blobGets(layer.digest).length, 0);
    assert.equal(blobHeads(privateRegistry, layer.digest), 1);
    assert.ok(
      privateRegistry.requests.every((r) => r.authorized),
      "the HEAD carried the client's credentials",
    );
  });

  it("a second valid request within the TTL: the verdict is cached, no new HEAD", async () => {
    privateRegistry.reset();
    const again = await get(privateUrl(), BASIC);
    assert.ok(Date.now() - lastVerdictAt < TTL_MS, "still within the TTL");
    assert.equal(again.status, 200);
    assert.equal(sha256(again.body), layer.digest);
    await privateRegistry.settled();
    assert.equal(privateRegistry.requests.length, 0, "the registry saw nothing");
    // Ranged requests are checked the same way.
    const ranged = await request(privateUrl(), { headers: { range: "bytes=0-99" } });
    assert.equal(ranged.statusCode, 401);
    await ranged.body.dump();
  });

  it("a public registry: a cached blob is served to an anonymous client after one HEAD", async () => {
    const served = await get(`${daemon.mirrorUrl}/v2/d7y/public/blobs/${layer.digest}?ns=${publicRegistry.host}`);
    assert.equal(served.status, 200);
    assert.equal(sha256(served.body), layer.digest);
    await publicRegistry.settled();
    assert.equal(publicRegistry.blobGets(layer.digest).length, 0);
    assert.equal(blobHeads(publicRegistry, layer.digest), 1);
    // Access to one repository says nothing about another: unknown there means 404, as direct.
    const elsewhere = await get(`${daemon.mirrorUrl}/v2/d7y/other/blobs/${layer.digest}?ns=${publicRegistry.host}`);
    assert.equal(elsewhere.status, 404);
  });

  it("with --no-auth-check, an anonymous client gets the cached blob (the single-tenant behaviour)", async () => {
    unchecked = await startDaemonProcess({ registries: [privateRegistry.url], extraArgs: ["--no-auth-check"] });
    const url = `${unchecked.mirrorUrl}/v2/d7y/private/blobs/${layer.digest}?ns=${privateRegistry.host}`;
    assert.equal((await get(url)).status, 401, "not cached yet: the origin's own answer");
    assert.equal((await get(url, BASIC)).status, 200);
    privateRegistry.reset();
    const anonymous = await get(url);
    assert.equal(anonymous.status, 200);
    assert.equal(sha256(anonymous.body), layer.digest);
    await privateRegistry.settled();
    assert.equal(privateRegistry.requests.length, 0, "no origin request at all");
    assert.equal(await authChecks(unchecked, "allowed"), 0);
  });

  it("counts the checks by result", async () => {
    assert.equal(await authChecks(daemon, "allowed"), 2, "the private and the public HEAD");
    assert.equal(await authChecks(daemon, "denied"), 4, "anonymous, wrong password, ranged anonymous, other repo");
    assert.equal(await authChecks(daemon, "cached"), 1);
  });

  it("the registry down: a credential verified before is still served (stale), anonymous gets 502", async () => {
    const wait = lastVerdictAt + TTL_MS + 100 - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    await privateRegistry.stop();
    const served = await get(privateUrl(), BASIC);
    assert.equal(served.status, 200);
    assert.equal(sha256(served.body), layer.digest);
    const anonymous = await get(privateUrl());
    assert.equal(anonymous.status, 502);
    assert.match(anonymous.body.toString(), /origin could not confirm access/);
    assert.ok(!anonymous.body.includes(expected.subarray(0, 64)));
    const wrong = await get(privateUrl(), WRONG);
    assert.equal(wrong.status, 502, "a credential never verified is not served either");
    assert.equal(await authChecks(daemon, "stale"), 1);
    assert.equal(await authChecks(daemon, "unavailable"), 2);
  });
});

describe("the access check covers blobs fetched from peers", function () {
  this.timeout(120_000);

  let registry: TestRegistry;
  let scheduler: SchedulerProcess;
  const nodes: DaemonProcess[] = [];
  let layer: ImageBlob;

  before(async () => {
    registry = await startRegistry({ auth: AUTH });
    scheduler = await startSchedulerProcess();
    const image = await buildImage({ layers: [{ size: 6 * MiB, seed: "auth-check-p2p" }] });
    await pushImage(registry.url, "d7y/private", "v1", image, AUTH);
    layer = image.layersFor("linux/amd64")[0]!;
    for (let i = 0; i < 2; i++) {
      nodes.push(
        await startDaemonProcess({ registries: [registry.url], schedulers: [scheduler.url], announceInterval: "1s" }),
      );
    }
    await waitForHosts(scheduler.url, 2);
  });

  after(async () => {
    await Promise.allSettled(nodes.map((node) => node.destroy()));
    await Promise.allSettled([scheduler?.stop(), registry?.stop()]);
  });

  it("node 2 without credentials gets the registry's 401, not node 1's copy; with them, the pieces come from node 1", async () => {
    const url = (node: DaemonProcess) => `${node.mirrorUrl}/v2/d7y/private/blobs/${layer.digest}?ns=${registry.host}`;
    const first = await get(url(nodes[0]!), BASIC);
    assert.equal(first.status, 200);
    assert.equal(sha256(first.body), layer.digest);
    await registry.settled();
    registry.reset();

    const anonymous = await get(url(nodes[1]!));
    assert.equal(anonymous.status, 401);
    assert.ok(anonymous.headers["www-authenticate"]);
    assert.ok(anonymous.body.length < 1024, "no blob bytes");
    const authorized = await get(url(nodes[1]!), BASIC);
    assert.equal(authorized.status, 200);
    assert.equal(sha256(authorized.body), layer.digest);
    await registry.settled();
    assert.equal(registry.blobGets(layer.digest).length, 0, "node 2 got the bytes from node 1, never the origin");
    assert.equal(blobHeads(registry, layer.digest), 2, "one check per client: anonymous (401), then with credentials");
    assert.equal(await authChecks(nodes[1]!, "denied"), 1);
    assert.equal(await authChecks(nodes[1]!, "allowed"), 1);
  });
});
