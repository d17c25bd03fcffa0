import { parseDuration } from "@d7y/config";
import { PREHEAT_DEFAULTS } from "../config.js";

const MIN_SECONDS = 1;
const MAX_SECONDS = 7 * 24 * 3600;
/** A number this large cannot be seconds: it is a Go time.Duration in nanoseconds (what Dragonfly and Harbor send). */
const NANOSECONDS_FROM = 1e9;

/**
 * A preheat timeout in seconds from what clients send: a number of seconds, a Go time.Duration number of
 * nanoseconds (>= 1e9), a numeric string (seconds) or a duration string ("30m", "1h30m", "90s").
 * 0, "" and absent mean the default. Throws a TypeError naming the problem.
 */
export function timeoutSeconds(value: number | string | undefined | null): number {
  if (value === undefined || value === null || value === 0 || value === "") return PREHEAT_DEFAULTS.timeoutSeconds;
  let seconds: number;
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) throw new TypeError(`invalid timeout ${value}`);
    seconds = value >= NANOSECONDS_FROM ? value / 1e9 : value;
  } else if (/^\s*\d+(?:\.\d+)?\s*$/.test(value)) {
    seconds = Number(value);
  } else {
    try {
      seconds = parseDuration(value) / 1000;
    } catch {
      throw new TypeError(`invalid timeout "${value}" (seconds, or a duration like 30m, 1h30m, 90s)`);
    }
  }
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS) {
    throw new TypeError(`timeout must be between ${MIN_SECONDS}s and ${MAX_SECONDS}s (7 days), got ${seconds}s`);
  }
  return seconds;
}
