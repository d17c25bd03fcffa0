/** Why a running job was aborted: its timeout passed, it was deleted, or the manager is stopping. */
export class JobAbort extends Error {
  override name = "JobAbort";
  constructor(
    readonly kind: "timeout" | "cancelled" | "stopping",
    message: string,
  ) {
    super(message);
  }
}
