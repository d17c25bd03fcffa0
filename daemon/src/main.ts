import { addServiceOptions, ConfigError, configFromOptions, integer } from "@d7y/config";
import { exitOnError } from "@d7y/lifecycle";
import { runService } from "@d7y/observability";
import { Command } from "commander";
import { DEFAULTS, daemonConfigSchema } from "./config.js";
import { type ContainerdConfigOptions, runContainerdConfig } from "./containerd/command.js";
import { startDaemon } from "./daemon.js";

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Flags that map onto config paths; they override the config file. */
const FLAG_PATHS: Record<string, string> = {
  dataDir: "dataDir",
  logLevel: "logLevel",
  proxyHost: "proxy.host",
  proxyPort: "proxy.port",
  registry: "proxy.registries",
  defaultRegistry: "proxy.defaultRegistry",
  allowAllRegistries: "proxy.allowAllRegistries",
  apiHost: "api.host",
  apiPort: "api.port",
  concurrentPieces: "download.concurrentPieces",
  pieceTimeout: "download.pieceTimeout",
  quota: "storage.quota",
  seed: "seed",
  scheduler: "scheduler.addresses",
  announceInterval: "scheduler.announceInterval",
  uploadHost: "upload.host",
  uploadPort: "upload.port",
  uploadLimit: "upload.limit",
  hostId: "host.id",
  hostIp: "host.ip",
  idc: "host.idc",
  location: "host.location",
  testCorruptUploads: "upload.testCorruptPieces",
  seedCopiesPerPiece: "upload.seedCopiesPerPiece",
  tracingEndpoint: "tracing.endpoint",
  tracingSampleRatio: "tracing.sampleRatio",
  manager: "manager.address",
  clusterId: "manager.clusterId",
  managerRefresh: "manager.refreshInterval",
  metricsHost: "metrics.host",
  metricsPort: "metrics.port",
  pprofHost: "pprofHost",
  pprofPort: "pprofPort",
  metrics: "metrics.enable",
  authCheck: "proxy.authCheck.enable",
};

const program = new Command("d7y-daemon")
  .description("d7y node daemon: containerd's registry mirror with a verified, shared piece cache")
  .enablePositionalOptions()
  .exitOverride()
  .option("-c, --config <file>", "YAML config file (flags override it)")
  .option("--data-dir <dir>", `content files and LevelDB metadata (default ${DEFAULTS.dataDir})`)
  .option(
    "--registry <url>",
    `upstream registry the mirror may reach; repeat for several; the first is the default (default ${DEFAULTS.registries.join(", ")})`,
    collect,
  )
  .option(
    "--default-registry <url>",
    "upstream for requests that name none (skopeo, podman); default: the first --registry",
  )
  .option(
    "--allow-all-registries",
    "reach any registry a request names (containerd's _default/hosts.toml), not only the --registry list",
  )
  .option("--proxy-host <host>", `mirror listen address (default ${DEFAULTS.proxyHost})`)
  .option("--proxy-port <port>", `mirror port for containerd's hosts.toml (default ${DEFAULTS.proxyPort})`, integer)
  // Defining --auth-check keeps --no-auth-check from defaulting to true over the config file.
  .option(
    "--auth-check",
    `ask the origin (HEAD with the client's credentials) before serving a blob from the cache or peers; yes answers are reused for proxy.authCheck.ttl (default ${DEFAULTS.authCheckTtl}), and for proxy.authCheck.staleIfError (default ${DEFAULTS.authCheckStaleIfError}) while the origin is unreachable (the default)`,
  )
  .option(
    "--no-auth-check",
    "serve cached blobs to any client that reaches the mirror, without asking the origin (single-tenant nodes: no extra origin requests)",
  )
  .option("--api-host <host>", `Connect/gRPC API listen address (default ${DEFAULTS.apiHost})`)
  .option("--api-port <port>", `Connect/gRPC API port (default ${DEFAULTS.apiPort})`, integer)
  .option("--seed", "run as a seed peer: the scheduler sends it to the origin first, others download from it")
  .option(
    "--scheduler <url>",
    "scheduler address, e.g. http://scheduler:8002; repeat for several (tasks map to one by consistent hashing); none: always the origin",
    collect,
  )
  .option(
    "--manager <url>",
    "the manager's Connect address (e.g. http://manager:65003): the cluster's schedulers come from it (--scheduler stays the fallback); seeds register with it",
  )
  .option("--cluster-id <id>", `cluster of this host (default ${DEFAULTS.clusterId})`, integer)
  .option(
    "--manager-refresh <duration>",
    `how often the schedulers are read from the manager (default ${DEFAULTS.managerRefresh})`,
  )
  .option(
    "--announce-interval <duration>",
    `how often the host announces itself to the schedulers (default ${DEFAULTS.announceInterval})`,
  )
  .option("--upload-host <host>", `piece upload listen address (default ${DEFAULTS.uploadHost})`)
  .option(
    "--upload-port <port>",
    `piece upload port other daemons fetch from (default ${DEFAULTS.uploadPort})`,
    integer,
  )
  .option("--upload-limit <n>", `piece uploads served at once (default ${DEFAULTS.uploadLimit})`, integer)
  .option("--host-id <id>", "unique host id (default <ip>-<hostname>-<upload port>)")
  .option(
    "--host-ip <ip>",
    "address other daemons and the scheduler reach this host at (default: first non-loopback IPv4)",
  )
  .option("--idc <name>", "data center of this host (parents in the same one are preferred)")
  .option("--location <a|b|c>", "location of this host (parents nearby are preferred)")
  .option(
    "--seed-copies-per-piece <n>",
    "seeds: copies of a piece served before children must trade it among themselves (default 0: no limit)",
    integer,
  )
  .option(
    "--test-corrupt-uploads",
    "TEST ONLY: corrupt every piece this daemon uploads (proves children detect bad parents)",
  )
  .option(
    "--concurrent-pieces <n>",
    `piece requests in flight per task (default ${DEFAULTS.concurrentPieces})`,
    integer,
  )
  .option("--piece-timeout <duration>", `idle time before a piece request fails (default ${DEFAULTS.pieceTimeout})`)
  .option("--quota <size>", `content the cache may hold, e.g. 50GiB (default ${DEFAULTS.quota})`);

