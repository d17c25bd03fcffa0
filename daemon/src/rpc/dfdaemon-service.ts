import { isAbsolute } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { contextFromHeaders, inSpan, SpanKind, tracerFor } from "@d7y/observability";
import { isSha256Digest, parseBlobPath, taskIdForDigest, taskIdForUrl } from "@d7y/proto";
import {
  type Piece,
  PieceSchema,
  type Task,
  TaskSchema,
  TaskState,
  TrafficType as TrafficTypeEnum,
} from "@d7y/proto/common/v1";
import {
  DeleteTaskResponseSchema,
  DfdaemonService,
  type DownloadResponse,
  DownloadResponseSchema,
  ListTasksResponseSchema,
} from "@d7y/proto/dfdaemon/v1";
import { toConnectError } from "@d7y/rpc";
import { DaemonError } from "../errors.js";
import type { ContentStore, PieceRecord, TaskRecord } from "../storage/index.js";
import type { TaskSpec } from "../task/task-download.js";
import type { TaskManager } from "../task/task-manager.js";

const TRACER = tracerFor("daemon");

export interface DfdaemonServiceDeps {
  tasks: TaskManager;
  content: ContentStore;
}

const TRAFFIC: Record<PieceRecord["trafficType"], TrafficTypeEnum> = {
  back_to_source: TrafficTypeEnum.BACK_TO_SOURCE,
  remote_peer: TrafficTypeEnum.REMOTE_PEER,
  local_peer: TrafficTypeEnum.LOCAL_PEER,
};

const STATE: Record<TaskRecord["status"], TaskState> = {
  running: TaskState.RUNNING,
  succeeded: TaskState.SUCCEEDED,
  failed: TaskState.FAILED,
};

export function pieceToProto(piece: PieceRecord): Piece {
  return create(PieceSchema, {
    number: piece.number,
    offset: BigInt(piece.offset),
    length: BigInt(piece.length),
    digest: piece.digest,
    trafficType: TRAFFIC[piece.trafficType],
    parentId: piece.parentId,
    costMs: BigInt(piece.costMs),
    createdAt: timestampFromMs(piece.createdAt),
  });
}

export function taskToProto(record: TaskRecord, pieces: PieceRecord[], readers: number, withPieces: boolean): Task {
  return create(TaskSchema, {
    id: record.id,
    url: record.url,
    digest: record.digest ?? "",
    state: STATE[record.status],
    contentLength: BigInt(record.contentLength),
    pieceLength: BigInt(record.pieceLength),
    pieceCount: record.pieceCount,
    finishedPieceCount: record.status === "succeeded" ? record.pieceCount : pieces.length,
    pieces: withPieces ? pieces.map(pieceToProto) : [],
    createdAt: timestampFromMs(record.createdAt),
    updatedAt: timestampFromMs(record.updatedAt),
    accessedAt: timestampFromMs(record.accessedAt),
    readers,
  });
}

