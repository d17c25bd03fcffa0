import type { ErrorKind } from "@d7y/rpc";

/** A domain error: its kind decides the HTTP status and RPC code at the edge, never earlier. */
export class DaemonError extends Error {
  override name = "DaemonError";
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The origin answered with a status we pass back to the client unchanged (e.g. 401 with WWW-Authenticate). */
export class UpstreamResponseError extends DaemonError {
  override name = "UpstreamResponseError";
  constructor(
    readonly status: number,
    readonly headers: Record<string, string | string[]>,
    readonly body: Buffer,
    url: string,
  ) {
    super("upstream", `upstream answered ${status} for ${url}`);
  }
}

const HTTP_STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  not_found: 404,
  forbidden: 403,
  conflict: 409,
  unavailable: 503,
  upstream: 502,
  internal: 500,
};

export function httpStatusOf(error: unknown): number {
  if (error instanceof UpstreamResponseError) return error.status;
  if (error instanceof DaemonError) return HTTP_STATUS[error.kind];
  return 500;
}
