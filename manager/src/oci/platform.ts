/** An image platform (OCI image index `platform`). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** Architecture spellings that mean the same thing (uname vs GOARCH). */
const ARCH_ALIASES: Record<string, string> = { x86_64: "amd64", "x86-64": "amd64", aarch64: "arm64", armhf: "arm" };
/** The variant an architecture has when none is given. */
const DEFAULT_VARIANT: Record<string, string> = { arm64: "v8", arm: "v7" };

function normalize(platform: Platform): Required<Platform> {
  const os = platform.os.toLowerCase();
  const architecture = ARCH_ALIASES[platform.architecture.toLowerCase()] ?? platform.architecture.toLowerCase();
  const variant = (platform.variant || DEFAULT_VARIANT[architecture] || "").toLowerCase();
  return { os, architecture, variant };
}

/** "linux/amd64" or "linux/arm64/v8"; throws a TypeError on anything else. */
export function parsePlatform(text: string): Platform {
  const parts = text.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => part.length === 0)) {
    throw new TypeError(`invalid platform "${text}" (expected os/arch[/variant])`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/");
}

/** Same os and architecture, and the same variant once defaults are applied (arm64 = arm64/v8). */
export function platformMatches(want: Platform, have: Platform): boolean {
  const a = normalize(want);
  const b = normalize(have);
  if (a.os !== b.os || a.architecture !== b.architecture) return false;
  // Without a variant asked for, any variant of the architecture will do.
  return !want.variant || a.variant === b.variant;
}

/** The best of several entries for a platform: an exact variant match first, then the first match. */
export function choosePlatform<T extends { platform?: Platform }>(
  entries: readonly T[],
  want: Platform,
): T | undefined {
  const matches = entries.filter((entry) => entry.platform && platformMatches(want, entry.platform));
  const wanted = normalize(want).variant;
  return matches.find((entry) => normalize(entry.platform!).variant === wanted) ?? matches[0];
}
