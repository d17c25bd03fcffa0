import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Reads a YAML file into a plain object. A missing or malformed file is a ConfigError with one clear line. */
export function readYamlFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(error as Error).message.split("\n")[0]}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new ConfigError(`config file ${path} must be a mapping`);
  return value as Record<string, unknown>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Deep merge: later layers win; arrays and scalars replace; undefined never overrides. */
export function mergeLayers(...layers: Array<Record<string, unknown> | undefined>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      const current = result[key];
      result[key] = isPlainObject(current) && isPlainObject(value) ? mergeLayers(current, value) : value;
    }
  }
  return result;
}

/** Sets `a.b.c` in a nested object (used to turn flags into a config layer). */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (!isPlainObject(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

/** Validates merged layers against a zod schema; every problem is reported with its path. */
export function validateConfig<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
  }
  return result.data;
}

/**
 * Takes Dragonfly's top-level `verbose` key out of a config file layer (the schemas are strict and do not
 * know it): `verbose: true` becomes `logLevel: debug` unless the file sets `logLevel` itself.
 */
export function applyFileVerbose(file: Record<string, unknown>): Record<string, unknown> {
  if (!("verbose" in file)) return file;
  const { verbose, ...rest } = file;
  if (verbose === undefined || verbose === null) return rest;
  if (typeof verbose !== "boolean") {
    throw new ConfigError(`invalid configuration: verbose: expected a boolean, got ${JSON.stringify(verbose)}`);
  }
  if (verbose && rest.logLevel === undefined) rest.logLevel = "debug";
  return rest;
}

/**
 * The config of a command: the YAML file named by `options.config` (if any), overridden by the flags
 * that map onto config paths (`flagPaths`: option name -> dotted path), `--verbose` meaning debug logs,
 * validated against the schema. A file's `verbose: true` (Dragonfly's key) means debug logs unless the
 * file or a flag sets `logLevel`.
 */
export function configFromOptions<S extends z.ZodType>(
  schema: S,
  options: Record<string, unknown>,
  flagPaths: Record<string, string>,
): z.output<S> {
  const flags: Record<string, unknown> = {};
  for (const [name, path] of Object.entries(flagPaths)) {
    if (options[name] !== undefined) setPath(flags, path, options[name]);
  }
  if (options.verbose) flags.logLevel = "debug";
  const file = typeof options.config === "string" ? applyFileVerbose(readYamlFile(options.config)) : {};
  return validateConfig(schema, mergeLayers(file, flags));
}
