import { DaemonError } from "../errors.js";

/** Registries known under another name: containerd sends ns=docker.io for Docker Hub. */
const ALIASES: Record<string, string[]> = {
  "docker.io": ["index.docker.io", "registry-1.docker.io"],
  "index.docker.io": ["docker.io", "registry-1.docker.io"],
  "registry-1.docker.io": ["docker.io", "index.docker.io"],
};

export interface UpstreamChoice {
  /** Origin of the registry, e.g. https://ghcr.io. */
  origin: string;
  /** What chose it. */
  via: "header" | "ns" | "default";
}

/**
 * Picks the upstream registry of a mirror request: X-Dragonfly-Registry, then ?ns=, then the default;
 * only registries on the allow list are reachable (the mirror is never an open proxy).
 */
export class UpstreamResolver {
  private readonly byHost = new Map<string, string>();

  constructor(
    private readonly allowed: readonly string[],
    private readonly defaultOrigin: string,
    /** Reach registries off the list too (containerd's _default/hosts.toml sends every registry here). */
    private readonly allowAll = false,
  ) {
    for (const origin of allowed) this.byHost.set(new URL(origin).host, origin);
  }

  resolve(header: string | undefined, ns: string | undefined): UpstreamChoice {
    if (header) {
      let url: URL;
      try {
        url = new URL(header.includes("://") ? header : `https://${header}`);
      } catch {
        throw new DaemonError("invalid", `X-Dragonfly-Registry "${header}" is not a URL`);
      }
      const origin = this.find(url.host, url.origin) ?? (this.allowAll ? this.anyOrigin(url) : undefined);
      if (!origin) throw this.denied(url.origin);
      return { origin, via: "header" };
    }
    if (ns) {
      if (!/^[a-zA-Z0-9.-]+(:\d+)?$/.test(ns)) throw new DaemonError("invalid", `ns "${ns}" is not a registry host`);
      const origin = this.find(ns) ?? (this.allowAll ? this.anyOrigin(new URL(`https://${ns}`)) : undefined);
      if (!origin) throw this.denied(ns);
      return { origin, via: "ns" };
    }
    return { origin: this.defaultOrigin, via: "default" };
  }

  private find(host: string, exactOrigin?: string): string | undefined {
    if (exactOrigin && this.allowed.includes(exactOrigin)) return exactOrigin;
    const direct = this.byHost.get(host);
    if (direct && (!exactOrigin || new URL(direct).host === host)) return direct;
    for (const alias of ALIASES[host] ?? []) {
      const origin = this.byHost.get(alias);
      if (origin) return origin;
    }
    return undefined;
  }

  /** The origin of a registry off the list (allowAll): http or https as named; Docker Hub by its API host. */
  private anyOrigin(url: URL): string | undefined {
    if (url.protocol !== "https:" && url.protocol !== "http:") return undefined;
    if (ALIASES[url.host]?.includes("registry-1.docker.io") || url.host === "registry-1.docker.io") {
      return "https://registry-1.docker.io";
    }
    return url.origin;
  }

  private denied(what: string): DaemonError {
    return new DaemonError(
      "forbidden",
      `registry ${what} is not allowed by this mirror (allowed: ${this.allowed.join(", ")})`,
    );
  }
}
