import { Args } from "@oclif/core";
import { D7yCommand, outputFlag } from "../../base-command.js";
import { UserError } from "../../services/errors.js";
import { blobDigest, piecesFrom } from "../../services/task-view.js";
import { formatOutput, formatTable } from "../../ui/table.js";

export default class TaskGet extends D7yCommand {
  static override summary = "Which hosts hold which pieces of a task, and where they got them";
  static override description =
    "DIGEST is a blob digest (sha256:<64 hex> or 64 hex). For an image, run kubectl d7y jobs get ID to see a preheated image's layers.";
  static override args = { digest: Args.string({ description: "blob digest (sha256:...)", required: true }) };
  static override flags = { output: outputFlag };
  static override examples = ["kubectl d7y task get sha256:4f...e1", "kubectl d7y task get sha256:4f...e1 -o json"];

  async run(): Promise<void> {
    const { args, flags } = await this.parse(TaskGet);
    const digest = blobDigest(args.digest);
    if (!digest) {
      throw new UserError(
        "task get takes a blob digest; run kubectl d7y jobs get ID to see a preheated image's layers",
      );
    }
    const task = await (await this.connectManager(flags)).getTask(digest);
    const total = task.piece_count;
    this.print(
      formatOutput(flags.output, task, () =>
        formatTable(
          ["host", "state", "pieces", "from"],
          task.peers.map((peer) => [
            peer.hostname || peer.host_id,
            peer.state,
            `${peer.finished_pieces.length}/${total || "?"}`,
            piecesFrom(peer, task.peers),
          ]),
        ),
      ),
    );
  }
}
