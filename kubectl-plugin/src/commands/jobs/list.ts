import { Flags } from "@oclif/core";
import { D7yCommand, outputFlag } from "../../base-command.js";
import type { Job, JobState } from "../../services/manager-client.js";
import { formatOutput, formatTable } from "../../ui/table.js";

/** ID TYPE STATE CREATED URL, newest first. */
export function jobsTable(jobs: readonly Job[]): string {
  return formatTable(
    ["id", "type", "state", "created", "url"],
    jobs.map((job) => [job.id, job.type, job.state, job.created_at, job.args.url ?? job.args.urls?.join(",") ?? ""]),
  );
}

export default class JobsList extends D7yCommand {
  static override summary = "List jobs, newest first";
  static override flags = {
    output: outputFlag,
    limit: Flags.integer({ description: "at most this many jobs", default: 50, min: 1, max: 1000 }),
    state: Flags.option({
      description: "only jobs in this state",
      options: ["PENDING", "STARTED", "SUCCESS", "FAILURE"] as const,
    })(),
  };
  static override examples = ["kubectl d7y jobs list", "kubectl d7y jobs list --state FAILURE -o json"];

  async run(): Promise<void> {
    const { flags } = await this.parse(JobsList);
    const jobs = await (await this.connectManager(flags)).listJobs({
      limit: flags.limit,
      ...(flags.state ? { state: flags.state as JobState } : {}),
    });
    this.print(formatOutput(flags.output, jobs, () => (jobs.length === 0 ? "No jobs." : jobsTable(jobs))));
  }
}
