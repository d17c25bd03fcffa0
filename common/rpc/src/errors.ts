import { Code, ConnectError } from "@connectrpc/connect";

/** Domain errors carry a kind; only handlers turn them into RPC codes, through this table. */
export type ErrorKind = "invalid" | "not_found" | "forbidden" | "unavailable" | "conflict" | "internal" | "upstream";

const CODES: Record<ErrorKind, Code> = {
  invalid: Code.InvalidArgument,
  not_found: Code.NotFound,
  forbidden: Code.PermissionDenied,
  unavailable: Code.Unavailable,
  conflict: Code.AlreadyExists,
  internal: Code.Internal,
  upstream: Code.Unavailable,
};

export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  const kind = (error as { kind?: ErrorKind }).kind;
  const message = error instanceof Error ? error.message : String(error);
  return new ConnectError(message, kind ? CODES[kind] : Code.Internal, undefined, undefined, error);
}