/** Turns a Download request into a task spec: blob URLs are digest-addressed, other URLs by their filtered URL. */
export function specFromDownload(download: {
  url: string;
  digest: string;
  needBackToSource?: boolean;
  requestHeader: Record<string, string>;
  filteredQueryParams: string[];
}): TaskSpec {
  let url: URL;
  try {
    url = new URL(download.url);
  } catch {
    throw new DaemonError("invalid", `"${download.url}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new DaemonError("invalid", `unsupported scheme ${url.protocol} (http and https are supported)`);
  }
  if (download.digest && !isSha256Digest(download.digest)) {
    throw new DaemonError("invalid", `digest "${download.digest}" is not sha256:<64 hex>`);
  }
  let blob: ReturnType<typeof parseBlobPath>;
  try {
    blob = parseBlobPath(url.pathname);
  } catch (error) {
    throw new DaemonError("invalid", (error as Error).message);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(download.requestHeader)) headers[name.toLowerCase()] = value;
  const needBackToSource = download.needBackToSource ?? false;
  if (blob)
    return { id: taskIdForDigest(blob.digest), url: url.toString(), digest: blob.digest, headers, needBackToSource };
  const filtered = download.filteredQueryParams.length > 0 ? download.filteredQueryParams : undefined;
  return {
    id: taskIdForUrl(url.toString(), filtered ? { filteredQueryParams: filtered } : {}),
    url: url.toString(),
    ...(download.digest ? { digest: download.digest } : {}),
    headers,
    needBackToSource,
  };
}

/** Connect routes of the daemon's local API. Handlers are thin: domain errors map to codes here. */
export function dfdaemonRoutes(deps: DfdaemonServiceDeps) {
  return (router: ConnectRouter) => {
    router.service(DfdaemonService, {
      async *download(request, context) {
        const download = request.download;
        if (!download) throw toConnectError(new DaemonError("invalid", "download is required"));
        if (download.outputPath && !isAbsolute(download.outputPath)) {
          throw toConnectError(new DaemonError("invalid", `output path "${download.outputPath}" must be absolute`));
        }
        const began = Date.now();
        try {
          const spec = specFromDownload(download);
          // A preheat or seed trigger joins the caller's trace; the download it starts is a child.
          const handle = await inSpan(
            TRACER,
            "rpc Download",
            {
              kind: SpanKind.SERVER,
              parent: contextFromHeaders(context.requestHeader),
              attributes: { "http.url": spec.url, "d7y.task.id": spec.id },
            },
            () => deps.tasks.acquire(spec),
          );
          const record = handle.record;
          yield started(record, handle.kind === "complete");
          if (handle.kind === "downloading") {
            yield* progress(handle.download, context.signal);
          }
          if (download.outputPath) await deps.content.export(record.id, download.outputPath);
          yield create(DownloadResponseSchema, {
            response: {
              case: "finished",
              value: {
                taskId: record.id,
                contentLength: BigInt(record.contentLength),
                digest: record.digest ?? "",
                outputPath: download.outputPath,
                costMs: BigInt(Date.now() - began),
              },
            },
          });
        } catch (error) {
          throw toConnectError(error);
        }
      },
      async statTask(request) {
        const view = await deps.tasks.stat(request.taskId);
        if (!view) throw toConnectError(new DaemonError("not_found", `task ${request.taskId} not found`));
        return taskToProto(view.record, view.pieces, view.readers, request.withPieces);
      },
      async listTasks() {
        const records = await deps.tasks.list();
        return create(ListTasksResponseSchema, {
          tasks: records.map((record) => taskToProto(record, [], deps.tasks.readerCount(record.id), false)),
        });
      },
      async deleteTask(request) {
        try {
          const existed = await deps.tasks.delete(request.taskId);
          if (!existed) throw new DaemonError("not_found", `task ${request.taskId} not found`);
          return create(DeleteTaskResponseSchema, {});
        } catch (error) {
          throw toConnectError(error);
        }
      },
    });
  };
}

function started(record: TaskRecord, fromCache: boolean): DownloadResponse {
  return create(DownloadResponseSchema, {
    response: {
      case: "started",
      value: {
        taskId: record.id,
        contentLength: BigInt(record.contentLength),
        pieceLength: BigInt(record.pieceLength),
        pieceCount: record.pieceCount,
        fromCache,
      },
    },
  });
}

/** Streams a progress message per piece as the download stores it, then waits for verification. */
async function* progress(
  download: import("../task/task-download.js").TaskDownload,
  signal: AbortSignal,
): AsyncGenerator<DownloadResponse> {
  const queue: PieceRecord[] = [...download.pieces()];
  let wake: (() => void) | undefined;
  let finished = false;
  const onPiece = (piece: PieceRecord) => {
    queue.push(piece);
    wake?.();
  };
  download.on("piece", onPiece);
  download.done.then(
    () => {
      finished = true;
      wake?.();
    },
    () => {
      finished = true;
      wake?.();
    },
  );
  try {
    let finishedBytes = 0;
    while (!signal.aborted) {
      const piece = queue.shift();
      if (piece) {
        finishedBytes += piece.length;
        yield create(DownloadResponseSchema, {
          response: { case: "progress", value: { piece: pieceToProto(piece), finishedBytes: BigInt(finishedBytes) } },
        });
        continue;
      }
      if (finished) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
    await download.done;
  } finally {
    download.off("piece", onPiece);
  }
}
