/**
 * A problem the user can fix (bad input, manager unreachable, unknown record, HTTP 4xx): the CLI prints its
 * message as one line and exits with `exitCode`. Anything else is a bug and is printed with its stack.
 */
export class UserError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = "UserError";
    this.exitCode = exitCode;
  }
}

/** The manager answered with an error status; `message` is the manager's own words. */
export class ManagerHttpError extends UserError {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = "ManagerHttpError";
    this.status = status;
  }
}

/** The manager could not be reached at all (refused, unknown host, timeout). */
export class ManagerUnreachableError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = "ManagerUnreachableError";
  }
}
