import { Code, ConnectError } from "@connectrpc/connect";
import { type ErrorKind, toConnectError } from "@d7y/rpc";
import type { z } from "zod";

/** Kinds of manager errors: the shared ones plus the REST-only ones. */
export type ManagerErrorKind = ErrorKind | "unauthorized" | "method_not_allowed" | "too_large";

/** A domain error: its kind decides the HTTP status or RPC code at the edge, never earlier. */
export class ManagerError extends Error {
  override name = "ManagerError";
  constructor(
    readonly kind: ManagerErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function invalid(message: string): ManagerError {
  return new ManagerError("invalid", message);
}

/** A validation failure as one line naming every problem with its field path, e.g. `args.url: required`. */
export function invalidInput(error: z.ZodError, prefix: readonly string[] = []): ManagerError {
  const problems = error.issues.map((issue) => {
    const path = [...prefix, ...issue.path.map(String)].join(".");
    return path ? `${path}: ${issue.message}` : issue.message;
  });
  return invalid(problems.join("; "));
}

export function notFound(message: string): ManagerError {
  return new ManagerError("not_found", message);
}

const HTTP_STATUS: Record<ManagerErrorKind, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  too_large: 413,
  internal: 500,
  upstream: 502,
  unavailable: 503,
};

/** The HTTP status of an error: its kind's, or 500 for anything that is not a ManagerError. */
export function httpStatusOf(error: unknown): number {
  return error instanceof ManagerError ? HTTP_STATUS[error.kind] : 500;
}

/** Maps any error to a ConnectError; unknown errors become Internal. */
export function toManagerConnectError(error: unknown): ConnectError {
  if (error instanceof ManagerError) {
    if (error.kind === "unauthorized") return new ConnectError(error.message, Code.Unauthenticated);
    if (error.kind === "method_not_allowed" || error.kind === "too_large") {
      return new ConnectError(error.message, Code.InvalidArgument);
    }
  }
  return toConnectError(error);
}
