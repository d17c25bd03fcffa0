import { constants } from "node:fs";
import { copyFile, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "./containerd-config.js";

export interface HostsTomlOptions {
  /** The mirror address containerd should try first, e.g. http://127.0.0.1:4001. */
  mirror: string;
  /** Registries to write a hosts.toml for, e.g. https://ghcr.io or http://127.0.0.1:5000. */
  registries: string[];
  /** Also write _default/hosts.toml so every other registry goes through the mirror too. */
  all?: boolean;
}

export interface HostsTomlFile {
  /** Directory name under certs.d: the registry host (with port), or _default. */
  namespace: string;
  content: string;
}

/** Docker Hub is addressed as docker.io by containerd but served from registry-1.docker.io. */
function namespaceAndServer(registry: string): { namespace: string; server: string } {
  const url = new URL(registry.includes("://") ? registry : `https://${registry}`);
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError(`invalid registry "${registry}"`);
  if (["docker.io", "index.docker.io", "registry-1.docker.io"].includes(url.host)) {
    return { namespace: "docker.io", server: "https://registry-1.docker.io" };
  }
  return { namespace: url.host, server: url.origin };
}

function quote(value: string): string {
  return JSON.stringify(value);
}

/**
 * hosts.toml content for each registry: the registry stays the `server` (containerd's fallback
 * when the mirror is down), the mirror is the first host, and X-Dragonfly-Registry names the upstream.
 */
export function renderHostsToml(options: HostsTomlOptions): HostsTomlFile[] {
  const mirror = new URL(options.mirror);
  if (mirror.protocol !== "http:" && mirror.protocol !== "https:")
    throw new TypeError(`invalid mirror "${options.mirror}"`);
  const mirrorOrigin = mirror.origin;
  const files: HostsTomlFile[] = options.registries.map((registry) => {
    const { namespace, server } = namespaceAndServer(registry);
    return {
      namespace,
      content: [
        "# Written by d7y-daemon containerd-config: pulls try the d7y mirror first and fall back to the registry.",
        `server = ${quote(server)}`,
        "",
        `[host.${quote(mirrorOrigin)}]`,
        `  capabilities = ["pull", "resolve"]`,
        `  [host.${quote(mirrorOrigin)}.header]`,
        `    X-Dragonfly-Registry = ${quote(server)}`,
        "",
      ].join("\n"),
    };
  });
  if (options.all) {
    files.push({
      namespace: "_default",
      content: [
        "# Written by d7y-daemon containerd-config: every other registry goes through the d7y mirror,",
        "# which finds the upstream from containerd's ?ns= parameter; containerd falls back to the registry itself.",
        `[host.${quote(mirrorOrigin)}]`,
        `  capabilities = ["pull", "resolve"]`,
        "",
      ].join("\n"),
    });
  }
  return files;
}

/** Every file this tool writes starts with it; anything else in a hosts.toml is somebody else's. */
const OUR_MARKER = "# Written by d7y-daemon containerd-config";

/**
 * Writes <hostsDir>/<namespace>/hosts.toml for each file (atomically); returns the paths written. A
 * hosts.toml this tool did not write (the user's own CA or mirror settings) is first copied to
 * hosts.toml.d7y-backup, once, and `log` says so.
 */
export async function writeHostsToml(
  hostsDir: string,
  options: HostsTomlOptions,
  log: (line: string) => void = () => undefined,
): Promise<string[]> {
  const written: string[] = [];
  for (const file of renderHostsToml(options)) {
    const dir = join(hostsDir, file.namespace);
    await mkdir(dir, { recursive: true });
    const path = join(dir, "hosts.toml");
    const existing = await readFile(path, "utf8").catch(() => undefined);
    if (existing !== undefined && !existing.startsWith(OUR_MARKER)) {
      const backup = `${path}.d7y-backup`;
      try {
        await copyFile(path, backup, constants.COPYFILE_EXCL);
        log(`note: ${path} was not written by d7y; kept a copy at ${backup}`);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
    }
    await writeFileAtomic(path, file.content);
    written.push(path);
  }
  return written;
}
