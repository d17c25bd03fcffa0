import { type Command, InvalidArgumentError, Option } from "commander";

/** commander parser for integer flags: a clear error for anything else. */
export function integer(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number)) throw new InvalidArgumentError("not an integer");
  return number;
}

export interface ServiceOptionDefaults {
  logLevel: string;
  metricsHost: string;
  metricsPort: number;
  pprofHost: string;
}

/**
 * The flags every long-running component takes for observability: tracing, Prometheus metrics, the
 * profiling endpoint, log level and -v. Each component maps them onto its own config paths.
 */
export function addServiceOptions(command: Command, defaults: ServiceOptionDefaults): Command {
  return (
    command
      .option(
        "--tracing-endpoint <url>",
        "send OpenTelemetry traces over OTLP/HTTP here, e.g. http://jaeger:4318/v1/traces (default: off)",
      )
      .option("--tracing-sample-ratio <ratio>", "fraction of new traces recorded (default 1)", Number.parseFloat)
      .option("--metrics-host <host>", `Prometheus /metrics listen address (default ${defaults.metricsHost})`)
      .option("--metrics-port <port>", `Prometheus /metrics port (default ${defaults.metricsPort})`, integer)
      // Defining --metrics keeps --no-metrics from defaulting to true over the config file.
      .option("--metrics", "serve Prometheus metrics at /metrics (the default)")
      .option("--no-metrics", "do not serve Prometheus metrics")
      .option(
        "--pprof-port <port>",
        "serve CPU/heap profiles at /debug/pprof/ on this port (Dragonfly's pprofPort; default -1: off, 0: any free port)",
        integer,
      )
      .option(
        "--pprof-host <host>",
        `profiling listen address (default ${defaults.pprofHost}: heap snapshots expose memory; 0.0.0.0 for every address)`,
      )
      .addOption(
        new Option("--log-level <level>", `log level (default ${defaults.logLevel})`).choices([
          "trace",
          "debug",
          "info",
          "warn",
          "error",
          "silent",
        ]),
      )
      .option("-v, --verbose", "same as --log-level debug")
  );
}
