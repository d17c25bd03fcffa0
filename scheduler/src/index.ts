export {
  DEFAULTS,
  type SchedulerConfig,
  type SchedulerConfigInput,
  type SchedulerOptions,
  schedulerConfigSchema,
} from "./config.js";
export { SchedulerError, type SchedulerErrorKind, toSchedulerConnectError } from "./errors.js";
export { advertisedIp, ManagerAnnouncer, type ManagerAnnouncerOptions } from "./manager/manager-announcer.js";
export {
  createSchedulerMetrics,
  DECISION_LABELS,
  type DecisionLabel,
  SchedulerMetrics,
  TRAFFIC_LABELS,
  type TrafficLabel,
} from "./metrics.js";
export { ChangeSignal } from "./resource/change-signal.js";
export { Host, type HostSpec, type HostType } from "./resource/host.js";
export { type DownloadSpec, Peer, type PeerState } from "./resource/peer.js";
export { PeerProgress, type PieceFailure, type PieceReport } from "./resource/peer-progress.js";
export {
  type HostTaskSpec,
  type RegisterPeerInput,
  SchedulerState,
  type SchedulerStateDeps,
} from "./resource/scheduler-state.js";
export { MAX_PIECE_COUNT, type SeedAttempt, Task, type TaskSize, type TaskState } from "./resource/task.js";
export { REQUEST_LIMITS } from "./rpc/parse-requests.js";
export { type SchedulerServiceDeps, schedulerRoutes } from "./rpc/scheduler-service.js";
export { type Scheduler, type SchedulerDeps, schedulerOptions, startScheduler } from "./scheduler.js";
export {
  CORRUPT_PARENT_PENALTY,
  localityScore,
  pieceScore,
  SCORE_WEIGHTS,
  scoreParent,
  selectParents,
} from "./scheduling/evaluator.js";
export {
  descendantsOf,
  type EligibleParent,
  filterParents,
  type ParentView,
  parentRejection,
} from "./scheduling/parent-filter.js";
export { PeerScheduler, type ScheduleDecision, SEED_POLL_MS } from "./scheduling/peer-scheduler.js";
export { SeedCoordinator } from "./seed/seed-coordinator.js";
export {
  createDfdaemonSeedTrigger,
  daemonApiUrl,
  type SeedTrigger,
  type SeedTriggerRequest,
  type SeedTriggerResult,
} from "./seed/seed-trigger.js";
