export { HttpOrigin } from "./backend/http-origin.js";
export { type DaemonConfig, type DaemonConfigInput, DEFAULTS, daemonConfigSchema } from "./config.js";
export { type ContainerdConfigOptions, runContainerdConfig } from "./containerd/command.js";
export {
  type ContainerdRegistryConfig,
  DEFAULT_HOSTS_DIR,
  ensureConfigPath,
  injectConfigPath,
  minimalConfig,
  parseContainerdConfig,
  REGISTRY_TABLE,
  writeFileAtomic,
} from "./containerd/containerd-config.js";
export { type HostsTomlOptions, renderHostsToml, writeHostsToml } from "./containerd/hosts-toml.js";
export { type Daemon, type DaemonDeps, startDaemon } from "./daemon.js";
export { DaemonError, UpstreamResponseError } from "./errors.js";
export { enforceQuota, type QuotaPolicy } from "./gc/quota.js";
export {
  createDaemonMetrics,
  type DaemonMetricSources,
  DaemonMetrics,
  DOWNLOAD_SOURCES,
  type DownloadSource,
  type MirrorRequestKind,
  PIECE_FAILURE_REASONS,
  type PieceFailureReason,
} from "./metrics.js";
export {
  AUTH_CHECK_RESULTS,
  AuthChecker,
  type AuthCheckResult,
  credentialHash,
  VerdictCache,
} from "./proxy/auth-check.js";
export { parseRange } from "./proxy/mirror-server.js";
export { UpstreamResolver } from "./proxy/upstream.js";
export { specFromDownload } from "./rpc/dfdaemon-service.js";
export { ContentStore, MetadataStore } from "./storage/index.js";
export { DigestMismatchError, pieceDigest, type TaskSpec } from "./task/task-download.js";
export { type TaskHandle, TaskManager } from "./task/task-manager.js";
export { readTask } from "./task/task-reader.js";
