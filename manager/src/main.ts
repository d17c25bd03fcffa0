import { addServiceOptions, ConfigError, configFromOptions, integer, parseDuration } from "@d7y/config";
import { exitOnError } from "@d7y/lifecycle";
import { runService } from "@d7y/observability";
import { Command } from "commander";
import { DEFAULTS, managerConfigSchema } from "./config.js";
import { ManagerError } from "./errors.js";
import { startManager } from "./manager.js";
import { createTokenInDataDir, createTokenThroughApi, type TokenRequest } from "./token/create-token.js";

/** Flags that map onto config keys; they override the config file. */
const FLAG_PATHS: Record<string, string> = {
  host: "host",
  port: "port",
  rpcHost: "rpcHost",
  rpcPort: "rpcPort",
  dataDir: "dataDir",
  logLevel: "logLevel",
  bodyLimit: "bodyLimitBytes",
  registryTimeout: "registryTimeoutMs",
  insecureRegistries: "insecureRegistries",
  maxRunningJobs: "maxRunningJobs",
  resumeGrace: "resumeGraceMs",
  schedulerTimeout: "schedulerTimeoutMs",
  keepAliveTimeout: "keepAliveTimeoutMs",
  tracingEndpoint: "tracingEndpoint",
  tracingSampleRatio: "tracingSampleRatio",
  metricsHost: "metricsHost",
  metricsPort: "metricsPort",
  pprofHost: "pprofHost",
  pprofPort: "pprofPort",
  metrics: "metricsEnable",
};

const program = new Command("d7y-manager")
  .description("d7y manager: registry of schedulers and seed peers, cluster config, preheat jobs (REST + Connect)")
  .enablePositionalOptions()
  .option("-c, --config <file>", "YAML config file (flags override it)")
  .option("--data-dir <dir>", `LevelDB directory (default ${DEFAULTS.dataDir})`)
  .option("--host <host>", `REST listen address (default ${DEFAULTS.host})`)
  .option("--port <port>", `REST port (default ${DEFAULTS.port})`, integer)
  .option("--rpc-host <host>", `Connect/gRPC listen address (default ${DEFAULTS.rpcHost})`)
  .option("--rpc-port <port>", `Connect/gRPC/gRPC-Web port (default ${DEFAULTS.rpcPort})`, integer)
  .option("--body-limit <size>", `largest REST request body (default ${DEFAULTS.bodyLimitBytes} bytes)`)
  .option("--registry-timeout <duration>", `timeout of one registry request (default ${DEFAULTS.registryTimeoutMs}ms)`)
  .option("--insecure-registries <hosts>", "comma-separated registry hosts whose TLS certificate is not verified")
  .option("--max-running-jobs <n>", `jobs running at once (default ${DEFAULTS.maxRunningJobs})`, integer)
  .option(
    "--resume-grace <duration>",
    `how long a job resumed after a restart waits for seed peers to keep alive (default ${DEFAULTS.resumeGraceMs}ms)`,
  )
  .option(
    "--scheduler-timeout <duration>",
    `timeout of ListHosts on a scheduler (default ${DEFAULTS.schedulerTimeoutMs}ms)`,
  )
  .option(
    "--keep-alive-timeout <duration>",
    `silence after which a scheduler or seed peer is inactive (default ${DEFAULTS.keepAliveTimeoutMs}ms)`,
  )
  .exitOverride();

addServiceOptions(program, DEFAULTS);

program
  .addHelpText(
    "after",
    `
Config file keys (YAML, camelCase): host, port, rpcHost, rpcPort, dataDir, logLevel, bodyLimitBytes,
registryTimeoutMs, insecureRegistries, maxRunningJobs, resumeGraceMs, schedulerTimeoutMs, keepAliveTimeoutMs,
metricsHost, metricsPort, metricsEnable, pprofHost, pprofPort (-1 off; profiles at /debug/pprof/), verbose (true =
logLevel debug unless logLevel is set).
Durations take a number of milliseconds or units (500ms, 30s, 5m).`,
  )
  .action(async (options: Record<string, unknown>) => {
    const config = configFromOptions(managerConfigSchema, options, FLAG_PATHS);
    await runService({
      name: "d7y-manager",
      logLevel: config.logLevel,
      tracing: { endpoint: config.tracingEndpoint, sampleRatio: config.tracingSampleRatio },
      start: (logger) => startManager(config, { logger }),
    });
  });

program
  .command("token")
  .description("personal access tokens for /oapi/v1")
  .command("create")
  .description(
    "create a token and print it (only once). Without --manager it writes to --data-dir directly, which needs the manager stopped (LevelDB is single-process)",
  )
  .requiredOption("--name <name>", "token name")
  .option("--data-dir <dir>", `the manager's data dir (default ${DEFAULTS.dataDir})`)
  .option("--manager <url>", "create it through a running manager's REST API instead, e.g. http://127.0.0.1:8080")
  .option("--bio <text>", "description")
  .option("--scopes <scopes>", "comma-separated scopes: job, cluster (default both)")
  .option("--expires-in <duration>", "lifetime, e.g. 30d or 12h (default: never expires)")
  .exitOverride()
  .action(async (options: Record<string, string | undefined>) => {
    const body: TokenRequest = { name: options.name ?? "" };
    if (options.bio) body.bio = options.bio;
    if (options.scopes) body.scopes = options.scopes.split(",").map((scope) => scope.trim());
    if (options.expiresIn) {
      let ms: number;
      try {
        ms = parseDuration(options.expiresIn);
      } catch (error) {
        throw new ConfigError(`--expires-in: ${(error as Error).message}`);
      }
      body.expired_at = new Date(Date.now() + ms).toISOString();
    }
    const token = options.manager
      ? await createTokenThroughApi(options.manager, body)
      : await createTokenInDataDir(options.dataDir ?? DEFAULTS.dataDir, body);
    process.stdout.write(`${token}\n`);
  });

program
  .parseAsync(process.argv)
  .catch(
    exitOnError(
      "d7y-manager",
      (error) => error instanceof ConfigError || error instanceof TypeError || error instanceof ManagerError,
    ),
  );
