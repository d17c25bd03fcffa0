/**
 * d7y-daemon as containerd's registry mirror, on the real parts: Debian's docker-registry behind a
 * counting front, real containerd (ctr) configured only by what `d7y-daemon containerd-config`
 * wrote, real skopeo, and the daemon as a separate process.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { DfdaemonService } from "@d7y/proto/dfdaemon/v1";
import { createRpcClient } from "@d7y/rpc";
import { request } from "undici";
import { startContainerd, type TestContainerd } from "../helpers/containerd.js";
import { DAEMON_BIN, type DaemonProcess, startDaemonProcess } from "../helpers/daemon-process.js";
import { type Blob, type BuiltImage, buildImage, pushImage, readBlob } from "../helpers/image.js";
import { freePort, run } from "../helpers/processes.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { ociLayoutDigests, skopeoCopy, writeRegistriesConf } from "../helpers/skopeo.js";

const MiB = 1024 * 1024;
const AMD64 = "linux/amd64";
const ARM64 = "linux/arm64";
const AUTH = { username: "puller", password: "s3cret-pass" };

async function assertStored(containerd: TestContainerd, blobs: Blob[]): Promise<void> {
  const present = new Set(await containerd.contentDigests());
  for (const blob of blobs) {
    assert.ok(present.has(blob.digest), `containerd has ${blob.digest}`);
    const stored = await containerd.readContent(blob.digest);
    assert.equal(stored.digest, blob.digest, `stored bytes of ${blob.digest} match their digest`);
    assert.equal(stored.size, blob.size);
  }
}

/** Sends raw bytes to a loopback port and returns the first line of the answer. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(text));
    let answer = "";
    socket.setTimeout(5000, () => socket.destroy(new Error("no answer within 5 s")));
    socket.on("data", (chunk) => {
      answer += chunk.toString("latin1");
      if (answer.includes("\r\n")) {
        socket.destroy();
        resolve(answer.split("\r\n")[0]!);
      }
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(answer.split("\r\n")[0] ?? ""));
  });
}

async function writeHostsWithCli(hostsDir: string, mirror: string, registries: string[]): Promise<void> {
  const result = await run(
    process.execPath,
    [
      DAEMON_BIN,
      "containerd-config",
      "--hosts-dir",
      hostsDir,
      "--mirror",
      mirror,
      ...registries.flatMap((r) => ["--registry", r]),
    ],
    { timeoutMs: 20_000 },
  );
  assert.equal(result.code, 0, result.stderr);
}

describe("d7y-daemon as containerd's registry mirror", function () {
  this.timeout(180_000);

  let registry: TestRegistry;
  let authRegistry: TestRegistry;
  let containerd: TestContainerd;
  let daemon: DaemonProcess;
  let image: BuiltImage;
  let privateImage: BuiltImage;
  let work: string;
  let hostsDir: string;
  let deadPort: number;
  let ref: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "d7y-mirror-test-"));
    hostsDir = join(work, "certs.d");
    [registry, authRegistry, containerd] = await Promise.all([
      startRegistry(),
      startRegistry({ auth: AUTH }),
      startContainerd(),
    ]);
    image = await buildImage({
      layers: [
        { size: 64 * MiB, seed: "mirror-big" },
        { size: 3 * MiB, seed: "mirror-mid" },
        { size: 200 * 1024, seed: "mirror-small" },
      ],
      platforms: [
        { os: "linux", architecture: "amd64" },
        { os: "linux", architecture: "arm64" },
      ],
    });
    await pushImage(registry.url, "d7y/app", "v1", image);
    privateImage = await buildImage({
      layers: [
        { size: 12 * MiB, seed: "private-big" },
        { size: 100 * 1024, seed: "private-small" },
      ],
    });
    await pushImage(authRegistry.url, "d7y/private", "v1", privateImage, AUTH);
    ref = `${registry.host}/d7y/app:v1`;
    deadPort = await freePort();
    daemon = await startDaemonProcess({
      registries: [registry.url, authRegistry.url, `http://127.0.0.1:${deadPort}`],
    });
    await writeHostsWithCli(hostsDir, daemon.mirrorUrl, [registry.url, authRegistry.url]);
    registry.reset();
  });

  after(async () => {
    await Promise.allSettled([daemon?.destroy(), containerd?.stop(), registry?.stop(), authRegistry?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("writes hosts.toml that keeps the registry as server", async () => {
    const text = await readFile(join(hostsDir, registry.host, "hosts.toml"), "utf8");
    assert.match(text, new RegExp(`^server = "${registry.url}"$`, "m"));
    assert.match(text, new RegExp(`\\[host\\."${daemon.mirrorUrl}"\\]`));
  });

  it("containerd pulls through the daemon: the registry serves each blob once, arm64 not at all", async () => {
    const pull = await containerd.pull(ref, { hostsDir, platform: AMD64 });
    assert.equal(pull.code, 0, pull.stderr);
    const wanted = image.blobsFor(AMD64);
    await assertStored(containerd, wanted);
    await registry.settled();
    for (const blob of wanted) {
      assert.equal(registry.blobBytes(blob.digest), blob.size, `registry sent ${blob.digest} exactly once`);
    }
    for (const blob of image.layersFor(ARM64)) assert.equal(registry.blobGets(blob.digest).length, 0);
    // The daemon holds every blob it served, complete.
    const client = createRpcClient(DfdaemonService, daemon.apiUrl);
    for (const blob of wanted) {
      const task = await client.statTask({ taskId: blob.digest.slice(7) });
      assert.equal(task.contentLength, BigInt(blob.size));
      assert.equal(task.finishedPieceCount, task.pieceCount);
    }
  });

  it("after `ctr images rm --sync`, the pull is served from the cache: zero blob GETs reach the registry", async () => {
    const removed = await containerd.removeImage(ref);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((await containerd.contentDigests()).length, 0, "containerd really deleted the content");
    registry.reset();
    const pull = await containerd.pull(ref, { hostsDir, platform: AMD64 });
    assert.equal(pull.code, 0, pull.stderr);
    await assertStored(containerd, image.blobsFor(AMD64));
    await registry.settled();
    assert.equal(registry.blobGets().length, 0);
    assert.ok(registry.manifestRequests().length > 0, "manifests still go to the registry");
  });

  it("the cache survives a daemon restart", async () => {
    daemon = await daemon.restart();
    await containerd.removeImage(ref);
    registry.reset();
    const pull = await containerd.pull(ref, { hostsDir, platform: AMD64 });
    assert.equal(pull.code, 0, pull.stderr);
    await assertStored(containerd, image.blobsFor(AMD64));
    await registry.settled();
    assert.equal(registry.blobGets().length, 0);
  });

  it("skopeo with a registries.conf mirror pulls through the daemon (no ns: the default registry)", async () => {
    const conf = await writeRegistriesConf(join(work, "registries.conf"), {
      registry: registry.host,
      mirror: daemon.mirrorHost,
    });
    const dest = join(work, "skopeo-arm64");
    registry.reset();
    const copy = await skopeoCopy(ref, { registriesConf: conf, destDir: dest, platform: ARM64 });
    assert.equal(copy.code, 0, copy.stderr);
    const stored = new Set(await ociLayoutDigests(dest));
    const client = createRpcClient(DfdaemonService, daemon.apiUrl);
    await registry.settled();
    for (const blob of image.blobsFor(ARM64)) {
      assert.ok(stored.has(blob.digest), `skopeo stored ${blob.digest}`);
      const bytes = await readFile(join(dest, "blobs", "sha256", blob.digest.slice(7)));
      assert.equal(`sha256:${createHash("sha256").update(bytes).digest("hex")}`, blob.digest);
      // The blob went through the daemon: it has the task, and the registry sent the bytes once.
      const task = await client.statTask({ taskId: blob.digest.slice(7) });
      assert.equal(task.contentLength, BigInt(blob.size));
      assert.equal(registry.blobBytes(blob.digest), blob.size);
    }
  });

  it("a private registry: the pull with credentials works through the daemon, without them it fails with 401 as direct", async () => {
    const privateRef = `${authRegistry.host}/d7y/private:v1`;
    const directHosts = join(work, "direct.d");
    const anonymous = await containerd.pull(privateRef, { hostsDir, platform: AMD64 });
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.stderr + anonymous.stdout, /401|unauthorized/i);
    const direct = await containerd.pull(privateRef, { hostsDir: directHosts, platform: AMD64, plainHttp: true });
    assert.notEqual(direct.code, 0);
    assert.match(direct.stderr + direct.stdout, /401|unauthorized/i);
    // The mirror hands the registry's own 401 and challenge back unchanged.
    const viaMirror = await request(`${daemon.mirrorUrl}/v2/d7y/private/manifests/v1?ns=${authRegistry.host}`);
    const straight = await request(`${authRegistry.url}/v2/d7y/private/manifests/v1`);
    await Promise.all([viaMirror.body.dump(), straight.body.dump()]);
    assert.equal(viaMirror.statusCode, 401);
    assert.equal(viaMirror.headers["www-authenticate"], straight.headers["www-authenticate"]);

    authRegistry.reset();
    const pull = await containerd.pull(privateRef, {
      hostsDir,
      platform: AMD64,
      user: `${AUTH.username}:${AUTH.password}`,
    });
    assert.equal(pull.code, 0, pull.stderr);
    await assertStored(containerd, privateImage.blobsFor(AMD64));
    await authRegistry.settled();
    for (const blob of privateImage.blobsFor(AMD64)) {
      const served = authRegistry.blobGets(blob.digest).filter((r) => r.status === 206 || r.status === 200);
      assert.ok(
        served.length > 0 && served.every((r) => r.authorized),
        "blob requests reached the registry with credentials",
      );
      assert.equal(authRegistry.blobBytes(blob.digest), blob.size, "and fetched each byte once");
    }
  });

  it("an upstream blob that does not match its digest: the pull fails and nothing is cached", async () => {
    const bad = await buildImage({ layers: [{ size: 6 * MiB, seed: "corrupt-me" }] });
    await pushImage(registry.url, "d7y/bad", "v1", bad);
    const layer = bad.layersFor(AMD64)[0]!;
    await registry.corruptBlob(layer.digest);
    const pull = await containerd.pull(`${registry.host}/d7y/bad:v1`, { hostsDir, platform: AMD64 });
    assert.notEqual(pull.code, 0, "the pull fails");
    assert.ok(!(await containerd.contentDigests()).includes(layer.digest));
    const client = createRpcClient(DfdaemonService, daemon.apiUrl);
    await assert.rejects(client.statTask({ taskId: layer.digest.slice(7) }), (error: unknown) => {
      return error instanceof ConnectError && error.code === Code.NotFound;
    });
    const response = await request(`${daemon.mirrorUrl}/v2/d7y/bad/blobs/${layer.digest}?ns=${registry.host}`);
    await assert.rejects(response.body.arrayBuffer(), "the body is cut short, never complete");
  });

  it("several concurrent requests for one blob cause one upstream download; ranges get 206", async () => {
    const fresh = await buildImage({ layers: [{ size: 24 * MiB, seed: "concurrent" }] });
    await pushImage(registry.url, "d7y/concurrent", "v1", fresh);
    const layer = fresh.layersFor(AMD64)[0]!;
    const expected = await readBlob(layer);
    registry.reset();
    const url = `${daemon.mirrorUrl}/v2/d7y/concurrent/blobs/${layer.digest}?ns=${registry.host}`;
    const ranged = request(url, { headers: { range: "bytes=5000000-5999999" } });
    const bodies = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const response = await request(url);
        assert.equal(response.statusCode, 200);
        return Buffer.from(await response.body.arrayBuffer());
      }),
    );
    for (const body of bodies) assert.ok(body.equals(expected));
    const partial = await ranged;
    assert.equal(partial.statusCode, 206);
    assert.equal(partial.headers["content-range"], `bytes 5000000-5999999/${layer.size}`);
    assert.ok(Buffer.from(await partial.body.arrayBuffer()).equals(expected.subarray(5_000_000, 6_000_000)));
    await registry.settled();
    assert.equal(registry.blobBytes(layer.digest), layer.size, "one upstream download");
    const cached = await request(url, { headers: { range: "bytes=-10" } });
    assert.equal(cached.statusCode, 206);
    assert.equal(cached.headers["x-dragonfly-task-download-finished"], "true");
    assert.ok(Buffer.from(await cached.body.arrayBuffer()).equals(expected.subarray(-10)));
  });

  it("bad input gets a clear status and message", async () => {
    const cases: Array<{ path: string; headers?: Record<string, string>; status: number; message: RegExp }> = [
      { path: `/v2/d7y/app/blobs/sha256:1234?ns=${registry.host}`, status: 400, message: /malformed digest/ },
      { path: "/v2/d7y/app/manifests/v1?ns=registry.example.com", status: 403, message: /not allowed/ },
      {
        path: "/v2/",
        headers: { "x-dragonfly-registry": "https://elsewhere.example" },
        status: 403,
        message: /not allowed/,
      },
      { path: "/metrics-or-anything", status: 404, message: /not a registry API path/ },
      {
        path: `/v2/d7y/app/blobs/sha256:${"a".repeat(64)}`,
        headers: { "x-dragonfly-registry": `http://127.0.0.1:${deadPort}` },
        status: 502,
        message: /unreachable/,
      },
      { path: `/v2/d7y/app/manifests/v1?ns=127.0.0.1:${deadPort}`, status: 502, message: /unreachable/ },
    ];
    for (const c of cases) {
      const response = await request(`${daemon.mirrorUrl}${c.path}`, c.headers ? { headers: c.headers } : {});
      const text = await response.body.text();
      assert.equal(response.statusCode, c.status, `${c.path}: ${text}`);
      assert.match(text, c.message);
    }
    // An absolute-form request (HTTP proxy use) is refused: the mirror is not an open proxy.
    const statusLine = await rawRequest(
      daemon.proxyPort,
      "GET http://example.invalid/ HTTP/1.1\r\nHost: example.invalid\r\n\r\n",
    );
    assert.match(statusLine, /^HTTP\/1\.1 403 /);
    // The daemon is still healthy after all of it.
    const health = await request(`${daemon.mirrorUrl}/healthy`);
    assert.equal(health.statusCode, 200);
    await health.body.dump();
  });

  it("the Connect API downloads a URL with progress, stats, lists and deletes tasks", async () => {
    const fresh = await buildImage({ layers: [{ size: 9 * MiB, seed: "api-download" }] });
    await pushImage(registry.url, "d7y/api", "v1", fresh);
    const layer = fresh.layersFor(AMD64)[0]!;
    const client = createRpcClient(DfdaemonService, daemon.apiUrl);
    const output = join(work, "api-out", "layer.tar");
    const kinds: string[] = [];
    let finishedDigest = "";
    for await (const message of client.download({
      download: { url: `${registry.url}/v2/d7y/api/blobs/${layer.digest}`, outputPath: output },
    })) {
      kinds.push(message.response.case ?? "none");
      if (message.response.case === "finished") finishedDigest = message.response.value.digest;
    }
    assert.equal(kinds[0], "started");
    assert.equal(kinds.at(-1), "finished");
    assert.ok(kinds.filter((kind) => kind === "progress").length >= 3, `progress per piece (${kinds.join(",")})`);
    assert.equal(finishedDigest, layer.digest);
    const written = await readFile(output);
    assert.equal(`sha256:${createHash("sha256").update(written).digest("hex")}`, layer.digest);
    const list = await client.listTasks({});
    assert.ok(list.tasks.some((task) => task.id === layer.digest.slice(7)));
    const stat = await client.statTask({ taskId: layer.digest.slice(7), withPieces: true });
    assert.equal(stat.pieces.length, stat.pieceCount);
    await client.deleteTask({ taskId: layer.digest.slice(7) });
    await assert.rejects(
      client.statTask({ taskId: layer.digest.slice(7) }),
      (e: unknown) => (e as ConnectError).code === Code.NotFound,
    );
    await assert.rejects(
      async () => {
        for await (const _ of client.download({ download: { url: "ftp://nowhere/x" } })) {
          // drain
        }
      },
      (e: unknown) => (e as ConnectError).code === Code.InvalidArgument,
    );
  });

  it("with the daemon stopped, containerd still pulls from the registry (the server fallback)", async () => {
    await daemon.stop();
    for (const name of await containerd.images()) await containerd.removeImage(name);
    assert.equal((await containerd.contentDigests()).length, 0);
    registry.reset();
    const pull = await containerd.pull(ref, { hostsDir, platform: AMD64 });
    assert.equal(pull.code, 0, pull.stderr);
    await assertStored(containerd, image.blobsFor(AMD64));
    await registry.settled();
    assert.ok(registry.blobGets().length > 0, "the blobs came straight from the registry");
  });
});
