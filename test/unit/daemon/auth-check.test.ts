import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { validateConfig } from "@d7y/config";
import {
  AuthChecker,
  credentialHash,
  DaemonError,
  daemonConfigSchema,
  HttpOrigin,
  UpstreamResponseError,
  VerdictCache,
} from "@d7y/daemon";

const DIGEST = `sha256:${"a".repeat(64)}`;
const BASIC = `Basic ${Buffer.from("puller:secret").toString("base64")}`;

describe("auth check verdict cache", () => {
  let clock = 0;
  const key = (authorization?: string, digest = DIGEST) => ({
    upstream: "https://registry.example",
    repo: "team/app",
    digest,
    authorization,
  });
  const cache = (maxEntries?: number) =>
    new VerdictCache({ ttlMs: 5 * 60_000, staleIfErrorMs: 24 * 3_600_000, maxEntries, now: () => clock });

  beforeEach(() => {
    clock = 1_000_000;
  });

  it("a positive verdict is fresh within the TTL, usable-if-error within the stale window, then forgotten", () => {
    const verdicts = cache();
    assert.equal(verdicts.isFresh(key(BASIC)), false);
    verdicts.remember(key(BASIC));
    assert.equal(verdicts.isFresh(key(BASIC)), true);
    clock += 5 * 60_000 - 1;
    assert.equal(verdicts.isFresh(key(BASIC)), true);
    clock += 1;
    assert.equal(verdicts.isFresh(key(BASIC)), false, "TTL over: the origin is asked again");
    assert.equal(verdicts.isUsableIfError(key(BASIC)), true, "but it still vouches while the origin is down");
    clock += 24 * 3_600_000;
    assert.equal(verdicts.isUsableIfError(key(BASIC)), false);
    assert.equal(verdicts.size, 0, "an expired verdict is dropped when looked at");
  });

  it("the key includes the credential's hash: another credential (or none) has no verdict", () => {
    const verdicts = cache();
    verdicts.remember(key(BASIC));
    assert.equal(verdicts.isFresh(key(`Basic ${Buffer.from("puller:wrong").toString("base64")}`)), false);
    assert.equal(verdicts.isFresh(key(undefined)), false);
    assert.equal(verdicts.isFresh(key("")), false);
    assert.equal(verdicts.isFresh({ ...key(BASIC), repo: "other/app" }), false, "repo is part of the key");
    assert.equal(verdicts.isFresh({ ...key(BASIC), upstream: "https://other.example" }), false);
    assert.equal(verdicts.isFresh(key(BASIC, `sha256:${"b".repeat(64)}`)), false);
    verdicts.remember(key(undefined));
    assert.equal(verdicts.isFresh(key("")), true, "anonymous is one credential, with or without an empty header");
    assert.equal(credentialHash(undefined), "");
    assert.equal(credentialHash(BASIC), createHash("sha256").update(BASIC).digest("hex"));
    assert.ok(!VerdictCache.key(key(BASIC)).includes(BASIC), "the credential itself is not kept");
  });

  it("is bounded: beyond maxEntries the least recently confirmed verdicts go first", () => {
    const verdicts = cache(3);
    const digests = ["1", "2", "3", "4"].map((d) => `sha256:${d.repeat(64)}`);
    for (const digest of digests.slice(0, 3)) verdicts.remember(key(BASIC, digest));
    verdicts.remember(key(BASIC, digests[0])); // confirmed again: now the youngest
    verdicts.remember(key(BASIC, digests[3]));
    assert.equal(verdicts.size, 3);
    assert.equal(verdicts.isFresh(key(BASIC, digests[1])), false, "the oldest was dropped");
    for (const digest of [digests[0], digests[2], digests[3]]) assert.equal(verdicts.isFresh(key(BASIC, digest)), true);
  });
});

