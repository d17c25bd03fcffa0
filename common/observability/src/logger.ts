import { type Logger, type LoggerOptions, pino } from "pino";
import { activeTraceIds } from "./telemetry.js";

export type { Logger } from "pino";

export interface LoggerConfig {
  level: string;
  /** Service name put on every line. */
  name: string;
  /** Write to this file descriptor or path instead of stdout. */
  destination?: string | number;
}

/** The root logger of a process. Components get child loggers from it. */
export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    name: config.name,
    level: config.level,
    base: { pid: process.pid, service: config.name },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Every line logged inside a traced operation carries its trace and span ids.
    mixin: () => activeTraceIds(),
  };
  return pino(options, pino.destination({ dest: config.destination ?? 1, sync: false }));
}

/** A logger that drops everything, for tests and library use. */
export function createSilentLogger(): Logger {
  return pino({ level: "silent" });
}
