import { createReadStream, type ReadStream } from "node:fs";
import { copyFile, type FileHandle, link, mkdir, open, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";

/** One sparse content file per task: <dir>/tasks/<first 3 chars of id>/<id>, pieces at their offsets. */
export class ContentStore {
  private readonly handles = new Map<string, Promise<FileHandle>>();

  constructor(private readonly dir: string) {}

  pathOf(taskId: string): string {
    if (!/^[a-zA-Z0-9_-]{8,}$/.test(taskId)) throw new TypeError(`invalid task id "${taskId}"`);
    return join(this.dir, "tasks", taskId.slice(0, 3), taskId);
  }

  /** Creates (or reopens, keeping its pieces) the content file with its final size. */
  async prepare(taskId: string, contentLength: number): Promise<void> {
    const handle = await this.handle(taskId);
    const { size } = await handle.stat();
    if (size !== contentLength) await handle.truncate(contentLength);
  }

  /** Writes a piece (its chunks in order) at its offset. */
  async writePiece(taskId: string, offset: number, chunks: Buffer[]): Promise<void> {
    const handle = await this.handle(taskId);
    let total = 0;
    for (const chunk of chunks) total += chunk.length;
    const { bytesWritten } = await handle.writev(chunks, offset);
    if (bytesWritten === total) return;
    // A short vectored write: finish the rest chunk by chunk.
    let position = 0;
    for (const chunk of chunks) {
      const end = position + chunk.length;
      let done = Math.max(0, Math.min(chunk.length, bytesWritten - position));
      while (done < chunk.length) {
        const { bytesWritten: n } = await handle.write(chunk, done, chunk.length - done, offset + position + done);
        done += n;
      }
      position = end;
    }
  }

  /** Reads through the writer's open handle while the task downloads, else through a short-lived one. */
  async readPiece(taskId: string, offset: number, length: number): Promise<Buffer> {
    try {
      return await this.readWith(this.handles.get(taskId), taskId, offset, length);
    } catch (error) {
      // The writer's handle was closed under us (the download just finished): read through our own.
      if ((error as NodeJS.ErrnoException).code !== "EBADF") throw error;
      return this.readWith(undefined, taskId, offset, length);
    }
  }

  private async readWith(
    shared: Promise<FileHandle> | undefined,
    taskId: string,
    offset: number,
    length: number,
  ): Promise<Buffer> {
    const handle = shared ? await shared : await open(this.pathOf(taskId), "r");
    try {
      const buffer = Buffer.allocUnsafe(length);
      let read = 0;
      while (read < length) {
        const { bytesRead } = await handle.read(buffer, read, length - read, offset + read);
        if (bytesRead === 0) throw new Error(`content file of task ${taskId} is shorter than expected`);
        read += bytesRead;
      }
      return buffer;
    } finally {
      if (!shared) await handle.close();
    }
  }

  /** A stream of bytes [start, end] (inclusive) of a complete task. */
  createReadStream(taskId: string, start: number, end: number): ReadStream {
    return createReadStream(this.pathOf(taskId), { start, end, highWaterMark: 1024 * 1024 });
  }

  async exists(taskId: string): Promise<boolean> {
    try {
      await stat(this.pathOf(taskId));
      return true;
    } catch {
      return false;
    }
  }

  /** Hard-links the content to path, copying when a link is impossible (other file system). */
  async export(taskId: string, path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await rm(path, { force: true });
    try {
      await link(this.pathOf(taskId), path);
    } catch {
      await copyFile(this.pathOf(taskId), path);
    }
  }

  async release(taskId: string): Promise<void> {
    const handle = this.handles.get(taskId);
    this.handles.delete(taskId);
    if (handle) await (await handle).close().catch(() => undefined);
  }

  async remove(taskId: string): Promise<void> {
    await this.release(taskId);
    await rm(this.pathOf(taskId), { force: true });
  }

  async close(): Promise<void> {
    await Promise.all([...this.handles.keys()].map((id) => this.release(id)));
  }

  private handle(taskId: string): Promise<FileHandle> {
    let handle = this.handles.get(taskId);
    if (!handle) {
      const path = this.pathOf(taskId);
      handle = (async () => {
        await mkdir(dirname(path), { recursive: true });
        try {
          return await open(path, "r+");
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
          return open(path, "w+");
        }
      })();
      handle.catch(() => this.handles.delete(taskId));
      this.handles.set(taskId, handle);
    }
    return handle;
  }
}
