export { createLogger, createSilentLogger, type Logger, type LoggerConfig } from "./logger.js";