describe("auth check against an origin", () => {
  let server: http.Server;
  let base: string;
  let status = 200;
  let heads: Array<{ method: string; authorization?: string; ifNoneMatch?: string }> = [];
  let origin: HttpOrigin;

  before(async () => {
    server = http.createServer((req, res) => {
      heads.push({
        method: req.method ?? "",
        authorization: req.headers.authorization,
        ifNoneMatch: req.headers["if-none-match"],
      });
      if (status === 401) res.writeHead(401, { "www-authenticate": 'Basic realm="test"' }).end();
      else if (status === 307 && req.url?.startsWith("/storage/")) res.writeHead(403, { "content-length": "0" }).end();
      else if (status === 307) res.writeHead(307, { location: "/storage/presigned-for-get-only" }).end();
      else res.writeHead(status, { "content-length": "0" }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    origin = new HttpOrigin({ connectTimeoutMs: 2000, bodyTimeoutMs: 2000 });
  });

  after(async () => {
    await origin.close();
    server.close();
  });

  beforeEach(() => {
    status = 200;
    heads = [];
  });

  const request = (authorization?: string) => ({
    upstream: base,
    repo: "team/app",
    digest: DIGEST,
    authorization,
    url: `${base}/v2/team/app/blobs/${DIGEST}`,
    headers: { ...(authorization ? { authorization } : {}), "if-none-match": '"x"' },
  });

  it("HEADs with the client's headers: 2xx allowed (then cached), 4xx denied with the origin's answer, never cached", async () => {
    const checker = new AuthChecker({
      origin,
      cache: new VerdictCache({ ttlMs: 60_000, staleIfErrorMs: 3_600_000 }),
      timeoutMs: 2000,
    });
    assert.deepEqual(await checker.check(request(BASIC)), { result: "allowed" });
    assert.deepEqual(heads, [{ method: "HEAD", authorization: BASIC, ifNoneMatch: undefined }]);
    assert.deepEqual(await checker.check(request(BASIC)), { result: "cached" });
    assert.equal(heads.length, 1);
    status = 401;
    const denied = await checker.check(request());
    assert.equal(denied.result, "denied");
    const error = (denied as { error: UpstreamResponseError }).error;
    assert.ok(error instanceof UpstreamResponseError);
    assert.equal(error.status, 401);
    assert.equal(error.headers["www-authenticate"], 'Basic realm="test"');
    assert.equal((await checker.check(request())).result, "denied", "a denial is not cached");
    assert.equal(heads.length, 3);
  });

  it("a redirect to the registry's storage means allowed, and is not followed (pre-signed GET-only URLs)", async () => {
    const checker = new AuthChecker({
      origin,
      cache: new VerdictCache({ ttlMs: 60_000, staleIfErrorMs: 3_600_000 }),
      timeoutMs: 2000,
    });
    status = 307;
    assert.deepEqual(await checker.check(request(BASIC)), { result: "allowed" });
    assert.equal(heads.length, 1, "the storage URL was not asked");
  });

  it("concurrent checks of one credential share one HEAD", async () => {
    const checker = new AuthChecker({
      origin,
      cache: new VerdictCache({ ttlMs: 60_000, staleIfErrorMs: 3_600_000 }),
      timeoutMs: 2000,
    });
    const results = await Promise.all(Array.from({ length: 5 }, () => checker.check(request(BASIC))));
    assert.deepEqual(
      results.map((r) => r.result),
      Array(5).fill("allowed"),
    );
    assert.equal(heads.length, 1);
  });

  it("origin 5xx or unreachable: stale within the window for a verified credential, unavailable otherwise", async () => {
    let clock = 0;
    const cache = new VerdictCache({ ttlMs: 1000, staleIfErrorMs: 10_000, now: () => clock });
    const checker = new AuthChecker({ origin, cache, timeoutMs: 2000 });
    assert.equal((await checker.check(request(BASIC))).result, "allowed");
    clock = 5000;
    status = 503;
    assert.equal((await checker.check(request(BASIC))).result, "stale");
    // A throttling or timing-out registry says nothing about access: the same as a 5xx.
    for (const throttled of [429, 408]) {
      status = throttled;
      assert.equal((await checker.check(request(BASIC))).result, "stale", `${throttled}`);
      assert.equal((await checker.check(request())).result, "unavailable", `${throttled} without a verdict`);
    }
    status = 503;
    const anonymous = await checker.check(request());
    assert.equal(anonymous.result, "unavailable");
    assert.ok((anonymous as { error: DaemonError }).error instanceof DaemonError);
    assert.match((anonymous as { error: DaemonError }).error.message, /could not confirm access/);
    clock = 20_000;
    assert.equal((await checker.check(request(BASIC))).result, "unavailable", "past the stale window");

    clock = 0;
    status = 200;
    const fresh = new AuthChecker({
      origin,
      cache: new VerdictCache({ ttlMs: 1000, staleIfErrorMs: 10_000, now: () => clock }),
      timeoutMs: 2000,
    });
    assert.equal((await fresh.check(request(BASIC))).result, "allowed");
    clock = 2000;
    const dead = { ...request(BASIC), url: "http://127.0.0.1:1/v2/team/app/blobs/x" };
    assert.equal((await fresh.check(dead)).result, "stale", "connection refused counts as unreachable");
  });
});

describe("auth check config", () => {
  it("is on by default with a 5m TTL and a 24h stale window; unknown keys are refused", () => {
    const config = validateConfig(daemonConfigSchema, {});
    assert.deepEqual(config.proxy.authCheck, { enable: true, ttl: 300_000, staleIfError: 86_400_000 });
    const off = validateConfig(daemonConfigSchema, { proxy: { authCheck: { enable: false, ttl: "30s" } } });
    assert.deepEqual(off.proxy.authCheck, { enable: false, ttl: 30_000, staleIfError: 86_400_000 });
    assert.throws(() => validateConfig(daemonConfigSchema, { proxy: { authCheck: { tll: "5m" } } }), /authCheck.*tll/);
  });
});
