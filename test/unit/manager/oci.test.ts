import assert from "node:assert/strict";
import {
  choosePlatform,
  parseImageLocation,
  parseManifest,
  parsePlatform,
  parseWwwAuthenticate,
  platformMatches,
  selectHosts,
  timeoutSeconds,
} from "@d7y/manager";

describe("manager OCI and preheat rules", () => {
  it("parses WWW-Authenticate challenges", () => {
    assert.deepEqual(
      parseWwwAuthenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      ),
      [
        {
          scheme: "bearer",
          params: {
            realm: "https://auth.docker.io/token",
            service: "registry.docker.io",
            scope: "repository:library/alpine:pull",
          },
        },
      ],
    );
    assert.deepEqual(parseWwwAuthenticate('Basic realm="a \\"quoted\\", realm"'), [
      { scheme: "basic", params: { realm: 'a "quoted", realm' } },
    ]);
    assert.deepEqual(
      parseWwwAuthenticate('Basic realm="x", Bearer realm=https://t/token, service=s').map((c) => [c.scheme, c.params]),
      [
        ["basic", { realm: "x" }],
        ["bearer", { realm: "https://t/token", service: "s" }],
      ],
    );
    assert.deepEqual(parseWwwAuthenticate(""), []);
    assert.deepEqual(parseWwwAuthenticate('Bearer realm="unterminated'), [
      { scheme: "bearer", params: { realm: "unterminated" } },
    ]);
  });

  it("turns manifest URLs and image references into manifest locations", () => {
    assert.deepEqual(parseImageLocation("https://ghcr.io/v2/org/team/app/manifests/v1.2"), {
      scheme: "https",
      host: "ghcr.io",
      repository: "org/team/app",
      reference: "v1.2",
    });
    assert.deepEqual(parseImageLocation("localhost:5000/app:dev"), {
      scheme: "https",
      host: "localhost:5000",
      repository: "app",
      reference: "dev",
    });
    assert.deepEqual(parseImageLocation("nginx"), {
      scheme: "https",
      host: "registry-1.docker.io",
      repository: "library/nginx",
      reference: "latest",
    });
    assert.equal(parseImageLocation("docker.io/bitnami/redis:7").repository, "bitnami/redis");
    const digest = `sha256:${"b".repeat(64)}`;
    assert.equal(parseImageLocation(`quay.io/a/b:tag@${digest}`).reference, digest);
    for (const bad of [
      "https://r/v2/UPPER/manifests/1",
      "https://r/v2/a/manifests/sha256:short",
      "ftp://r/x",
      "a/b:bad tag",
    ]) {
      assert.throws(() => parseImageLocation(bad), TypeError, bad);
    }
  });

  it("matches platforms with default variants", () => {
    assert.ok(platformMatches(parsePlatform("linux/arm64"), { os: "linux", architecture: "arm64", variant: "v8" }));
    assert.ok(platformMatches(parsePlatform("linux/arm64/v8"), { os: "linux", architecture: "arm64" }));
    assert.ok(!platformMatches(parsePlatform("linux/arm/v6"), { os: "linux", architecture: "arm", variant: "v7" }));
    assert.ok(platformMatches(parsePlatform("linux/amd64"), { os: "linux", architecture: "x86_64" }));
    const entries = [
      { id: 1, platform: { os: "linux", architecture: "arm", variant: "v6" } },
      { id: 2, platform: { os: "linux", architecture: "arm", variant: "v7" } },
    ];
    assert.equal(choosePlatform(entries, parsePlatform("linux/arm"))?.id, 2);
    assert.equal(choosePlatform(entries, parsePlatform("windows/amd64")), undefined);
    assert.throws(() => parsePlatform("linux"), /os\/arch/);
  });

  it("parses indexes, manifests and schema1", () => {
    const digest = (c: string) => `sha256:${c.repeat(64)}`;
    const index = parseManifest(
      Buffer.from(
        JSON.stringify({ manifests: [{ digest: digest("a"), platform: { os: "linux", architecture: "amd64" } }] }),
      ),
      "application/vnd.docker.distribution.manifest.list.v2+json",
    );
    assert.equal(index.kind, "index");
    const image = parseManifest(
      Buffer.from(
        JSON.stringify({ config: { digest: digest("c"), size: 3 }, layers: [{ digest: digest("d"), size: 9 }] }),
      ),
      "application/vnd.oci.image.manifest.v1+json",
    );
    assert.deepEqual(image.kind === "image" && image.blobs, [
      { digest: digest("c"), size: 3 },
      { digest: digest("d"), size: 9 },
    ]);
    const schema1 = parseManifest(
      Buffer.from(JSON.stringify({ fsLayers: [{ blobSum: digest("e") }] })),
      "application/json",
    );
    assert.deepEqual(schema1.kind === "image" && schema1.blobs, [{ digest: digest("e") }]);
    assert.throws(() => parseManifest(Buffer.from("{"), undefined), /not JSON/);
    assert.throws(
      () => parseManifest(Buffer.from(JSON.stringify({ layers: [{ digest: "md5:x" }] })), undefined),
      /digest/,
    );
  });

  it("reads timeouts as seconds, Go durations in nanoseconds, or duration strings", () => {
    assert.equal(timeoutSeconds(undefined), 3600);
    assert.equal(timeoutSeconds(0), 3600);
    assert.equal(timeoutSeconds(""), 3600);
    assert.equal(timeoutSeconds(45), 45);
    assert.equal(timeoutSeconds("45"), 45);
    assert.equal(timeoutSeconds("1h30m"), 5400);
    assert.equal(timeoutSeconds(1_800_000_000_000), 1800);
    assert.throws(() => timeoutSeconds("later"), /invalid timeout/);
    assert.throws(() => timeoutSeconds(0.5), /between 1s/);
    assert.throws(() => timeoutSeconds(-1), /invalid timeout/);
  });

  it("selects hosts by ips, then count, then percentage", () => {
    const hosts = ["c", "a", "b", "d"].map((id, i) => ({ id, hostname: id, ip: `10.0.0.${i}`, port: 1, clusterId: 1 }));
    assert.deepEqual(
      selectHosts(hosts, { ips: ["10.0.0.0", "10.0.0.3"], count: 1 }).map((host) => host.id),
      ["c", "d"],
    );
    assert.deepEqual(
      selectHosts(hosts, { count: 2, percentage: 100 }).map((host) => host.id),
      ["a", "b"],
    );
    assert.deepEqual(
      selectHosts(hosts, { percentage: 10 }).map((host) => host.id),
      ["a"],
    );
    assert.equal(selectHosts(hosts, {}).length, 4);
  });
});
