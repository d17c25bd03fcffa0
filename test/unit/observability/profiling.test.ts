import assert from "node:assert/strict";
import { setTimeout as sleep, setImmediate as yieldToLoop } from "node:timers/promises";
import { ProfilingEndpoint, type ProfilingServer, startProfilingServer } from "@d7y/observability";
import { request } from "undici";

/** Burns CPU for `ms` in short slices, so that the profiling server keeps answering meanwhile. */
async function burnCpu(ms: number): Promise<number> {
  let sum = 0;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const slice = Date.now() + 10;
    while (Date.now() < slice) sum += Math.sqrt(sum + Math.random());
    await yieldToLoop();
  }
  return sum;
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string } }>;
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

describe("profiling endpoint (/debug/pprof/)", function () {
  this.timeout(20_000);
  let server: ProfilingServer;
  let base: string;

  before(async () => {
    server = await startProfilingServer({ host: "127.0.0.1", port: 0, name: "unit" });
    base = `http://127.0.0.1:${server.port}/debug/pprof`;
  });
  after(() => server.close());

  it("serves a V8 CPU profile of the process over ?seconds=1", async () => {
    const began = Date.now();
    const [response] = await Promise.all([request(`${base}/profile?seconds=1`), burnCpu(1200)]);
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers["content-type"], "application/json");
    assert.match(
      String(response.headers["content-disposition"]),
      /^attachment; filename="unit-\d{8}T\d{6}Z\.cpuprofile"$/,
    );
    const profile = (await response.body.json()) as CpuProfile;
    assert.ok(Date.now() - began >= 900, "it profiled for about a second");
    assert.ok(Array.isArray(profile.nodes) && profile.nodes.length > 0, "nodes");
    assert.equal(typeof profile.startTime, "number");
    assert.equal(typeof profile.endTime, "number");
    assert.ok(profile.endTime - profile.startTime >= 900_000, "startTime/endTime are microseconds a second apart");
    assert.ok(Array.isArray(profile.samples) && profile.samples.length > 0, "samples");
    assert.equal(profile.timeDeltas.length, profile.samples.length);
    assert.ok(
      profile.nodes.some((node) => node.callFrame.functionName === "burnCpu"),
      "the busy function shows up in the profile",
    );
  });

  it("serves a sampling heap profile over ?seconds=1", async () => {
    const keep: unknown[] = [];
    const [response] = await Promise.all([
      request(`${base}/heap?seconds=1`),
      (async () => {
        for (let i = 0; i < 50; i++) {
          keep.push(new Array(10_000).fill(i));
          await sleep(10);
        }
      })(),
    ]);
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers["content-disposition"]), /filename="unit-\d{8}T\d{6}Z\.heapprofile"$/);
    const profile = (await response.body.json()) as { head: { callFrame: unknown; children: unknown[] } };
    assert.ok(profile.head, "head");
    assert.ok(Array.isArray(profile.head.children));
    assert.ok(keep.length > 0);
  });

  it("takes one profile at a time: a concurrent request gets 409", async () => {
    const first = request(`${base}/heap?seconds=1`);
    await sleep(200);
    for (const path of ["/profile?seconds=1", "/heap", "/heapsnapshot"]) {
      const second = await request(`${base}${path}`);
      assert.equal(second.statusCode, 409, path);
      assert.match(await second.body.text(), /^a heap profile is already being taken; try again when it is done\n$/);
    }
    const done = await first;
    assert.equal(done.statusCode, 200);
    await done.body.dump();
  });

  it("answers 400 to bad seconds, 404 to unknown paths, 405 to other methods, and lists itself", async () => {
    for (const query of ["seconds=0", "seconds=abc", "seconds=301", "seconds=", "seconds=1.5", "seconds=-1"]) {
      for (const kind of ["profile", "heap"]) {
        const response = await request(`${base}/${kind}?${query}`);
        assert.equal(response.statusCode, 400, `${kind}?${query}`);
        assert.match(await response.body.text(), /^seconds must be /);
      }
    }
    for (const path of ["/", "/debug/pprof/nope", "/debug/pprof/profile/x", "/debug/pprofile", "/metrics"]) {
      const response = await request(`http://127.0.0.1:${server.port}${path}`);
      assert.equal(response.statusCode, 404, path);
      await response.body.dump();
    }
    for (const method of ["POST", "PUT", "DELETE", "HEAD"] as const) {
      const response = await request(`${base}/profile?seconds=1`, { method });
      assert.equal(response.statusCode, 405, method);
      assert.equal(response.headers.allow, "GET");
      await response.body.dump();
    }
    for (const path of ["/", ""]) {
      const index = await request(`${base}${path}`);
      assert.equal(index.statusCode, 200);
      const text = await index.body.text();
      for (const endpoint of ["profile?seconds=N", "heap?seconds=N", "heapsnapshot"]) {
        assert.ok(text.includes(`GET /debug/pprof/${endpoint}`), endpoint);
      }
    }
  });

  it("stops the profiler cleanly when the client goes away, and profiles again afterwards", async () => {
    for (const kind of ["profile", "heap"]) {
      const controller = new AbortController();
      const pending = request(`${base}/${kind}?seconds=30`, { signal: controller.signal });
      await sleep(200);
      controller.abort();
      await assert.rejects(pending);
      // The lock is released once the server has seen the connection close.
      let status = 409;
      for (let i = 0; i < 50 && status === 409; i++) {
        const again = await request(`${base}/${kind}?seconds=1`);
        status = again.statusCode;
        await again.body.dump();
        if (status === 409) await sleep(50);
      }
      assert.equal(status, 200, `${kind} works again after an abandoned one`);
    }
  });

  it("streams a full heap snapshot", async () => {
    const response = await request(`${base}/heapsnapshot`);
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers["content-disposition"]), /filename="unit-\d{8}T\d{6}Z\.heapsnapshot"$/);
    let head = "";
    for await (const chunk of response.body) {
      head += String(chunk);
      if (head.length > 64) break;
    }
    assert.match(head, /^\{"snapshot":\{"meta":/);
    // Breaking out abandons the rest of the stream: the server must cope and serve the next one.
    let status = 409;
    for (let i = 0; i < 100 && status === 409; i++) {
      const again = await request(`${base}/profile?seconds=1`);
      status = again.statusCode;
      await again.body.dump();
      if (status === 409) await sleep(50);
    }
    assert.equal(status, 200);
  });

  it("runs as a supervised component that knows its URL only while started", async () => {
    const endpoint = new ProfilingEndpoint({ host: "0.0.0.0", port: 0 });
    assert.equal(endpoint.name, "pprof");
    assert.equal(endpoint.url, undefined);
    await endpoint.start();
    try {
      assert.equal(endpoint.url, `http://127.0.0.1:${endpoint.port}/debug/pprof/`);
      const index = await request(endpoint.url!);
      assert.equal(index.statusCode, 200);
      await index.body.dump();
    } finally {
      await endpoint.stop();
    }
    assert.equal(endpoint.url, undefined);
  });
});
