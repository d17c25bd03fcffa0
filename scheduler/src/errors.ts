import { Code, ConnectError } from "@connectrpc/connect";
import { type ErrorKind, toConnectError } from "@d7y/rpc";

/** Kinds of scheduler errors: the shared ones plus "precondition" (e.g. a peer of a host never announced). */
export type SchedulerErrorKind = ErrorKind | "precondition";

/** A domain error: its kind decides the RPC code at the handler edge, never earlier. */
export class SchedulerError extends Error {
  override name = "SchedulerError";
  constructor(
    readonly kind: SchedulerErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function invalid(message: string): SchedulerError {
  return new SchedulerError("invalid", message);
}

/** Maps any error to a ConnectError; unknown errors become Internal. */
export function toSchedulerConnectError(error: unknown): ConnectError {
  if (error instanceof SchedulerError && error.kind === "precondition") {
    return new ConnectError(error.message, Code.FailedPrecondition, undefined, undefined, error);
  }
  return toConnectError(error);
}
