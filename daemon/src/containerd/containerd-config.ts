/**
 * Reads containerd's config.toml to find the CRI registry `config_path` (where hosts.toml files go)
 * and, when asked, adds it. Reads parse the TOML; writes are text edits (so comments and formatting
 * survive), verified by parsing the result, and land atomically (temp file + rename, same mode).
 */
import { randomBytes } from "node:crypto";
import { chown, lstat, mkdir, open, readFile, realpath, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { ConfigError } from "@d7y/config";
import { parse } from "smol-toml";

/** Where config_path points when it is injected and no --hosts-dir is given (containerd's documented default). */
export const DEFAULT_HOSTS_DIR = "/etc/containerd/certs.d";

export type ConfigVersion = 1 | 2 | 3;

/**
 * The CRI plugin's registry table: v2 (containerd 1.x; 2.x migrates it) and v3 (containerd 2.x).
 * A config without `version` is version 1 to containerd (plugins by short id, verified on 1.6: it
 * ignores `[plugins."io.containerd.grpc.v1.cri".registry]` there and reads `[plugins.cri.registry]`).
 */
export const REGISTRY_TABLE: Record<ConfigVersion, readonly string[]> = {
  1: ["plugins", "cri", "registry"],
  2: ["plugins", "io.containerd.grpc.v1.cri", "registry"],
  3: ["plugins", "io.containerd.cri.v1.images", "registry"],
};

const CRI_PLUGIN_NAMES: Record<ConfigVersion, readonly string[]> = {
  1: ["cri"],
  2: ["cri", "io.containerd.grpc.v1.cri"],
  3: ["io.containerd.cri.v1.images", "io.containerd.grpc.v1.cri"],
};

export interface ContainerdRegistryConfig {
  version: ConfigVersion;
  /** Path segments of the registry table for this version. */
  table: readonly string[];
  /** Every `:`-separated entry of config_path (empty when it is absent or ""). */
  configPaths: string[];
  /** The first entry: the directory hosts.toml files go in. */
  configPath?: string;
  /** Settings in the registry table containerd refuses together with config_path. */
  conflicts: string[];
  /** The CRI plugin is in disabled_plugins: hosts.toml for CRI pulls would be ignored. */
  criDisabled: boolean;
  /** Files containerd merges over this one (`imports`): a config_path set there would win. */
  imports: string[];
}

type Table = Record<string, unknown>;

function isTable(value: unknown): value is Table {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function lookup(doc: Table, path: readonly string[]): unknown {
  let node: unknown = doc;
  for (const key of path) {
    if (!isTable(node)) return undefined;
    node = node[key];
  }
  return node;
}

/** `[a."b.c".d]` as TOML writes it. */
export function tomlKeyPath(path: readonly string[]): string {
  return path.map((key) => (/^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key))).join(".");
}

function firstLine(message: string): string {
  return message.split("\n")[0]?.trim() ?? message;
}

/** Parses config.toml text; invalid TOML is a ConfigError naming the file and the parser's first line. */
export function parseContainerdConfig(text: string, file = "config.toml"): ContainerdRegistryConfig {
  let doc: Table;
  try {
    doc = parse(text) as Table;
  } catch (error) {
    throw new ConfigError(`${file} is not valid TOML: ${firstLine((error as Error).message)}`);
  }
  const raw = doc.version ?? 1;
  if (raw !== 1 && raw !== 2 && raw !== 3) {
    throw new ConfigError(`${file} has config version ${String(raw)}; containerd config versions are 1, 2 and 3`);
  }
  const version: ConfigVersion = raw;
  const table = REGISTRY_TABLE[version];
  const header = `[${tomlKeyPath(table)}]`;
  if (version === 1 && lookup(doc, [...REGISTRY_TABLE[2], "config_path"]) !== undefined) {
    throw new ConfigError(
      `${file} has no \`version = 2\` line, so containerd reads it as version 1 and ignores [${tomlKeyPath(REGISTRY_TABLE[2])}]; add \`version = 2\` at the top`,
    );
  }
  const registry = lookup(doc, table);
  if (registry !== undefined && !isTable(registry)) throw new ConfigError(`${file}: ${header} is not a table`);
  const value = registry?.config_path;
  if (value !== undefined && typeof value !== "string") {
    throw new ConfigError(`${file}: config_path in ${header} is not a string`);
  }
  const configPaths = (value ?? "").split(":").filter((p) => p !== "");
  const conflicts: string[] = [];
  const mirrors = registry?.mirrors;
  if (isTable(mirrors) && Object.keys(mirrors).length > 0) conflicts.push(`${tomlKeyPath([...table, "mirrors"])}`);
  const configs = registry?.configs;
  if (isTable(configs)) {
    for (const [host, config] of Object.entries(configs)) {
      if (isTable(config) && config.tls !== undefined) conflicts.push(tomlKeyPath([...table, "configs", host, "tls"]));
    }
  }
  const disabled = Array.isArray(doc.disabled_plugins) ? doc.disabled_plugins : [];
  const criDisabled = CRI_PLUGIN_NAMES[version].some((name) => disabled.includes(name));
  const imports = Array.isArray(doc.imports) ? doc.imports.filter((i): i is string => typeof i === "string") : [];
  return { version, table, configPaths, configPath: configPaths[0], conflicts, criDisabled, imports };
}

/** The one-line error for settings containerd refuses next to config_path (verified on containerd 1.6). */
export function conflictMessage(file: string, conflicts: readonly string[]): string {
  return `${file} sets ${conflicts.join(", ")}, which containerd refuses together with config_path (the CRI plugin fails to load); move those settings to hosts.toml files and remove them first`;
}

interface HeaderLine {
  index: number;
  keys: string[];
}

const BARE = /^[A-Za-z0-9_-]+/;
const BASIC = /^"(?:[^"\\\n]|\\.)*"/;
const LITERAL = /^'[^'\n]*'/;

