/** Errors the user can fix (bad flags, bad config, a busy port): one line, exit 2; anything else is a bug with a stack, exit 1. */
export function exitOnError(command: string, isUserError: (error: unknown) => boolean): (error: unknown) => never {
  return (error: unknown) => {
    // Commander already printed its own line (unknown flag, --help, --version).
    const commander = error as { code?: string; exitCode?: number };
    if (typeof commander.code === "string" && commander.code.startsWith("commander.")) {
      process.exit(commander.exitCode === 0 ? 0 : 2);
    }
    const message = error instanceof Error ? error.message : String(error);
    const user = isUserError(error) || commander.code === "EADDRINUSE" || commander.code === "EACCES";
    console.error(`${command}: ${message}`);
    if (!user) console.error((error as Error).stack);
    process.exit(user ? 2 : 1);
  };
}
