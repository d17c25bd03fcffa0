import { Args, Flags } from "@oclif/core";
import { createElement } from "react";
import { D7yCommand, outputFlag } from "../base-command.js";
import { parseDuration } from "../services/duration.js";
import { UserError } from "../services/errors.js";
import { manifestUrl, parseImageReference } from "../services/image-reference.js";
import type { Job, PreheatScope } from "../services/manager-client.js";
import { type PreheatItem, PreheatProgress } from "../ui/preheat-progress.js";
import { formatOutput } from "../ui/table.js";
import { jobsTable } from "./jobs/list.js";

const POLL_MS = 500;
/** How long past the job's own timeout the CLI keeps waiting for the manager to record the outcome. */
const WAIT_GRACE_MS = 60_000;
/** The manager's default job timeout. */
const DEFAULT_JOB_TIMEOUT_MS = 3_600_000;

export default class Preheat extends D7yCommand {
  static override summary = "Preheat images: the seed peers download them before any node pulls";
  static override description =
    "Creates one preheat job per image on the manager and, unless --no-wait, shows its progress per layer and " +
    "host until it ends. Exits 0 when every job succeeds, 1 with the reason when one fails.";
  static override strict = false;
  static override args = {
    image: Args.string({ description: "image reference: host/repo[:tag|@sha256:...]", required: true }),
  };
  static override flags = {
    platform: Flags.string({
      description: "os/arch[/variant] to pick from a multi-platform image",
      default: "linux/amd64",
    }),
    scope: Flags.option({
      description: "which hosts download the image",
      options: ["single_seed_peer", "all_seed_peers", "all_peers"] as const,
      default: "single_seed_peer" as const,
    })(),
    username: Flags.string({ description: "registry username" }),
    "password-stdin": Flags.boolean({ description: "read the registry password from stdin", dependsOn: ["username"] }),
    "no-wait": Flags.boolean({ description: "create the jobs and print them without waiting" }),
    timeout: Flags.string({ description: "bound of each job, e.g. 30m (default: the manager's, 1h)" }),
    "plain-http": Flags.boolean({ description: "the registry speaks plain http (local test registries)" }),
    output: outputFlag,
  };
  static override examples = [
    "kubectl d7y preheat --manager http://127.0.0.1:8080 ghcr.io/org/app:1.0",
    "kubectl d7y preheat ghcr.io/org/app:1.0 --scope all_seed_peers --platform linux/arm64 --timeout 30m",
    "echo $TOKEN | kubectl d7y preheat registry.example:5000/team/app:2.1 --username ci --password-stdin",
  ];

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Preheat);
    const images = argv as string[];
    const urls = images.map((image) => manifestUrl(parseImageReference(image, { plainHttp: flags["plain-http"] })));
    const timeoutMs = flags.timeout === undefined ? DEFAULT_JOB_TIMEOUT_MS : parseDuration(flags.timeout, "--timeout");
    const password = flags["password-stdin"] ? await readPassword() : undefined;
    const client = await this.connectManager(flags);

    const items: PreheatItem[] = [];
    for (const [i, url] of urls.entries()) {
      const job = await client.createPreheatJob({
        url,
        platform: flags.platform,
        scope: flags.scope as PreheatScope,
        ...(flags.username !== undefined ? { username: flags.username } : {}),
        ...(password !== undefined ? { password } : {}),
        ...(flags.timeout !== undefined ? { timeout: flags.timeout } : {}),
      });
      items.push({ image: images[i] ?? url, job });
    }
    if (flags["no-wait"]) {
      const jobs = items.map((item) => item.job);
      this.print(formatOutput(flags.output, jobs, () => jobsTable(jobs)));
      return;
    }

    const live = flags.output === "table";
    const view = live ? (await import("../ui/render.js")).mountLive() : undefined;
    const deadline = Date.now() + timeoutMs + WAIT_GRACE_MS;
    view?.update(createElement(PreheatProgress, { items }));
    while (items.some((item) => !isFinished(item.job))) {
      if (Date.now() > deadline) {
        throw new UserError(
          `gave up waiting: the manager has not finished the jobs ${WAIT_GRACE_MS / 1000}s past --timeout`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      for (const item of items) {
        if (!isFinished(item.job)) item.job = await client.getJob(item.job.id);
      }
      view?.update(createElement(PreheatProgress, { items: [...items] }));
    }
    await view?.finish(createElement(PreheatProgress, { items: [...items] }));
    if (!live) {
      const jobs = items.map((item) => item.job);
      this.print(formatOutput(flags.output, jobs, () => ""));
    }
    const failed = items.filter((item) => item.job.state === "FAILURE");
    if (failed.length > 0) {
      const reasons = failed.map((item) => `job ${item.job.id} (${item.image}): ${item.job.result?.error ?? "failed"}`);
      this.fail(`preheat failed: ${reasons.join("; ")}`, 1);
    }
  }
}

function isFinished(job: Job): boolean {
  return job.state === "SUCCESS" || job.state === "FAILURE";
}

async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) throw new UserError("--password-stdin: pipe the password in (stdin is a terminal)");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
  if (password === "") throw new UserError("--password-stdin: stdin was empty");
  return password;
}
