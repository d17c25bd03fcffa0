import { stopOnSignals } from "@d7y/lifecycle";
import { createLogger, type Logger } from "./logger.js";
import { type Attributes, startTelemetry } from "./telemetry.js";

export interface ServiceOptions {
  /** Process and service name, e.g. d7y-daemon. */
  name: string;
  logLevel: string;
  tracing: { endpoint: string; sampleRatio: number };
  /** Extra resource attributes of the traces. */
  attributes?: Attributes;
  /** Builds and starts the component; what it returns is stopped on SIGINT/SIGTERM. */
  start: (logger: Logger) => Promise<{ stop(): Promise<void> }>;
}

/**
 * What every bin's main does: the root logger, tracing (when an endpoint is set), start, and a
 * clean stop on SIGINT/SIGTERM that flushes spans and logs before the process exits.
 */
export async function runService(options: ServiceOptions): Promise<void> {
  const logger = createLogger({ name: options.name, level: options.logLevel });
  const telemetry = startTelemetry({
    endpoint: options.tracing.endpoint,
    serviceName: options.name,
    sampleRatio: options.tracing.sampleRatio,
    ...(options.attributes ? { attributes: options.attributes } : {}),
  });
  const service = await options.start(logger);
  const stop = async () => {
    await service.stop();
    await telemetry.shutdown();
  };
  stopOnSignals({ start: async () => undefined, stop }, (code) => {
    logger.flush();
    process.exit(code);
  });
}
