import { collectDefaultMetrics, Registry } from "prom-client";

export { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Every metric of every d7y component starts with it (process metrics included). */
export const METRIC_PREFIX = "d7y_";

export interface MetricsRegistryOptions {
  /** Collect the Node.js process metrics (CPU, memory, event loop lag, GC...) into it; default true. */
  processMetrics?: boolean;
}

/**
 * A registry of one component's metrics, labelled {component}. Never the global registry: several
 * components (and tests) can live in one process, each with its own.
 */
export function createMetricsRegistry(component: string, options: MetricsRegistryOptions = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return registry;
}
