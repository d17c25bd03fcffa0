import assert from "node:assert/strict";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { validateConfig } from "@d7y/config";
import { createMetricsRegistry, createSilentLogger } from "@d7y/observability";
import { SchedulerService } from "@d7y/proto/scheduler/v1";
import {
  SchedulerMetrics,
  SchedulerState,
  type SeedTrigger,
  schedulerConfigSchema,
  schedulerOptions,
  schedulerRoutes,
} from "@d7y/scheduler";
import { sampleSum } from "../../helpers/metrics-text.js";
import { announceHost, MiB, PeerStream, parentIds, type SchedulerClient, TEST_OPTIONS, until } from "./fixture.js";

describe("scheduler metrics", () => {
  let state: SchedulerState;
  let metrics: SchedulerMetrics;
  let client: SchedulerClient;

  beforeEach(() => {
    const logger = createSilentLogger();
    const noSeeds: SeedTrigger = async () => {
      throw new Error("no seed trigger in this test");
    };
    metrics = new SchedulerMetrics(createMetricsRegistry("scheduler", { processMetrics: false }), () => state);
    state = new SchedulerState(schedulerOptions(validateConfig(schedulerConfigSchema, TEST_OPTIONS)), {
      logger,
      seedTrigger: noSeeds,
      metrics,
    });
    client = createClient(SchedulerService, createRouterTransport(schedulerRoutes({ state, logger })));
  });

  afterEach(() => state.stop());

  const scrape = () => metrics.registry.metrics();

  it("counts decisions, offered parents, piece reports, traffic and bad parents; gauges read the state", async () => {
    let text = await scrape();
    for (const decision of ["parents", "back_to_source", "empty"])
      assert.equal(sampleSum(text, "d7y_scheduler_schedule_decisions_total", { decision }), 0);
    assert.equal(sampleSum(text, "d7y_scheduler_hosts"), 0);
    assert.equal(sampleSum(text, "d7y_scheduler_peers"), 0);

    for (const id of ["host-a", "host-b", "host-c"]) await announceHost(client, id);
    const source = new PeerStream(client, "host-a", "peer-a");
    assert.equal((await source.register()).response.case, "needBackToSource");
    source.send({ case: "downloadPeerBackToSourceStarted", value: {} });
    source.piece(0);
    source.piece(1);
    source.send({ case: "downloadPeerBackToSourceFinished", value: { contentLength: BigInt(8 * MiB), pieceCount: 2 } });
    await until(() => state.peers.get("peer-a")?.state === "succeeded");

    const child = new PeerStream(client, "host-b", "peer-b");
    assert.deepEqual(parentIds(await child.register()), ["peer-a"]);
    child.send({ case: "downloadPeerStarted", value: {} });
    child.piece(0, "host-a");
    child.send({ case: "downloadPieceFailed", value: { pieceNumber: 1, parentId: "host-a", temporary: false } });
    await until(() => state.isSuspect("host-a"));

    const holder = new PeerStream(client, "host-c", "peer-c");
    assert.equal((await holder.register({}, [0, 1])).response.case, "emptyTask");

    text = await scrape();
    assert.equal(sampleSum(text, "d7y_scheduler_schedule_decisions_total", { decision: "back_to_source" }), 1);
    assert.equal(sampleSum(text, "d7y_scheduler_schedule_decisions_total", { decision: "parents" }), 1);
    assert.equal(sampleSum(text, "d7y_scheduler_schedule_decisions_total", { decision: "empty" }), 1);
    assert.equal(sampleSum(text, "d7y_scheduler_schedule_duration_seconds_count"), 3);
    assert.equal(sampleSum(text, "d7y_scheduler_parents_offered_total"), 1);
    assert.equal(sampleSum(text, "d7y_scheduler_piece_reports_total", { traffic: "back_to_source" }), 2);
    assert.equal(sampleSum(text, "d7y_scheduler_piece_reports_total", { traffic: "remote_peer" }), 1);
    assert.equal(sampleSum(text, "d7y_scheduler_traffic_bytes_total", { traffic: "back_to_source" }), 8 * MiB);
    assert.equal(sampleSum(text, "d7y_scheduler_traffic_bytes_total", { traffic: "remote_peer" }), 4 * MiB);
    assert.equal(sampleSum(text, "d7y_scheduler_bad_parents_total"), 1);
    assert.equal(sampleSum(text, "d7y_scheduler_hosts", { type: "normal" }), 3);
    assert.equal(sampleSum(text, "d7y_scheduler_hosts", { type: "seed" }), 0);
    assert.equal(sampleSum(text, "d7y_scheduler_peers", { state: "succeeded" }), 2);
    assert.equal(sampleSum(text, "d7y_scheduler_peers", { state: "running" }), 1);
    assert.equal(sampleSum(text, "d7y_scheduler_peers", { state: "pending" }), 0);
    assert.equal(sampleSum(text, "d7y_scheduler_tasks", { state: "succeeded" }), 1);
    assert.equal(sampleSum(text, "d7y_scheduler_tasks"), 1);

    // A "more parents" refresh of a running download is not a scheduling decision.
    child.send({ case: "reschedulePeer", value: { moreParents: true } });
    await child.next();
    assert.equal(sampleSum(await scrape(), "d7y_scheduler_schedule_duration_seconds_count"), 3);
    for (const stream of [source, child, holder]) await stream.end();
  });
});
