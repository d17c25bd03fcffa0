import assert from "node:assert/strict";
import { Counter, createMetricsRegistry, METRIC_PREFIX, MetricsEndpoint, startMetricsServer } from "@d7y/observability";
import { request } from "undici";
import { exposedNames, parseSamples, sampleSum } from "../../helpers/metrics-text.js";

describe("metrics registry and /metrics server", () => {
  it("gives each component its own registry, labelled {component}, with d7y_ process metrics", async () => {
    const daemon = createMetricsRegistry("daemon");
    const scheduler = createMetricsRegistry("scheduler");
    new Counter({ name: "d7y_test_things_total", help: "Things.", registers: [daemon] }).inc(3);
    const text = await daemon.metrics();
    assert.equal(sampleSum(text, "d7y_test_things_total", { component: "daemon" }), 3);
    assert.ok((sampleSum(text, "d7y_process_cpu_seconds_total", { component: "daemon" }) ?? -1) >= 0);
    assert.ok(exposedNames(text).has("d7y_nodejs_eventloop_lag_seconds"));
    for (const sample of parseSamples(text)) {
      assert.ok(sample.name.startsWith(METRIC_PREFIX), `${sample.name} has the d7y_ prefix`);
      assert.equal(sample.labels.component, "daemon");
    }
    const other = await scheduler.metrics();
    assert.equal(sampleSum(other, "d7y_test_things_total"), undefined, "registries are separate");
    assert.ok(parseSamples(other).every((sample) => sample.labels.component === "scheduler"));
    assert.equal(createMetricsRegistry("bare", { processMetrics: false }).getMetricsAsArray().length, 0);
  });

  it("serves GET /metrics in the Prometheus text format, 404 elsewhere, and closes", async () => {
    const registry = createMetricsRegistry("test", { processMetrics: false });
    new Counter({ name: "d7y_test_requests_total", help: "Requests.", registers: [registry] }).inc(2);
    const server = await startMetricsServer({ registry, host: "127.0.0.1", port: 0 });
    try {
      assert.equal(server.url, `http://127.0.0.1:${server.port}/metrics`);
      const ok = await request(server.url);
      assert.equal(ok.statusCode, 200);
      assert.match(String(ok.headers["content-type"]), /^text\/plain; version=0\.0\.4; charset=utf-8$/);
      const text = await ok.body.text();
      assert.match(text, /^# TYPE d7y_test_requests_total counter$/m);
      assert.equal(sampleSum(text, "d7y_test_requests_total", { component: "test" }), 2);
      const head = await request(server.url, { method: "HEAD" });
      assert.equal(head.statusCode, 200);
      await head.body.dump();
      for (const path of ["/", "/metric", "/metrics/x", "/healthy"]) {
        const missing = await request(`http://127.0.0.1:${server.port}${path}`);
        assert.equal(missing.statusCode, 404, path);
        await missing.body.dump();
      }
      const post = await request(server.url, { method: "POST", body: "x" });
      assert.equal(post.statusCode, 404);
      await post.body.dump();
    } finally {
      await server.close();
    }
    await assert.rejects(request(server.url), "the port is closed");
  });

  it("runs as a supervised component that knows its URL only while started", async () => {
    const endpoint = new MetricsEndpoint({
      registry: createMetricsRegistry("test", { processMetrics: false }),
      host: "127.0.0.1",
      port: 0,
    });
    assert.equal(endpoint.name, "metrics");
    assert.equal(endpoint.url, undefined);
    await endpoint.start();
    const url = endpoint.url!;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const response = await request(url);
    assert.equal(response.statusCode, 200);
    await response.body.dump();
    await endpoint.stop();
    await endpoint.stop();
    assert.equal(endpoint.url, undefined);
    await assert.rejects(request(url));
  });
});
