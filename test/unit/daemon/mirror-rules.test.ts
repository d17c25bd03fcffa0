import assert from "node:assert/strict";
import { parseRange, renderHostsToml, UpstreamResolver } from "@d7y/daemon";

describe("mirror upstream choice", () => {
  const resolver = new UpstreamResolver(
    ["https://ghcr.io", "http://127.0.0.1:5000", "https://index.docker.io"],
    "https://ghcr.io",
  );

  it("prefers X-Dragonfly-Registry, then ns, then the default", () => {
    assert.deepEqual(resolver.resolve("http://127.0.0.1:5000", "ghcr.io"), {
      origin: "http://127.0.0.1:5000",
      via: "header",
    });
    assert.deepEqual(resolver.resolve(undefined, "127.0.0.1:5000"), { origin: "http://127.0.0.1:5000", via: "ns" });
    assert.deepEqual(resolver.resolve(undefined, undefined), { origin: "https://ghcr.io", via: "default" });
    assert.equal(resolver.resolve(undefined, "docker.io").origin, "https://index.docker.io");
  });

  it("refuses registries that are not allowed", () => {
    assert.throws(() => resolver.resolve("https://evil.example", undefined), /not allowed/);
    assert.throws(() => resolver.resolve(undefined, "evil.example"), /not allowed/);
    assert.throws(() => resolver.resolve(undefined, "a/b"), /not a registry host/);
  });

  it("with allowAllRegistries (containerd's _default/hosts.toml) reaches registries off the list", () => {
    const open = new UpstreamResolver(["https://ghcr.io"], "https://ghcr.io", true);
    assert.deepEqual(open.resolve(undefined, "quay.io"), { origin: "https://quay.io", via: "ns" });
    assert.deepEqual(open.resolve(undefined, "docker.io"), { origin: "https://registry-1.docker.io", via: "ns" });
    assert.deepEqual(open.resolve("http://10.0.0.5:5000", undefined), {
      origin: "http://10.0.0.5:5000",
      via: "header",
    });
    assert.equal(open.resolve(undefined, "ghcr.io").origin, "https://ghcr.io");
    assert.throws(() => open.resolve(undefined, "a/b"), /not a registry host/);
    assert.throws(() => open.resolve("ftp://x.example", undefined), /not allowed/);
  });
});

describe("range parsing", () => {
  it("handles the forms clients send", () => {
    assert.deepEqual(parseRange("bytes=0-99", 1000), { start: 0, end: 99 });
    assert.deepEqual(parseRange("bytes=900-", 1000), { start: 900, end: 999 });
    assert.deepEqual(parseRange("bytes=-100", 1000), { start: 900, end: 999 });
    assert.deepEqual(parseRange("bytes=990-2000", 1000), { start: 990, end: 999 });
    assert.equal(parseRange("bytes=1000-", 1000), "unsatisfiable");
    assert.equal(parseRange(undefined, 1000), undefined);
    assert.equal(parseRange("bytes=0-1,5-6", 1000), undefined);
  });
});

describe("containerd hosts.toml", () => {
  it("keeps the registry as server and puts the mirror first", () => {
    const [file] = renderHostsToml({ mirror: "http://127.0.0.1:4001", registries: ["https://ghcr.io"] });
    assert.equal(file!.namespace, "ghcr.io");
    assert.match(file!.content, /^server = "https:\/\/ghcr.io"$/m);
    assert.match(file!.content, /^\[host\."http:\/\/127.0.0.1:4001"\]$/m);
    assert.match(file!.content, /capabilities = \["pull", "resolve"\]/);
    assert.match(file!.content, /X-Dragonfly-Registry = "https:\/\/ghcr.io"/);
  });

  it("maps Docker Hub and writes _default with --all", () => {
    const files = renderHostsToml({ mirror: "http://127.0.0.1:4001", registries: ["docker.io"], all: true });
    assert.deepEqual(
      files.map((file) => file.namespace),
      ["docker.io", "_default"],
    );
    assert.match(files[0]!.content, /server = "https:\/\/registry-1.docker.io"/);
    assert.doesNotMatch(files[1]!.content, /server/);
  });
});
