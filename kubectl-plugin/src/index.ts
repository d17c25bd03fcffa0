export { D7yCommand, outputFlag } from "./base-command.js";
export { COMMANDS } from "./commands/index.js";
export { parseDuration } from "./services/duration.js";
export { ManagerHttpError, ManagerUnreachableError, UserError } from "./services/errors.js";
export { type ImageLocation, manifestUrl, parseImageReference } from "./services/image-reference.js";
export {
  type Job,
  type JobLayer,
  type JobResult,
  type JobState,
  type LayerHost,
  ManagerClient,
  type ManagerClientOptions,
  type PreheatRequest,
  type PreheatScope,
  type SchedulerRecord,
  type SeedPeerRecord,
} from "./services/manager-client.js";
export { managerRpcUrl, type StatsEvent, watchClusterStats } from "./top/stats-stream.js";
export {
  nextSortKey,
  SORT_KEYS,
  type SortKey,
  type TopHost,
  type TopSnapshot,
  type TopTask,
  topSnapshot,
  visibleHosts,
  visibleTasks,
} from "./top/top-model.js";
export { JobProgress, type PreheatItem, PreheatProgress, type PreheatProgressProps } from "./ui/preheat-progress.js";
export { type FullScreenView, type LiveView, mountFullScreen, mountLive, renderFrame } from "./ui/render.js";
export { formatBytes, formatOutput, formatTable, type OutputFormat, shortDigest } from "./ui/table.js";
export { TopApp, type TopAppProps } from "./ui/top-app.js";
export { TopView, type TopViewProps } from "./ui/top-view.js";
