import { ConfigError } from "@d7y/config";
import { DEFAULT_HOSTS_DIR, ensureConfigPath, REGISTRY_TABLE, tomlKeyPath } from "./containerd-config.js";
import { writeHostsToml } from "./hosts-toml.js";

export interface ContainerdConfigOptions {
  /** Where hosts.toml files go; optional when containerdConfig sets (or gets) a config_path. */
  hostsDir?: string;
  /** containerd's config.toml: its CRI registry config_path decides where hosts.toml files go. */
  containerdConfig?: string;
  /** Add config_path to containerdConfig when it has none. */
  injectConfigPath?: boolean;
  mirror: string;
  registry?: string[];
  all?: boolean;
}

/** The `d7y-daemon containerd-config` subcommand; `log` prints one line per step. */
export async function runContainerdConfig(
  options: ContainerdConfigOptions,
  log: (line: string) => void = console.log,
): Promise<string[]> {
  if (!options.registry?.length && !options.all) throw new ConfigError("give at least one --registry, or --all");
  if (options.injectConfigPath && !options.containerdConfig) {
    throw new ConfigError("--inject-config-path needs --containerd-config");
  }
  let hostsDir = options.hostsDir;
  if (options.containerdConfig) {
    const file = options.containerdConfig;
    const result = await ensureConfigPath(file, {
      inject: options.injectConfigPath ?? false,
      hostsDir: options.hostsDir ?? DEFAULT_HOSTS_DIR,
    });
    const setting = `config_path = ${JSON.stringify(result.hostsDir)}`;
    const table = `[${tomlKeyPath(REGISTRY_TABLE[result.version])}]`;
    if (result.action === "created") {
      log(`created ${file} with ${setting}; restart containerd to read it`);
    } else if (result.action === "injected") {
      log(`set ${setting} in ${table} of ${file}; restart containerd to read it`);
    } else {
      log(`${file} already sets ${setting}`);
      if (options.hostsDir !== undefined && options.hostsDir !== result.hostsDir) {
        log(
          `note: writing hosts.toml to ${result.hostsDir} (containerd's config_path), not --hosts-dir ${options.hostsDir}`,
        );
      }
    }
    if (result.action === "injected" && result.imports.length > 0) {
      log(
        `warning: ${file} imports ${result.imports.join(", ")}; containerd merges those over it, so a config_path set there wins over the one added here: check them`,
      );
    }
    if (result.criDisabled)
      log(`warning: ${file} disables containerd's CRI plugin, so kubelet pulls ignore hosts.toml`);
    hostsDir = result.hostsDir;
  }
  if (hostsDir === undefined) throw new ConfigError("give --hosts-dir or --containerd-config");
  const written = await writeHostsToml(
    hostsDir,
    { mirror: options.mirror, registries: options.registry ?? [], all: options.all ?? false },
    log,
  );
  for (const path of written) log(`wrote ${path}`);
  return written;
}
