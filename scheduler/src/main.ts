import { addServiceOptions, ConfigError, configFromOptions, integer } from "@d7y/config";
import { exitOnError } from "@d7y/lifecycle";
import { runService } from "@d7y/observability";
import { Command } from "commander";
import { DEFAULTS, schedulerConfigSchema } from "./config.js";
import { startScheduler } from "./scheduler.js";

/** Flags that map onto config keys; they override the config file. */
const FLAG_PATHS: Record<string, string> = {
  host: "host",
  port: "port",
  logLevel: "logLevel",
  candidateParentLimit: "candidateParentLimit",
  backToSourceLimit: "backToSourceLimit",
  retryInterval: "retryIntervalMs",
  retryLimit: "retryLimit",
  seedWait: "seedWaitMs",
  badParentTtl: "badParentTtlMs",
  taskTtl: "taskTtlMs",
  hostTtlMin: "hostTtlMinMs",
  sweepInterval: "sweepIntervalMs",
  manager: "manager",
  clusterId: "clusterId",
  advertiseIp: "advertiseIp",
  keepAliveInterval: "keepAliveIntervalMs",
  tracingEndpoint: "tracingEndpoint",
  tracingSampleRatio: "tracingSampleRatio",
  metricsHost: "metricsHost",
  metricsPort: "metricsPort",
  pprofHost: "pprofHost",
  pprofPort: "pprofPort",
  metrics: "metricsEnable",
};

const program = new Command("d7y-scheduler")
  .description("d7y scheduler: tracks hosts, tasks and peers, chooses parents, triggers seed peers")
  .option("-c, --config <file>", "YAML config file (flags override it)")
  .option("--host <host>", `listen address (default ${DEFAULTS.host})`)
  .option("--port <port>", `Connect/gRPC/gRPC-Web port (default ${DEFAULTS.port})`, integer)
  .option("--candidate-parent-limit <n>", `parents per answer (default ${DEFAULTS.candidateParentLimit})`, integer)
  .option(
    "--back-to-source-limit <n>",
    `peers of one task downloading from the origin at once (default ${DEFAULTS.backToSourceLimit})`,
    integer,
  )
  .option("--retry-interval <duration>", `wait between parent searches (default ${DEFAULTS.retryIntervalMs}ms)`)
  .option(
    "--retry-limit <n>",
    `parent searches before sending a peer to the origin anyway (default ${DEFAULTS.retryLimit})`,
    integer,
  )
  .option("--seed-wait <duration>", `wait for a triggered seed peer (default ${DEFAULTS.seedWaitMs}ms)`)
  .option(
    "--bad-parent-ttl <duration>",
    `how long a host that served bad bytes is avoided (default ${DEFAULTS.badParentTtlMs}ms)`,
  )
  .option("--task-ttl <duration>", `how long a task without peers is kept (default ${DEFAULTS.taskTtlMs}ms)`)
  .option("--host-ttl-min <duration>", `minimum time before a silent host expires (default ${DEFAULTS.hostTtlMinMs}ms)`)
  .option("--sweep-interval <duration>", `how often expired state is swept (default ${DEFAULTS.sweepIntervalMs}ms)`)
  .option(
    "--manager <url>",
    "the manager's Connect address (e.g. http://manager:65003): register, keep alive, read the cluster's config",
  )
  .option("--cluster-id <id>", `cluster this scheduler belongs to (default ${DEFAULTS.clusterId})`, integer)
  .option(
    "--advertise-ip <ip>",
    "address daemons and the manager reach this scheduler at (default: first non-loopback IPv4)",
  )
  .option("--keep-alive-interval <duration>", `heartbeat to the manager (default ${DEFAULTS.keepAliveIntervalMs}ms)`)
  .exitOverride();

addServiceOptions(program, DEFAULTS);

program
  .addHelpText(
    "after",
    `
Config file keys (YAML, camelCase): host, port, logLevel, candidateParentLimit, backToSourceLimit,
retryIntervalMs, retryLimit, seedWaitMs, badParentTtlMs, taskTtlMs, hostTtlMinMs, sweepIntervalMs, manager,
clusterId, advertiseIp, keepAliveIntervalMs, configRefreshMs, tracingEndpoint, tracingSampleRatio, metricsHost,
metricsPort, metricsEnable, pprofHost, pprofPort (-1 off; profiles at /debug/pprof/), verbose (true = logLevel
debug unless logLevel is set).
Durations take a number of milliseconds or units (500ms, 30s, 5m).`,
  )
  .action(async (options: Record<string, unknown>) => {
    const config = configFromOptions(schedulerConfigSchema, options, FLAG_PATHS);
    await runService({
      name: "d7y-scheduler",
      logLevel: config.logLevel,
      tracing: { endpoint: config.tracingEndpoint, sampleRatio: config.tracingSampleRatio },
      start: (logger) => startScheduler(config, { logger }),
    });
  });

program
  .parseAsync(process.argv)
  .catch(exitOnError("d7y-scheduler", (error) => error instanceof ConfigError || error instanceof TypeError));
