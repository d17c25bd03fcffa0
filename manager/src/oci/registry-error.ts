import { STATUS_CODES } from "node:http";

/** The registry (or its token service) answered with an error: its status and its own words are kept. */
export class RegistryError extends Error {
  override name = "RegistryError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_DETAIL = 300;

/** The registry's explanation: the messages of an OCI error body (`{"errors":[{code,message}]}`), or its text. */
export function registryDetail(body: Buffer): string {
  const text = body.toString("utf8", 0, Math.min(body.length, 16 * 1024)).trim();
  try {
    const parsed = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }>; details?: unknown };
    if (Array.isArray(parsed.errors) && parsed.errors.length > 0) {
      return parsed.errors
        .slice(0, 5)
        .map((error) => [error.message, error.code && `(${error.code})`].filter(Boolean).join(" "))
        .join("; ");
    }
  } catch {
    // Not JSON: the text itself.
  }
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}...` : text;
}

/** e.g. `GET https://r/v2/x/manifests/1: 401 Unauthorized: authentication required (UNAUTHORIZED)`. */
export function registryError(what: string, status: number, body: Buffer): RegistryError {
  const reason = STATUS_CODES[status] ?? "";
  const detail = registryDetail(body);
  return new RegistryError(status, `${what}: ${status} ${reason}${detail ? `: ${detail}` : ""}`.trim());
}