/** Parses `[ a . "b" . 'c' ]  # comment` into its keys; undefined for anything else (incl. `[[array]]`). */
function parseHeader(line: string): string[] | undefined {
  let rest = line.trim();
  if (!rest.startsWith("[") || rest.startsWith("[[")) return undefined;
  rest = rest.slice(1).trimStart();
  const keys: string[] = [];
  for (;;) {
    const match = BARE.exec(rest) ?? BASIC.exec(rest) ?? LITERAL.exec(rest);
    if (!match) return undefined;
    const token = match[0];
    if (token.startsWith('"')) {
      try {
        keys.push(JSON.parse(token) as string);
      } catch {
        return undefined;
      }
    } else if (token.startsWith("'")) keys.push(token.slice(1, -1));
    else keys.push(token);
    rest = rest.slice(match[0].length).trimStart();
    if (rest.startsWith(".")) {
      rest = rest.slice(1).trimStart();
      continue;
    }
    if (!rest.startsWith("]")) return undefined;
    rest = rest.slice(1).trim();
    return rest === "" || rest.startsWith("#") ? keys : undefined;
  }
}

/** Table header lines outside multi-line strings. */
function headerLines(lines: readonly string[]): HeaderLine[] {
  const headers: HeaderLine[] = [];
  let inString: string | undefined;
  lines.forEach((line, index) => {
    if (inString === undefined) {
      const keys = parseHeader(line);
      if (keys) {
        headers.push({ index, keys });
        return;
      }
    }
    // Toggle on each multi-line string delimiter in the line (good enough; the result is verified).
    for (const match of line.matchAll(/"""|'''/g)) {
      if (inString === undefined) inString = match[0];
      else if (inString === match[0]) inString = undefined;
    }
  });
  return headers;
}

const sameKeys = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((k, i) => k === b[i]);

/** Indent of the first key line after the header, else the header's indent plus two spaces. */
function keyIndent(lines: readonly string[], header: HeaderLine): string {
  for (let i = header.index + 1; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    if (trimmed.startsWith("[")) break;
    return /^\s*/.exec(line)?.[0] ?? "";
  }
  return `${/^\s*/.exec(lines[header.index] ?? "")?.[0] ?? ""}  `;
}

function withoutKey(doc: Table, path: readonly string[], key: string): Table {
  const copy = structuredClone(doc);
  const table = lookup(copy, path);
  if (isTable(table)) delete table[key];
  // A table that only holds the injected key (or that the injection created) counts as absent.
  for (let depth = path.length; depth > 0; depth--) {
    const node = lookup(copy, path.slice(0, depth));
    const parent = lookup(copy, path.slice(0, depth - 1));
    if (isTable(node) && Object.keys(node).length === 0 && isTable(parent)) delete parent[path[depth - 1] as string];
    else break;
  }
  return copy;
}

/**
 * Returns `text` with `config_path = "<hostsDir>"` added to the registry table of `version`: on the
 * line of an empty `config_path = ""`, right after the table's header when it has one, else as a new
 * table at the end (or as a dotted key after the parent's header when the parent defines
 * `registry.*` with dotted keys, where a new header would be invalid). Every candidate is
 * parsed back and must differ from the original only by that key; a ConfigError when none does.
 */
export function injectConfigPath(text: string, version: ConfigVersion, hostsDir: string, file = "config.toml"): string {
  const table = REGISTRY_TABLE[version];
  const original = parse(text) as Table;
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const lines = text.split(/\r?\n/);
  const headers = headerLines(lines);
  const value = JSON.stringify(hostsDir);
  const candidates: string[] = [];
  const insertAfter = (header: HeaderLine, line: string): string => {
    const copy = [...lines];
    copy.splice(header.index + 1, 0, `${keyIndent(lines, header)}${line}`);
    return copy.join(eol);
  };
  const own = headers.find((h) => sameKeys(h.keys, table));
  const parent = headers.find((h) => sameKeys(h.keys, table.slice(0, -1)));
  // An empty value (`containerd config default` writes config_path = ""): fill it in on its line.
  const fillEmpty = (header: HeaderLine | undefined, key: RegExp): void => {
    if (!header) return;
    const next = headers.find((h) => h.index > header.index)?.index ?? lines.length;
    for (let i = header.index + 1; i < next; i++) {
      const match = key.exec(lines[i] ?? "");
      if (!match) continue;
      const copy = [...lines];
      copy[i] = `${match[1]}${value}${match[3]}`;
      candidates.push(copy.join(eol));
    }
  };
  fillEmpty(own, /^(\s*config_path\s*=\s*)(""|'')(\s*(?:#.*)?)$/);
  fillEmpty(parent, /^(\s*[A-Za-z0-9_-]+\s*\.\s*config_path\s*=\s*)(""|'')(\s*(?:#.*)?)$/);
  if (own) candidates.push(insertAfter(own, `config_path = ${value}`));
  else {
    const body = text === "" || text.endsWith("\n") ? text : `${text}${eol}`;
    const gap = body === "" || body.endsWith(`${eol}${eol}`) ? "" : eol;
    candidates.push(`${body}${gap}[${tomlKeyPath(table)}]${eol}  config_path = ${value}${eol}`);
    // A new table header is invalid when the parent already defines `registry.*` with dotted keys.
    if (parent) candidates.push(insertAfter(parent, `${table.at(-1)}.config_path = ${value}`));
  }
  const expected = withoutKey(original, table, "config_path");
  for (const candidate of candidates) {
    let doc: Table;
    try {
      doc = parse(candidate) as Table;
    } catch {
      continue;
    }
    if (lookup(doc, [...table, "config_path"]) !== hostsDir) continue;
    if (isDeepStrictEqual(withoutKey(doc, table, "config_path"), expected)) return candidate;
  }
  throw new ConfigError(
    `${file} defines [${tomlKeyPath(table)}] in a form this tool cannot edit safely; add config_path = ${value} to it yourself`,
  );
}

/** Writes `content` to `file` atomically: a temp file in the same directory renamed over it, keeping mode and owner. */
export async function writeFileAtomic(file: string, content: string, mode = 0o644): Promise<void> {
  let uid: number | undefined;
  let gid: number | undefined;
  try {
    const st = await stat(file);
    mode = st.mode & 0o7777;
    uid = st.uid;
    gid = st.gid;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const temp = join(dirname(file), `.${basename(file)}.d7y-${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
  const handle = await open(temp, "wx", mode);
  try {
    await handle.writeFile(content);
    await handle.chmod(mode);
    if (uid !== undefined && gid !== undefined && process.getuid?.() === 0) await chown(temp, uid, gid);
    await handle.sync();
    await handle.close();
    await rename(temp, file);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/** A version 2 config that only sets the registry config_path. */
export function minimalConfig(hostsDir: string): string {
  return `version = 2\n\n[${tomlKeyPath(REGISTRY_TABLE[2])}]\n  config_path = ${JSON.stringify(hostsDir)}\n`;
}

export interface EnsureConfigPathOptions {
  /** Add config_path when the config lacks it (creating a minimal config when the file is missing). */
  inject: boolean;
  /** The config_path to add (default /etc/containerd/certs.d). */
  hostsDir?: string;
}

export interface EnsureConfigPathResult {
  /** The directory hosts.toml files go in. */
  hostsDir: string;
  /** What happened: "found", "injected" or "created". */
  action: "found" | "injected" | "created";
  version: ConfigVersion;
  criDisabled: boolean;
  /** The config's `imports` (containerd merges them over it). */
  imports: string[];
}

async function writeConfig(file: string, content: string): Promise<void> {
  try {
    await mkdir(dirname(file), { recursive: true });
    await writeFileAtomic(file, content);
  } catch (error) {
    throw new ConfigError(`cannot write ${file}: ${firstLine((error as Error).message)}`);
  }
}

/** Finds (or with `inject`, adds) the CRI registry config_path of a containerd config file. */
export async function ensureConfigPath(
  file: string,
  options: EnsureConfigPathOptions,
): Promise<EnsureConfigPathResult> {
  let text: string | undefined;
  let target = file;
  // Only a path where nothing exists may be created. A symlink whose target is not reachable from here
  // (an absolute link out of the mounted directory, in an init container) must not be replaced by a
  // minimal config: that would wipe the node's real containerd settings at its next restart.
  let exists = true;
  try {
    await lstat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new ConfigError(`cannot read ${file}: ${firstLine((error as Error).message)}`);
    }
    exists = false;
  }
  if (exists) {
    try {
      target = await realpath(file);
      text = await readFile(target, "utf8");
    } catch (error) {
      throw new ConfigError(
        `cannot read ${file} (a symlink to a path not visible here?): ${firstLine((error as Error).message)}`,
      );
    }
  }
  const hostsDir = options.hostsDir ?? DEFAULT_HOSTS_DIR;
  if (text === undefined) {
    if (!options.inject) {
      throw new ConfigError(
        `${file} does not exist; pass --inject-config-path to create it with a registry config_path`,
      );
    }
    await writeConfig(file, minimalConfig(hostsDir));
    return { hostsDir, action: "created", version: 2, criDisabled: false, imports: [] };
  }
  const config = parseContainerdConfig(text, file);
  const header = `[${tomlKeyPath(config.table)}]`;
  if (config.conflicts.length > 0) throw new ConfigError(conflictMessage(file, config.conflicts));
  if (config.configPath !== undefined) {
    return {
      hostsDir: config.configPath,
      action: "found",
      version: config.version,
      criDisabled: config.criDisabled,
      imports: config.imports,
    };
  }
  if (!options.inject) {
    throw new ConfigError(
      `${file} sets no registry config_path in ${header}; pass --inject-config-path to add one (containerd must then be restarted)`,
    );
  }
  // Nothing in the file yet (only comments, say): make it a version 2 config rather than a version 1 one.
  const empty = Object.keys(parse(text)).length === 0;
  const edited = empty
    ? `${text}${text === "" || text.endsWith("\n") ? "" : "\n"}${minimalConfig(hostsDir)}`
    : injectConfigPath(text, config.version, hostsDir, file);
  await writeConfig(target, edited);
  return {
    hostsDir,
    action: "injected",
    version: empty ? 2 : config.version,
    criDisabled: config.criDisabled,
    imports: config.imports,
  };
}
