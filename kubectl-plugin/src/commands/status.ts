import { D7yCommand, outputFlag } from "../base-command.js";
import { formatOutput, formatTable } from "../ui/table.js";

export default class Status extends D7yCommand {
  static override summary = "Health of the manager, its schedulers and seed peers";
  static override description = "Exits non-zero when the manager is down or unhealthy, or when no scheduler is active.";
  static override flags = { output: outputFlag };
  static override examples = ["kubectl d7y status --manager http://127.0.0.1:8080"];

  async run(): Promise<void> {
    const { flags } = await this.parse(Status);
    const client = await this.connectManager(flags);
    const healthy = await client.healthy();
    const [schedulers, seeds] = await Promise.all([client.listSchedulers(), client.listSeedPeers()]);
    const status = {
      manager: { url: client.baseUrl, healthy },
      schedulers: { active: schedulers.filter((s) => s.state === "active").length, registered: schedulers.length },
      seedPeers: { active: seeds.filter((s) => s.state === "active").length, registered: seeds.length },
    };
    this.print(
      formatOutput(flags.output, status, () =>
        formatTable(
          ["component", "state", "detail"],
          [
            ["manager", healthy ? "healthy" : "unhealthy", client.baseUrl],
            ["schedulers", `${status.schedulers.active} active`, `${status.schedulers.registered} registered`],
            ["seed peers", `${status.seedPeers.active} active`, `${status.seedPeers.registered} registered`],
          ],
        ),
      ),
    );
    if (!healthy) this.fail(`the manager at ${client.baseUrl} is not healthy`, 1);
    if (status.schedulers.active === 0) this.fail("no active scheduler", 1);
  }
}
