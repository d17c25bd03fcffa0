import { Readable } from "node:stream";
import { pieceSpan, piecesCovering } from "@d7y/proto";
import type { ContentStore } from "../storage/index.js";
import type { TaskHandle } from "./task-manager.js";

/** Bytes [start, end] (inclusive) of a task as a stream: from disk when complete, else as pieces land. */
export function readTask(handle: TaskHandle, content: ContentStore, start: number, end: number): Readable {
  if (handle.kind === "complete" || end < start) {
    if (end < start) return Readable.from([]);
    return content.createReadStream(handle.record.id, start, end);
  }
  return Readable.from(streamWhileDownloading(handle, start, end), { objectMode: false });
}

async function* streamWhileDownloading(
  handle: Extract<TaskHandle, { kind: "downloading" }>,
  start: number,
  end: number,
): AsyncGenerator<Buffer> {
  const { download, record } = handle;
  const { first, last } = piecesCovering(start, end, record.pieceLength);
  for (let number = first; number <= last; number++) {
    await download.waitPiece(number);
    if (number === record.pieceCount - 1) {
      // The last piece is released only once the whole content matched its digest:
      // a client never receives all the bytes of a blob that turns out to be wrong.
      await download.done;
    }
    const span = pieceSpan(number, record.contentLength, record.pieceLength);
    const from = Math.max(start, span.offset) - span.offset;
    const to = Math.min(end, span.offset + span.length - 1) - span.offset + 1;
    let position = 0;
    for (const chunk of await download.pieceBytes(number)) {
      const chunkEnd = position + chunk.length;
      if (chunkEnd > from && position < to) {
        yield chunk.subarray(Math.max(0, from - position), Math.min(chunk.length, to - position));
      }
      position = chunkEnd;
    }
  }
}
