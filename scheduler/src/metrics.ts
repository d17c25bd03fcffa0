import { Counter, createMetricsRegistry, Gauge, Histogram, MetricsEndpoint, type Registry } from "@d7y/observability";
import type { SchedulerConfig } from "./config.js";
import type { HostType } from "./resource/host.js";
import type { PeerState } from "./resource/peer.js";
import type { SchedulerState } from "./resource/scheduler-state.js";
import type { TaskState } from "./resource/task.js";

/** What an answer to a peer said: here are parents, go to the origin, or nothing to download. */
export type DecisionLabel = "parents" | "back_to_source" | "empty";
export const DECISION_LABELS: readonly DecisionLabel[] = ["parents", "back_to_source", "empty"];

/** Where a reported piece came from. */
export type TrafficLabel = "back_to_source" | "remote_peer";
export const TRAFFIC_LABELS: readonly TrafficLabel[] = ["back_to_source", "remote_peer"];

const HOST_TYPES: readonly HostType[] = ["normal", "seed"];
/** Left peers are removed from the state at once, so they are never counted. */
const PEER_STATES: readonly PeerState[] = ["pending", "running", "back_to_source", "succeeded", "failed"];
const TASK_STATES: readonly TaskState[] = ["pending", "running", "succeeded", "failed"];

/** Seconds: an immediate answer takes microseconds, one that waits for a seed or retries up to seconds. */
const SCHEDULE_SECONDS_BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Counts the values of `items` by `key`, starting every known label at 0 so each series exists. */
function countBy<T, L extends string>(items: Iterable<T>, labels: readonly L[], key: (item: T) => L | undefined) {
  const counts = new Map<L, number>(labels.map((label) => [label, 0]));
  for (const item of items) {
    const label = key(item);
    if (label !== undefined && counts.has(label)) counts.set(label, counts.get(label)! + 1);
  }
  return counts;
}

/**
 * The scheduler's metrics (README "Metrics") in their own registry. The state and the scheduling rules
 * report events; the gauges read the state when scraped.
 */
export class SchedulerMetrics {
  private readonly decisions: Counter<"decision">;
  private readonly parentsOffered: Counter;
  private readonly badParents: Counter;
  private readonly pieceReports: Counter<"traffic">;
  private readonly trafficBytes: Counter<"traffic">;
  private readonly scheduleSeconds: Histogram;

  /** `state` is read lazily: the state is built with this object in its deps. */
  constructor(
    readonly registry: Registry,
    state: () => SchedulerState | undefined,
  ) {
    const registers = [registry];
    this.decisions = new Counter({
      name: "d7y_scheduler_schedule_decisions_total",
      help: "Answers to register_peer and reschedule_peer, by decision: parents, back_to_source, empty.",
      labelNames: ["decision"],
      registers,
    });
    for (const decision of DECISION_LABELS) this.decisions.inc({ decision }, 0);
    this.parentsOffered = new Counter({
      name: "d7y_scheduler_parents_offered_total",
      help: "Candidate parents offered in answers (one answer offers several).",
      registers,
    });
    this.badParents = new Counter({
      name: "d7y_scheduler_bad_parents_total",
      help: "Reports of a parent that served bytes failing verification (the host is then avoided).",
      registers,
    });
    this.pieceReports = new Counter({
      name: "d7y_scheduler_piece_reports_total",
      help: "Finished pieces peers reported, by traffic: back_to_source (origin) or remote_peer.",
      labelNames: ["traffic"],
      registers,
    });
    this.trafficBytes = new Counter({
      name: "d7y_scheduler_traffic_bytes_total",
      help: "Bytes of the finished pieces peers reported, by traffic: back_to_source (origin) or remote_peer.",
      labelNames: ["traffic"],
      registers,
    });
    for (const traffic of TRAFFIC_LABELS) {
      this.pieceReports.inc({ traffic }, 0);
      this.trafficBytes.inc({ traffic }, 0);
    }
    this.scheduleSeconds = new Histogram({
      name: "d7y_scheduler_schedule_duration_seconds",
      help: "Time to answer a register_peer or reschedule_peer (waits for a seed peer and retries included).",
      buckets: SCHEDULE_SECONDS_BUCKETS,
      registers,
    });
    new Gauge({
      name: "d7y_scheduler_hosts",
      help: "Live (not expired) hosts, by type: normal or seed.",
      labelNames: ["type"],
      registers,
      collect() {
        const current = state();
        const now = current?.now() ?? 0;
        const live = current ? [...current.hosts.values()].filter((host) => !host.isExpired(now)) : [];
        for (const [type, count] of countBy(live, HOST_TYPES, (host) => host.spec.type)) this.set({ type }, count);
      },
    });
    new Gauge({
      name: "d7y_scheduler_peers",
      help: "Peers the scheduler knows, by state.",
      labelNames: ["state"],
      registers,
      collect() {
        const peers = state()?.peers.values() ?? [];
        for (const [label, count] of countBy(peers, PEER_STATES, (peer) => peer.state))
          this.set({ state: label }, count);
      },
    });
    new Gauge({
      name: "d7y_scheduler_tasks",
      help: "Tasks the scheduler knows, by state.",
      labelNames: ["state"],
      registers,
      collect() {
        const tasks = state()?.tasks.values() ?? [];
        for (const [label, count] of countBy(tasks, TASK_STATES, (task) => task.state))
          this.set({ state: label }, count);
      },
    });
  }

  /** One answer to a peer and how long it took. */
  scheduled(decision: DecisionLabel, parents: number, seconds: number): void {
    this.decisions.inc({ decision });
    if (parents > 0) this.parentsOffered.inc(parents);
    this.scheduleSeconds.observe(seconds);
  }

  pieceReported(traffic: TrafficLabel, bytes: number): void {
    this.pieceReports.inc({ traffic });
    if (bytes > 0) this.trafficBytes.inc({ traffic }, bytes);
  }

  badParent(): void {
    this.badParents.inc();
  }
}

/** The scheduler's metrics and their /metrics endpoint, or neither when `metricsEnable` is false. */
export function createSchedulerMetrics(
  config: Pick<SchedulerConfig, "metricsEnable" | "metricsHost" | "metricsPort">,
  state: () => SchedulerState | undefined,
): { metrics: SchedulerMetrics; endpoint: MetricsEndpoint } | undefined {
  if (!config.metricsEnable) return undefined;
  const metrics = new SchedulerMetrics(createMetricsRegistry("scheduler"), state);
  return {
    metrics,
    endpoint: new MetricsEndpoint({ registry: metrics.registry, host: config.metricsHost, port: config.metricsPort }),
  };
}
