export { type ClusterInput, type ClusterPatch, Clusters, resolveClusterId } from "./cluster/clusters.js";
export {
  DEFAULT_SCHEDULER_FEATURES,
  type InstanceIdentity,
  type InstanceKind,
  InstanceRegistry,
  type SchedulerInput,
  type SeedPeerInput,
} from "./cluster/instances.js";
export {
  DEFAULT_CLUSTER,
  DEFAULTS,
  type ManagerConfig,
  type ManagerConfigInput,
  managerConfigSchema,
  PAGINATION,
  PREHEAT_DEFAULTS,
  TOKEN_SCOPES,
} from "./config.js";
export { httpStatusOf, invalidInput, ManagerError, type ManagerErrorKind, toManagerConnectError } from "./errors.js";
export { JobAbort } from "./job/job-abort.js";
export { type JobRequest, parseJobRequest } from "./job/job-request.js";
export { isFinal, JobRunner, type JobRunnerDeps, type JobRunnerOptions } from "./job/job-runner.js";
export { type JobFilter, type JobPage, JobService } from "./job/job-service.js";
export { PREHEAT_SCOPES, type PreheatArgs, type PreheatScope, preheatArgsSchema } from "./job/preheat-args.js";
export { timeoutSeconds } from "./job/preheat-timeout.js";
export { type Manager, type ManagerDeps, managerRouter, startManager } from "./manager.js";
export {
  countingDownloader,
  createManagerMetrics,
  type ManagerMetricSources,
  ManagerMetrics,
  PREHEAT_BLOB_RESULTS,
  type PreheatBlobResult,
} from "./metrics.js";
export {
  blobUrl,
  type ManifestLocation,
  manifestUrl,
  parseImageLocation,
  parseImageReference,
  parseManifestUrl,
} from "./oci/image-reference.js";
export { type ImageBlob, PlatformNotFoundError, type ResolvedImage, resolveImage } from "./oci/image-resolver.js";
export { type Descriptor, MANIFEST_ACCEPT, MEDIA_TYPES, type ParsedManifest, parseManifest } from "./oci/manifest.js";
export { choosePlatform, formatPlatform, type Platform, parsePlatform, platformMatches } from "./oci/platform.js";
export { RegistryError, registryDetail, registryError } from "./oci/registry-error.js";
export { type HttpGetOptions, type HttpResponse, RegistryHttp } from "./oci/registry-http.js";
export { type RegistryCredentials, RegistrySession } from "./oci/registry-session.js";
export { type AuthChallenge, parseWwwAuthenticate } from "./oci/www-authenticate.js";
export {
  type BlobDownload,
  type BlobDownloader,
  createDfdaemonDownloader,
  daemonUrl,
} from "./preheat/blob-downloader.js";
export { forEachBounded } from "./preheat/bounded-pool.js";
export {
  buildResult,
  failedResult,
  type PreheatClusterResult,
  type PreheatFailureTask,
  type PreheatHostOutcome,
  type PreheatJobState,
  type PreheatLayer,
  type PreheatResult,
  type PreheatSuccessTask,
} from "./preheat/preheat-result.js";
export { type PreheatDeps, type PreheatRun, runPreheat } from "./preheat/preheat-run.js";
export { findTargets } from "./preheat/preheat-targets.js";
export { createSchedulerHostLister } from "./preheat/scheduler-host-lister.js";
export {
  type HostLister,
  ringOf,
  seedForTask,
  seedPeerHost,
  selectHosts,
  type TargetHost,
} from "./preheat/target-hosts.js";
export { paginationHeaders, parsePagination } from "./rest/pagination.js";
export { type RestServer, type RestServerOptions, startRestServer } from "./rest/rest-server.js";
export { type Handler, type Reply, type RequestContext, type Route, Router } from "./rest/router.js";
export { type ManagerServiceDeps, managerRoutes } from "./rpc/manager-service.js";
export { REQUEST_LIMITS } from "./rpc/parse-requests.js";
export { type CountedKind, ManagerDatabase } from "./storage/manager-database.js";
export type {
  ClusterConfig,
  ClusterRecord,
  InstanceState,
  JobRecord,
  JobState,
  JobType,
  SchedulerRecord,
  SeedPeerRecord,
  TokenRecord,
  TokenState,
} from "./storage/records.js";
export { JOB_STATES, JOB_TYPES } from "./storage/records.js";
export { createTokenInDataDir, createTokenThroughApi, type TokenRequest } from "./token/create-token.js";
export { hashToken, type TokenScope, TokenService } from "./token/token-service.js";
