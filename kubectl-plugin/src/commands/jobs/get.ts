import { Args } from "@oclif/core";
import { createElement } from "react";
import { D7yCommand, outputFlag } from "../../base-command.js";
import { UserError } from "../../services/errors.js";
import { JobProgress } from "../../ui/preheat-progress.js";
import { renderFrame } from "../../ui/render.js";
import { formatOutput } from "../../ui/table.js";

export default class JobsGet extends D7yCommand {
  static override summary = "Show one job, with its per-layer and per-host result";
  static override args = { id: Args.string({ description: "job id", required: true }) };
  static override flags = { output: outputFlag };
  static override examples = ["kubectl d7y jobs get 12", "kubectl d7y jobs get 12 -o yaml"];

  async run(): Promise<void> {
    const { args, flags } = await this.parse(JobsGet);
    if (!/^[1-9]\d*$/.test(args.id)) throw new UserError(`invalid job id "${args.id}" (a positive integer)`);
    const job = await (await this.connectManager(flags)).getJob(Number(args.id));
    this.print(
      formatOutput(flags.output, job, () =>
        renderFrame(createElement(JobProgress, { image: job.args.url ?? job.args.urls?.join(",") ?? "", job })),
      ),
    );
  }
}