addServiceOptions(program, DEFAULTS);

program
  .addHelpText(
    "after",
    `
Config file keys (YAML, camelCase): dataDir, logLevel, seed, proxy.{host,port,registries,defaultRegistry,allowAllRegistries},
proxy.authCheck.{enable,ttl,staleIfError}, api.{host,port}, upload.{host,port,limit,seedCopiesPerPiece,testCorruptPieces},
host.{id,hostname,ip,idc,location}, scheduler.{addresses,announceInterval,scheduleTimeout}, manager.{address,clusterId,keepAliveInterval,refreshInterval},
tracing.{endpoint,sampleRatio},
download.{concurrentPieces,pieceRetries,pieceTimeout,connectTimeout,stallTimeout,hedgeAfter,maxReschedules},
storage.{quota,highWatermark,lowWatermark,gcInterval}, metrics.{host,port,enable}, pprofHost, pprofPort (-1 off;
profiles at /debug/pprof/), verbose (true = logLevel debug unless logLevel is set). Sizes take units (512MiB, 10GB),
durations take units (500ms, 30s, 5m).`,
  )
  .action(async (options: Record<string, unknown>) => {
    const config = configFromOptions(daemonConfigSchema, options, FLAG_PATHS);
    await runService({
      name: "d7y-daemon",
      logLevel: config.logLevel,
      tracing: { endpoint: config.tracing.endpoint, sampleRatio: config.tracing.sampleRatio },
      attributes: { "d7y.seed": config.seed },
      start: (logger) => startDaemon(config, { logger }),
    });
  });

program
  .command("containerd-config")
  .description(
    "point containerd's registry config_path at hosts.toml files that send pulls through the d7y mirror, keeping each registry as fallback",
  )
  .option(
    "--containerd-config <file>",
    "containerd's config.toml, e.g. /etc/containerd/config.toml: hosts.toml files go to its CRI registry config_path",
  )
  .option(
    "--inject-config-path",
    "with --containerd-config: add config_path (--hosts-dir, default /etc/containerd/certs.d) when the config has none, creating the file if missing; containerd must then be restarted",
  )
  .option(
    "--hosts-dir <dir>",
    "hosts dir to write, e.g. /etc/containerd/certs.d (optional with --containerd-config; its config_path wins)",
  )
  .option("--mirror <url>", "mirror address containerd should use", `http://127.0.0.1:${DEFAULTS.proxyPort}`)
  .option("--registry <url>", "registry to route through the mirror, e.g. https://ghcr.io; repeat for several", collect)
  .option("--all", "also write _default/hosts.toml so every other registry goes through the mirror")
  .action(async (options: ContainerdConfigOptions) => {
    await runContainerdConfig(options);
  });

program
  .parseAsync(process.argv)
  .catch(exitOnError("d7y-daemon", (error) => error instanceof ConfigError || error instanceof TypeError));
