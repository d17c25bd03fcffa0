import { Args, Flags } from "@oclif/core";
import { type ConnectionFlags, D7yCommand, outputFlag } from "../../base-command.js";
import { manifestUrl, parseImageReference } from "../../services/image-reference.js";
import type { ImageLayer } from "../../services/manager-client.js";
import { blobDigest, piecesFrom, type TaskView } from "../../services/task-view.js";
import { formatBytes, formatOutput, formatTable, type OutputFormat } from "../../ui/table.js";

/** One blob of an image with its task (null: not cached anywhere). */
export interface ImageLayerTask extends ImageLayer {
  task: TaskView | null;
}

function peersTable(task: TaskView): string {
  const total = task.piece_count;
  return formatTable(
    ["host", "state", "pieces", "from"],
    task.peers.map((peer) => [
      peer.hostname || peer.host_id,
      peer.state,
      `${peer.finished_pieces.length}/${total || "?"}`,
      piecesFrom(peer, task.peers),
    ]),
  );
}

export default class TaskGet extends D7yCommand {
  static override summary = "Which hosts hold which pieces of a task (a blob or every layer of an image)";
  static override description =
    "TARGET is a blob digest (sha256:<64 hex> or 64 hex) or an image reference (host/repo[:tag|@sha256:...]). " +
    "For an image the manager resolves its layers (config included) and each is shown with the hosts holding it.";
  static override args = {
    target: Args.string({ description: "blob digest (sha256:...) or image reference (host/repo:tag)", required: true }),
  };
  static override flags = {
    output: outputFlag,
    platform: Flags.string({ description: "platform of the image, os/arch[/variant]", default: "linux/amd64" }),
    "plain-http": Flags.boolean({ description: "the registry speaks plain http (local test registries)" }),
  };
  static override examples = [
    "kubectl d7y task get sha256:4f...e1",
    "kubectl d7y task get sha256:4f...e1 -o json",
    "kubectl d7y task get ghcr.io/org/app:1.0 --platform linux/arm64",
  ];

  async run(): Promise<void> {
    const { args, flags } = await this.parse(TaskGet);
    const digest = blobDigest(args.target);
    if (!digest) {
      await this.showImage(args.target, flags);
      return;
    }
    const task = await (await this.connectManager(flags)).getTask(digest);
    this.print(formatOutput(flags.output, task, () => peersTable(task)));
  }

  private async showImage(
    image: string,
    flags: ConnectionFlags & { output: OutputFormat; platform: string; "plain-http": boolean },
  ): Promise<void> {
    const url = manifestUrl(parseImageReference(image, { plainHttp: flags["plain-http"] }));
    const client = await this.connectManager(flags);
    const resolved = await client.getImageLayers({ url, platform: flags.platform });
    const layers: ImageLayerTask[] = await Promise.all(
      resolved.layers.map(async (layer) => ({ ...layer, task: (await client.findTask(layer.digest)) ?? null })),
    );
    const result = { ...resolved, layers };
    this.print(
      formatOutput(flags.output, result, () =>
        layers
          .map((layer) => {
            const what = [
              layer.config ? "config" : "layer",
              layer.digest,
              formatBytes(layer.size),
              layer.media_type ?? "",
            ].filter(Boolean);
            const head = `${what.join("  ")}\n`;
            return layer.task ? head + peersTable(layer.task) : `${head}  not cached anywhere\n`;
          })
          .join("\n"),
      ),
    );
  }
}
