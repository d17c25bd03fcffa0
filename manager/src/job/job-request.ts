import { z } from "zod";
import { invalid, invalidInput } from "../errors.js";
import { JOB_TYPES, type JobType } from "../storage/records.js";
import { type PreheatArgs, preheatArgsSchema } from "./preheat-args.js";

/** A validated `POST /jobs` body. */
export interface JobRequest {
  type: JobType;
  args: PreheatArgs;
  bio: string;
  userId: number;
  /** Empty: every cluster. */
  schedulerClusterIds: number[];
}

const clusterIds = z.array(z.number().int().min(1, "must be cluster ids (positive integers)")).max(1000);

const envelopeSchema = z.object(
  {
    type: z.string({ error: (issue) => (issue.input === undefined ? "required" : "must be a string") }),
    args: z.unknown().optional(),
    bio: z.string().max(1024).nullish(),
    user_id: z.number().int().min(0).nullish(),
    scheduler_cluster_ids: clusterIds.nullish(),
  },
  { error: "the body must be a JSON object" },
);

/** Validates a job creation body; throws ManagerError("invalid") with a message naming the field. */
export function parseJobRequest(body: unknown): JobRequest {
  const envelope = envelopeSchema.safeParse(body);
  if (!envelope.success) throw invalidInput(envelope.error);
  const { type } = envelope.data;
  if (!(JOB_TYPES as readonly string[]).includes(type)) {
    throw invalid(`type: unsupported job type "${type}" (supported: ${JOB_TYPES.join(", ")})`);
  }
  if (envelope.data.args === undefined || envelope.data.args === null) throw invalid("args: required");
  const args = preheatArgsSchema.safeParse(envelope.data.args);
  if (!args.success) throw invalidInput(args.error, ["args"]);
  // Some Dragonfly documents put scheduler_cluster_ids inside args.
  let ids = envelope.data.scheduler_cluster_ids ?? [];
  const nested = (envelope.data.args as { scheduler_cluster_ids?: unknown }).scheduler_cluster_ids;
  if (ids.length === 0 && nested !== undefined && nested !== null) {
    const parsed = clusterIds.safeParse(nested);
    if (!parsed.success) throw invalidInput(parsed.error, ["args", "scheduler_cluster_ids"]);
    ids = parsed.data;
  }
  return {
    type: type as JobType,
    args: args.data,
    bio: envelope.data.bio ?? "",
    userId: envelope.data.user_id ?? 0,
    schedulerClusterIds: [...new Set(ids)],
  };
}
