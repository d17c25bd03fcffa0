import { isIP } from "node:net";
import { z } from "zod";
import { PREHEAT_DEFAULTS } from "../config.js";
import { manifestUrl, parseImageLocation } from "../oci/image-reference.js";
import { timeoutSeconds } from "./preheat-timeout.js";

export const PREHEAT_SCOPES = ["single_seed_peer", "all_seed_peers", "all_peers"] as const;
export type PreheatScope = (typeof PREHEAT_SCOPES)[number];

/** Older names of scopes (Harbor's "single_peer"). */
const SCOPE_ALIASES: Record<string, PreheatScope> = { single_peer: "single_seed_peer" };

/** Normalized preheat arguments (defaults filled in), stored with the job and returned by the API. */
export interface PreheatArgs {
  type: "image" | "file";
  /** image: the manifest URL (an image reference is turned into one). */
  url?: string;
  /** file: the URLs to preheat. */
  urls?: string[];
  scope: PreheatScope;
  /** image: os/arch[/variant] picked from an index. */
  platform?: string;
  username?: string;
  password?: string;
  headers?: Record<string, string>;
  /** Seconds; bounds the whole job. */
  timeout: number;
  concurrent_task_count: number;
  concurrent_peer_count: number;
  /** "&"-joined query keys left out of file task ids (the daemons' defaults when absent). */
  filtered_query_params?: string;
  tag?: string;
  application?: string;
  piece_length?: number;
  /** Host selection for all_seed_peers / all_peers: ips first, then count, then percentage. */
  ips?: string[];
  count?: number;
  percentage?: number;
}

/** Go clients send zero values for fields they do not set: "", 0 and null mean absent. */
const unset = (value: unknown) => (value === "" || value === 0 || value === null ? undefined : value);
const text = (max: number) => z.preprocess(unset, z.string().max(max).optional());
const integer = (min: number, max: number) => z.preprocess(unset, z.number().int().min(min).max(max).optional());

const PLATFORM = /^[a-z0-9_.-]+\/[a-z0-9_.-]+(?:\/[a-z0-9_.-]+)?$/;

const argsInputSchema = z.object(
  {
    type: z.enum(["image", "file"], { error: 'must be "image" or "file"' }),
    url: text(8192),
    urls: z.preprocess(unset, z.array(z.string().min(1).max(8192)).max(PREHEAT_DEFAULTS.maxUrls).optional()),
    scope: z.preprocess(
      (value) => (typeof value === "string" ? (SCOPE_ALIASES[value] ?? unset(value)) : unset(value)),
      z.enum(PREHEAT_SCOPES, { error: `must be one of ${PREHEAT_SCOPES.join(", ")}` }).default(PREHEAT_DEFAULTS.scope),
    ),
    platform: z.preprocess(
      unset,
      z
        .string()
        .regex(PLATFORM, "must be os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8")
        .default(PREHEAT_DEFAULTS.platform),
    ),
    username: text(1024),
    password: text(4096),
    headers: z.preprocess(unset, z.record(z.string().min(1).max(256), z.string().max(8192)).optional()),
    timeout: z.union([z.number(), z.string(), z.null()]).optional(),
    concurrent_task_count: integer(1, PREHEAT_DEFAULTS.maxConcurrentTaskCount),
    concurrent_peer_count: integer(1, PREHEAT_DEFAULTS.maxConcurrentPeerCount),
    /** Harbor's name of concurrent_peer_count. */
    concurrent_count: integer(1, PREHEAT_DEFAULTS.maxConcurrentPeerCount),
    filtered_query_params: z.preprocess(
      unset,
      z.union([z.string().max(4096), z.array(z.string().max(256))]).optional(),
    ),
    /** The camelCase spelling some Dragonfly documents use. */
    filteredQueryParams: z.preprocess(unset, z.union([z.string().max(4096), z.array(z.string().max(256))]).optional()),
    tag: text(256),
    application: text(256),
    piece_length: integer(PREHEAT_DEFAULTS.minPieceLength, PREHEAT_DEFAULTS.maxPieceLength),
    ips: z.preprocess(
      unset,
      z
        .array(z.string().refine((ip) => isIP(ip) !== 0, "must be an IP address"))
        .max(100)
        .optional(),
    ),
    count: integer(1, 200),
    percentage: integer(1, 100),
  },
  { error: (issue) => (issue.input === undefined ? "required" : "must be an object") },
);

type ArgsInput = z.output<typeof argsInputSchema>;

function joinParams(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const keys = (typeof value === "string" ? value.split("&") : value).map((key) => key.trim()).filter(Boolean);
  return keys.length > 0 ? keys.join("&") : undefined;
}

function checkFileUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${url}" is not a URL`;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return `"${url}" must be http or https`;
  return undefined;
}

function normalize(input: ArgsInput, ctx: z.RefinementCtx): PreheatArgs {
  // Filled in below, in the order the API shows the keys.
  const args = { type: input.type } as PreheatArgs;
  if (input.type === "image") {
    if (input.urls !== undefined) {
      ctx.addIssue({ code: "custom", path: ["urls"], message: "is for file preheat; an image takes url" });
    }
    if (input.url === undefined) {
      ctx.addIssue({ code: "custom", path: ["url"], message: "required for image preheat" });
    } else {
      try {
        args.url = manifestUrl(parseImageLocation(input.url));
      } catch (error) {
        ctx.addIssue({ code: "custom", path: ["url"], message: (error as Error).message });
      }
    }
    args.platform = input.platform;
  } else {
    const urls = [...(input.urls ?? []), ...(input.url === undefined ? [] : [input.url])];
    if (urls.length === 0) ctx.addIssue({ code: "custom", path: ["urls"], message: "required for file preheat" });
    urls.forEach((url, index) => {
      const problem = checkFileUrl(url);
      if (problem) ctx.addIssue({ code: "custom", path: input.urls ? ["urls", index] : ["url"], message: problem });
    });
    args.urls = [...new Set(urls)];
  }
  args.scope = input.scope;
  try {
    args.timeout = timeoutSeconds(input.timeout);
  } catch (error) {
    ctx.addIssue({ code: "custom", path: ["timeout"], message: (error as Error).message });
  }
  args.concurrent_task_count = input.concurrent_task_count ?? PREHEAT_DEFAULTS.concurrentTaskCount;
  args.concurrent_peer_count =
    input.concurrent_peer_count ?? input.concurrent_count ?? PREHEAT_DEFAULTS.concurrentPeerCount;
  const optional = {
    username: input.username,
    password: input.password,
    headers: input.headers,
    filtered_query_params: joinParams(input.filtered_query_params ?? input.filteredQueryParams),
    tag: input.tag,
    application: input.application,
    piece_length: input.piece_length,
    ips: input.ips,
    count: input.count,
    percentage: input.percentage,
  };
  for (const [key, value] of Object.entries(optional)) {
    if (value !== undefined) (args as unknown as Record<string, unknown>)[key] = value;
  }
  return args;
}

/**
 * Dragonfly's PreheatArgs, validated and normalized. Unknown keys are ignored (Dragonfly's console and
 * Harbor send fields of their own); Go zero values ("", 0, null) mean "not set".
 */
export const preheatArgsSchema = argsInputSchema.transform(normalize);
