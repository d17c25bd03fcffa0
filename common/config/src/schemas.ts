import { z } from "zod";
import { parseByteSize, parseDuration } from "./units.js";

function unitSchema(parse: (value: string | number) => number, unit: string, min: number, max: number) {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    let parsed: number;
    try {
      parsed = parse(value);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
    if (parsed < min || parsed > max) {
      ctx.addIssue({
        code: "custom",
        message: `must be between ${min}${unit} and ${max}${unit}, got ${parsed}${unit}`,
      });
      return z.NEVER;
    }
    return parsed;
  });
}

/** A duration ("500ms", "5m", or milliseconds) as milliseconds, within [min, max]. */
export function durationSchema(min = 0, max = Number.MAX_SAFE_INTEGER) {
  return unitSchema(parseDuration, "ms", min, max);
}

/** A byte size ("512MiB", "10GB", or bytes) as bytes, within [min, max]. */
export function byteSizeSchema(min = 0, max = Number.MAX_SAFE_INTEGER) {
  return unitSchema(parseByteSize, " bytes", min, max);
}
