export { createLogger, createSilentLogger, type Logger, type LoggerConfig } from "./logger.js";
export {
  Counter,
  createMetricsRegistry,
  Gauge,
  Histogram,
  METRIC_PREFIX,
  type MetricsRegistryOptions,
  Registry,
} from "./metrics.js";
export {
  MetricsEndpoint,
  type MetricsServer,
  type MetricsServerOptions,
  startMetricsServer,
} from "./metrics-server.js";
export {
  PPROF_PREFIX,
  PROFILE_SECONDS,
  ProfilingEndpoint,
  type ProfilingServer,
  type ProfilingServerOptions,
  profilingEndpointFor,
  startProfilingServer,
} from "./profiling.js";
export { runService, type ServiceOptions } from "./service.js";
export {
  type Attributes,
  activeContext,
  activeTraceIds,
  type Context,
  contextFromHeaders,
  contextWithSpan,
  inSpan,
  type Span,
  SpanKind,
  SpanStatusCode,
  startTelemetry,
  type Telemetry,
  type TracingConfig,
  traceHeaders,
  tracerFor,
} from "./telemetry.js";
