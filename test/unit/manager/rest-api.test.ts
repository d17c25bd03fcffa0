import assert from "node:assert/strict";
import { request } from "node:http";
import { createTokenInDataDir } from "@d7y/manager";
import { type FakeDaemon, startFakeDaemon } from "./fake-daemons.js";
import { type FakeRegistry, startFakeRegistry } from "./fake-registry.js";
import { type KeepAliveStream, registerSeed, removeDir, startTestManager, type TestManager } from "./fixture.js";

const MANIFEST = "https://registry.example/v2/library/app/manifests/1.0";

describe("manager REST API", () => {
  let test: TestManager;
  const clock = { offsetMs: 0 };

  beforeEach(async () => {
    clock.offsetMs = 0;
    test = await startTestManager({ deps: { now: () => Date.now() + clock.offsetMs } });
  });

  afterEach(async () => {
    await test.stop();
    await removeDir(test.dataDir);
  });

  it("serves /healthy", async () => {
    for (const path of ["/healthy", "/oapi/v1/healthy"]) {
      const response = await test.api("GET", path);
      assert.equal(response.status, 200);
      assert.equal(response.text, "OK");
    }
  });

  it("refuses malformed jobs with 400 and a message naming the field", async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ args: { type: "image", url: MANIFEST } }, /^type: required/],
      [{ type: "sync_peers", args: {} }, /^type: unsupported job type "sync_peers"/],
      [{ type: "preheat" }, /^args: required/],
      [{ type: "preheat", args: "x" }, /^args: must be an object/],
      [{ type: "preheat", args: { type: "blob", url: MANIFEST } }, /^args\.type: must be "image" or "file"/],
      [{ type: "preheat", args: { type: "image" } }, /^args\.url: required for image preheat/],
      [
        { type: "preheat", args: { type: "image", url: "https://r.example/not/a/manifest" } },
        /^args\.url: .*not a manifest URL/,
      ],
      [{ type: "preheat", args: { type: "image", url: "Bad Name!" } }, /^args\.url: /],
      [{ type: "preheat", args: { type: "image", url: MANIFEST, scope: "everyone" } }, /^args\.scope: must be one of/],
      [
        { type: "preheat", args: { type: "image", url: MANIFEST, platform: "amd64" } },
        /^args\.platform: must be os\/arch/,
      ],
      [{ type: "preheat", args: { type: "image", url: MANIFEST, timeout: "soon" } }, /^args\.timeout: invalid timeout/],
      [
        { type: "preheat", args: { type: "image", url: MANIFEST, timeout: 86400 * 30 } },
        /^args\.timeout: timeout must be/,
      ],
      [
        { type: "preheat", args: { type: "image", url: MANIFEST, concurrent_task_count: 101 } },
        /^args\.concurrent_task_count: /,
      ],
      [{ type: "preheat", args: { type: "image", url: MANIFEST, headers: { a: 1 } } }, /^args\.headers\.a: /],
      [{ type: "preheat", args: { type: "image", url: MANIFEST, piece_length: 1024 } }, /^args\.piece_length: /],
      [{ type: "preheat", args: { type: "file" } }, /^args\.urls: required for file preheat/],
      [
        { type: "preheat", args: { type: "file", urls: ["ftp://x/y"] } },
        /^args\.urls\.0: "ftp:\/\/x\/y" must be http or https/,
      ],
      [
        { type: "preheat", args: { type: "image", url: MANIFEST }, scheduler_cluster_ids: [42] },
        /^scheduler_cluster_ids: cluster 42 not found/,
      ],
      [
        { type: "preheat", args: { type: "image", url: MANIFEST }, scheduler_cluster_ids: "1" },
        /^scheduler_cluster_ids: /,
      ],
      [[1, 2], /^the body must be a JSON object/],
      ["{bad json", /^the request body is not valid JSON/],
      ["", /^the request body is empty/],
    ];
    for (const [body, message] of cases) {
      const response = await test.api("POST", "/api/v1/jobs", {
        body,
        headers: { "content-type": "application/json" },
      });
      assert.equal(response.status, 400, `${JSON.stringify(body)} -> ${response.text}`);
      assert.deepEqual(Object.keys(response.json), ["message"]);
      assert.match(response.json.message, message, JSON.stringify(body));
    }
    assert.equal((await test.api("GET", "/api/v1/jobs")).json.length, 0, "nothing was created");
  });

  it("normalizes accepted args: image references, Harbor's zero values, Go durations", async () => {
    const reference = await test.api("POST", "/api/v1/jobs", {
      body: {
        type: "preheat",
        args: { type: "image", url: "registry.example:5000/team/app@sha256:" + "a".repeat(64) },
      },
    });
    assert.equal(reference.status, 200, reference.text);
    assert.equal(
      reference.json.args.url,
      `https://registry.example:5000/v2/team/app/manifests/sha256:${"a".repeat(64)}`,
    );

    // What Harbor's Dragonfly provider sends: Go zero values for the fields it does not set.
    const harbor = await test.api("POST", "/api/v1/jobs", {
      body: {
        type: "preheat",
        args: {
          type: "image",
          url: MANIFEST,
          tag: "",
          filtered_query_params: "",
          headers: { Authorization: "Basic eA==" },
          scope: "single_peer",
          concurrent_count: 0,
          timeout: 0,
        },
        scheduler_cluster_ids: null,
      },
    });
    assert.equal(harbor.status, 200, harbor.text);
    assert.deepEqual(harbor.json.args, {
      type: "image",
      url: MANIFEST,
      platform: "linux/amd64",
      scope: "single_seed_peer",
      timeout: 3600,
      concurrent_task_count: 8,
      concurrent_peer_count: 500,
      headers: { Authorization: "******" },
    });

    const durations: Array<[unknown, number]> = [
      ["30m", 1800],
      ["90", 90],
      [120, 120],
      [300_000_000_000, 300],
    ];
    for (const [timeout, seconds] of durations) {
      const response = await test.api("POST", "/api/v1/jobs", {
        body: { type: "preheat", args: { type: "image", url: "alpine", timeout } },
      });
      assert.equal(response.status, 200, response.text);
      assert.equal(response.json.args.timeout, seconds, String(timeout));
      assert.equal(response.json.args.url, "https://registry-1.docker.io/v2/library/alpine/manifests/latest");
    }
  });

  it("answers unknown routes 404, wrong methods 405, missing jobs 404, bad ids 400, big bodies 413", async () => {
    const unknown = await test.api("GET", "/api/v1/nope");
    assert.equal(unknown.status, 404);
    assert.match(unknown.json.message, /no route for GET \/api\/v1\/nope/);

    const wrong = await test.api("PUT", "/api/v1/jobs");
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("allow"), "GET, HEAD, POST");
    assert.match(wrong.json.message, /PUT is not allowed/);

    const missing = await test.api("GET", "/api/v1/jobs/999");
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json, { message: "job 999 not found" });
    assert.equal((await test.api("DELETE", "/api/v1/jobs/999")).status, 404);

    const badId = await test.api("GET", "/api/v1/jobs/abc");
    assert.equal(badId.status, 400);
    assert.match(badId.json.message, /^id: must be a positive integer/);
    assert.equal((await test.api("GET", "/api/v1/jobs/%E0%A4%A")).status, 400);

    const big = JSON.stringify({
      type: "preheat",
      args: { type: "file", urls: ["http://x/" + "a".repeat(1024 * 1024)] },
    });
    const tooLarge = await test.api("POST", "/api/v1/jobs", { body: big });
    assert.equal(tooLarge.status, 413);
    assert.match(tooLarge.json.message, /larger than 1048576 bytes/);

    // Chunked (no Content-Length): cut off while reading.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL("/api/v1/jobs", test.url);
      const req = request(url, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
        let body = "";
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      for (let i = 0; i < 17; i++) req.write("x".repeat(64 * 1024));
      req.end();
    });
    assert.equal(chunked.status, 413);
    assert.match(JSON.parse(chunked.body).message, /larger than/);

    // The manager is still fine.
    assert.equal((await test.api("GET", "/healthy")).status, 200);
  });

  it("guards /oapi/v1 with personal access tokens", async () => {
    const anonymous = await test.api("GET", "/oapi/v1/jobs");
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.json.message, /personal access token is required/);

    const created = await test.api("POST", "/api/v1/personal-access-tokens", {
      body: { name: "harbor", bio: "for harbor" },
    });
    assert.equal(created.status, 200, created.text);
    const token: string = created.json.token;
    assert.match(token, /^d7y_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(created.json.scopes, ["job", "cluster"]);
    assert.equal(created.json.state, "active");

    const bearer = { authorization: `Bearer ${token}` };
    assert.equal((await test.api("GET", "/oapi/v1/jobs", { headers: bearer })).status, 200);
    assert.equal((await test.api("GET", `/oapi/v1/jobs?access_token=${token}`)).status, 200);
    assert.equal((await test.api("GET", "/oapi/v1/clusters", { headers: bearer })).status, 200);
    const job = await test.api("POST", "/oapi/v1/jobs", {
      headers: bearer,
      body: { type: "preheat", args: { type: "image", url: MANIFEST } },
    });
    assert.equal(job.status, 200, job.text);
    assert.equal((await test.api("GET", `/oapi/v1/jobs/${job.json.id}`, { headers: bearer })).status, 200);

    const wrong = await test.api("GET", "/oapi/v1/jobs", { headers: { authorization: "Bearer d7y_wrong" } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.message, "invalid personal access token");
    assert.equal(
      (await test.api("GET", "/oapi/v1/jobs", { headers: { authorization: `Basic ${token}` } })).status,
      401,
    );

    // The token value is shown once: never listed, never stored.
    const listed = await test.api("GET", "/api/v1/personal-access-tokens");
    assert.equal(listed.json.length, 1);
    assert.equal(listed.json[0].token, undefined);
    assert.ok(!JSON.stringify(listed.json).includes(token));

    // Deactivated, then revoked.
    const id = created.json.id;
    assert.equal(
      (await test.api("PATCH", `/api/v1/personal-access-tokens/${id}`, { body: { state: "inactive" } })).status,
      200,
    );
    assert.equal((await test.api("GET", "/oapi/v1/jobs", { headers: bearer })).status, 401);
    await test.api("PATCH", `/api/v1/personal-access-tokens/${id}`, { body: { state: "active" } });
    assert.equal((await test.api("GET", "/oapi/v1/jobs", { headers: bearer })).status, 200);
    assert.equal((await test.api("DELETE", `/api/v1/personal-access-tokens/${id}`)).status, 204);
    const revoked = await test.api("GET", "/oapi/v1/jobs", { headers: bearer });
    assert.equal(revoked.status, 401);
    assert.deepEqual(Object.keys(revoked.json), ["message"]);
  });

  it("refuses expired tokens and tokens without the scope", async () => {
    const expiring = await test.api("POST", "/api/v1/personal-access-tokens", {
      body: { name: "short", expired_at: new Date(Date.now() + 60_000).toISOString() },
    });
    const headers = { authorization: `Bearer ${expiring.json.token}` };
    assert.equal((await test.api("GET", "/oapi/v1/jobs", { headers })).status, 200);
    clock.offsetMs = 120_000;
    const expired = await test.api("GET", "/oapi/v1/jobs", { headers });
    assert.equal(expired.status, 401);
    assert.equal(expired.json.message, "personal access token has expired");

    const clusterOnly = await test.api("POST", "/api/v1/personal-access-tokens", {
      body: { name: "c", scopes: ["cluster"] },
    });
    const scoped = { authorization: `Bearer ${clusterOnly.json.token}` };
    assert.equal((await test.api("GET", "/oapi/v1/clusters", { headers: scoped })).status, 200);
    const forbidden = await test.api("GET", "/oapi/v1/jobs", { headers: scoped });
    assert.equal(forbidden.status, 403);
    assert.match(forbidden.json.message, /lacks the "job" scope/);

    for (const body of [
      {},
      { name: "x", scopes: ["admin"] },
      { name: "x", expired_at: "2001-01-01T00:00:00Z" },
      { name: "x", expired_at: "soon" },
    ]) {
      const response = await test.api("POST", "/api/v1/personal-access-tokens", { body });
      assert.equal(response.status, 400, JSON.stringify(body));
    }
  });

  it("creates tokens in the data dir only while the manager is stopped", async () => {
    await assert.rejects(createTokenInDataDir(test.dataDir, { name: "cli" }), /is in use by another process/);
    await test.stop();
    const token = await createTokenInDataDir(test.dataDir, { name: "cli" });
    test = await startTestManager({ dataDir: test.dataDir });
    assert.equal(
      (await test.api("GET", "/oapi/v1/jobs", { headers: { authorization: `Bearer ${token}` } })).status,
      200,
    );
  });

  describe("with a seed peer", () => {
    let registry: FakeRegistry;
    let daemon: FakeDaemon;
    let stream: KeepAliveStream | undefined;

    beforeEach(async () => {
      registry = await startFakeRegistry();
      registry.pushImage("library/app", "1", 1);
      daemon = await startFakeDaemon({ hostname: "seed-1" });
    });

    afterEach(async () => {
      await stream?.close();
      await daemon.close();
      await registry.close();
    });

    it("pages and filters job lists the Dragonfly way", async () => {
      stream = await registerSeed(test, daemon);
      const url = registry.manifestUrl("library/app", "1");
      const create = async () => {
        const response = await test.api("POST", "/api/v1/jobs", {
          body: { type: "preheat", args: { type: "image", url } },
        });
        return (await test.waitForJob(response.json.id)).state as string;
      };
      for (let i = 0; i < 3; i++) assert.equal(await create(), "SUCCESS");
      await stream.close();
      stream = undefined;
      for (let i = 0; i < 2; i++) assert.equal(await create(), "FAILURE");

      const first = await test.api("GET", "/api/v1/jobs?page=1&per_page=2");
      assert.deepEqual(
        first.json.map((job: { id: number }) => job.id),
        [5, 4],
      );
      assert.equal(first.headers.get("x-total-count"), "5");
      const link = first.headers.get("link") ?? "";
      assert.match(link, /<\/api\/v1\/jobs\?page=2&per_page=2>; rel="next"/);
      assert.match(link, /<\/api\/v1\/jobs\?page=3&per_page=2>; rel="last"/);
      assert.doesNotMatch(link, /rel="prev"/);
      const last = await test.api("GET", "/api/v1/jobs?page=3&per_page=2");
      assert.deepEqual(
        last.json.map((job: { id: number }) => job.id),
        [1],
      );
      assert.match(last.headers.get("link") ?? "", /page=2&per_page=2>; rel="prev"/);
      assert.deepEqual((await test.api("GET", "/api/v1/jobs?page=4&per_page=2")).json, []);
      assert.equal((await test.api("GET", "/api/v1/jobs")).json.length, 5);

      const success = await test.api("GET", "/api/v1/jobs?type=preheat&state=SUCCESS");
      assert.deepEqual(
        success.json.map((job: { id: number }) => job.id),
        [3, 2, 1],
      );
      assert.equal(success.headers.get("x-total-count"), "3");
      assert.equal((await test.api("GET", "/api/v1/jobs?state=FAILURE")).json.length, 2);
      assert.equal((await test.api("GET", "/api/v1/jobs?user_id=7")).json.length, 0);

      for (const query of [
        "state=DONE",
        "type=gc",
        "page=0",
        "page=abc",
        "per_page=0",
        "per_page=5000",
        "user_id=-1",
      ]) {
        const response = await test.api("GET", `/api/v1/jobs?${query}`);
        assert.equal(response.status, 400, query);
        assert.ok(response.json.message, query);
      }
    });

    it("shows running jobs as STARTED on /api/v1 and PENDING on /oapi/v1 (Harbor)", async () => {
      const held = await startFakeDaemon({ hostname: "seed-held", hold: true });
      try {
        stream = await registerSeed(test, held);
        const created = await test.api("POST", "/api/v1/jobs", {
          body: { type: "preheat", args: { type: "image", url: registry.manifestUrl("library/app", "1") } },
        });
        await test.waitForJob(created.json.id, ["STARTED"]);
        const { token } = (await test.api("POST", "/api/v1/personal-access-tokens", { body: { name: "h" } })).json;
        const headers = { authorization: `Bearer ${token}` };
        const open = await test.api("GET", `/oapi/v1/jobs/${created.json.id}`, { headers });
        assert.equal(open.json.state, "PENDING");
        assert.equal((await test.api("GET", "/oapi/v1/jobs?state=PENDING", { headers })).json.length, 1);
        assert.equal((await test.api("GET", "/api/v1/jobs?state=PENDING")).json.length, 0);
        held.open();
        assert.equal((await test.waitForJob(created.json.id)).state, "SUCCESS");
        const done = await test.api("GET", `/oapi/v1/jobs/${created.json.id}`, { headers });
        assert.equal(done.json.state, "SUCCESS");
        assert.equal(done.json.result.job_states[0].results[0].success_tasks.length, 2);
      } finally {
        await stream?.close();
        stream = undefined;
        await held.close();
      }
    });
  });

  it("lists, creates and patches clusters with validated config", async () => {
    const clusters = await test.api("GET", "/api/v1/clusters");
    assert.equal(clusters.status, 200);
    assert.deepEqual(clusters.json[0].config, {
      candidate_parent_limit: 4,
      back_to_source_limit: 1,
      peer_upload_limit: 0,
    });
    assert.equal(clusters.json[0].id, 1);
    assert.equal(clusters.json[0].is_default, true);

    const patched = await test.api("PATCH", "/api/v1/clusters/1", { body: { config: { candidate_parent_limit: 8 } } });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.json.config, { candidate_parent_limit: 8, back_to_source_limit: 1, peer_upload_limit: 0 });
    assert.equal((await test.rpc.getClusterConfig({ clusterId: 0n })).candidateParentLimit, 8);

    const bad: Array<[unknown, RegExp]> = [
      [{ config: { candidate_parent_limit: 0 } }, /^config\.candidate_parent_limit: /],
      [{ config: { candidate_parent_limit: 21 } }, /^config\.candidate_parent_limit: /],
      [{ config: { back_to_source_limit: -1 } }, /^config\.back_to_source_limit: /],
      [{ config: { parent_limit: 2 } }, /^config: .*parent_limit/],
      [{}, /nothing to change/],
    ];
    for (const [body, message] of bad) {
      const response = await test.api("PATCH", "/api/v1/clusters/1", { body });
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.match(response.json.message, message);
    }
    assert.equal((await test.api("PATCH", "/api/v1/clusters/9", { body: { bio: "x" } })).status, 404);
    assert.equal((await test.api("GET", "/api/v1/clusters/9")).status, 404);

    const created = await test.api("POST", "/api/v1/clusters", {
      body: { name: "edge", config: { back_to_source_limit: 3 } },
    });
    assert.equal(created.status, 200, created.text);
    assert.equal(created.json.id, 2);
    assert.equal(created.json.config.back_to_source_limit, 3);
    assert.equal((await test.api("POST", "/api/v1/clusters", { body: { name: "edge" } })).status, 409);
    assert.equal((await test.rpc.getClusterConfig({ clusterId: 2n })).backToSourceLimit, 3);
  });
});
