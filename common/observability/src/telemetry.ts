import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace-base";

export { type Attributes, type Context, type Span, SpanKind, SpanStatusCode } from "@opentelemetry/api";

export interface TracingConfig {
  /** OTLP/HTTP traces endpoint, e.g. http://jaeger:4318/v1/traces; empty: tracing off. */
  endpoint: string;
  serviceName: string;
  /** Fraction of new traces recorded (children follow their parent's decision). */
  sampleRatio?: number;
  /** Resource attributes (host id, ...). */
  attributes?: Attributes;
  /** How long finished spans wait before they are sent in a batch. */
  flushDelayMs?: number;
}

export interface Telemetry {
  readonly enabled: boolean;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK with an OTLP/HTTP (JSON) trace exporter, or does nothing when no
 * endpoint is configured: the API then hands out non-recording spans and tracing costs (next to)
 * nothing on the hot paths.
 */
export function startTelemetry(config: TracingConfig): Telemetry {
  if (!config.endpoint) {
    return { enabled: false, forceFlush: async () => undefined, shutdown: async () => undefined };
  }
  const processor = new BatchSpanProcessor(new OTLPTraceExporter({ url: config.endpoint }), {
    scheduledDelayMillis: config.flushDelayMs ?? 1000,
  });
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({
      "service.name": config.serviceName,
      "service.instance.id": String(process.pid),
      ...config.attributes,
    }),
    spanProcessors: [processor],
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio ?? 1) }),
    instrumentations: [],
  });
  sdk.start();
  return {
    enabled: true,
    forceFlush: () => processor.forceFlush(),
    shutdown: () => sdk.shutdown(),
  };
}

export function tracerFor(component: string): Tracer {
  return trace.getTracer(`d7y.${component}`);
}

/** Adds the active trace context (traceparent) to outgoing request headers. */
export function traceHeaders(
  headers: Record<string, string> = {},
  from: Context = context.active(),
): Record<string, string> {
  propagation.inject(from, headers);
  return headers;
}

/** The trace context an incoming request carries (root when none). */
export function contextFromHeaders(headers: Record<string, string | string[] | undefined> | Headers): Context {
  if (headers instanceof Headers) {
    const plain: Record<string, string> = {};
    headers.forEach((value, key) => {
      plain[key] = value;
    });
    return propagation.extract(ROOT_CONTEXT, plain);
  }
  return propagation.extract(ROOT_CONTEXT, headers);
}

/**
 * Runs fn inside a new active span (child of `parent`, default the active context), ending it when fn
 * settles and recording a thrown error.
 */
export async function inSpan<T>(
  tracer: Tracer,
  name: string,
  options: { attributes?: Attributes; kind?: SpanKind; parent?: Context },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes ? { attributes: options.attributes } : {}) },
    options.parent ?? context.active(),
    async (span) => {
      try {
        return await fn(span);
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** Trace and span ids of the active span, for log lines. */
export function activeTraceIds(): { trace_id: string; span_id: string } | Record<string, never> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId, traceFlags } = span.spanContext();
  if (!traceFlags && traceId === "00000000000000000000000000000000") return {};
  return { trace_id: traceId, span_id: spanId };
}

/** The context with span as the active one (a parent for spans started later, e.g. in a stream's loop). */
export function contextWithSpan(parent: Context, span: Span): Context {
  return trace.setSpan(parent, span);
}

/** The active trace context (to carry it into work that starts later). */
export function activeContext(): Context {
  return context.active();
}
