import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import {
  ContentStore,
  DigestMismatchError,
  enforceQuota,
  HttpOrigin,
  MetadataStore,
  readTask,
  TaskManager,
  type TaskSpec,
} from "@d7y/daemon";
import { createSilentLogger } from "@d7y/observability";

const MiB = 1024 * 1024;

/** A tiny in-process origin for the engine's edge cases (the real registry is used in integration tests). */
interface FakeOrigin {
  url: string;
  served: number;
  requests: string[];
  /** Decides per request: undefined = serve normally, a number = answer that status. */
  fault?: (range: string | undefined, index: number) => number | undefined;
  ignoreRange?: boolean;
  close(): Promise<void>;
}

async function startOrigin(content: Buffer): Promise<FakeOrigin> {
  const origin: FakeOrigin = { url: "", served: 0, requests: [], close: async () => undefined };
  const server = http.createServer((req, res) => {
    const range = req.headers.range;
    origin.requests.push(range ?? "");
    const status = origin.fault?.(range, origin.requests.length - 1);
    if (status) {
      res.writeHead(status).end("nope");
      return;
    }
    const match = range && !origin.ignoreRange ? /bytes=(\d+)-(\d+)/.exec(range) : null;
    if (!match) {
      origin.served += content.length;
      res.writeHead(200, { "content-length": content.length, "content-type": "application/octet-stream" });
      res.end(content);
      return;
    }
    const start = Number(match[1]);
    if (start >= content.length) {
      res.writeHead(416, { "content-range": `bytes */${content.length}` }).end();
      return;
    }
    const end = Math.min(Number(match[2]), content.length - 1);
    origin.served += end - start + 1;
    res.writeHead(206, {
      "content-range": `bytes ${start}-${end}/${content.length}`,
      "content-length": end - start + 1,
    });
    res.end(content.subarray(start, end + 1));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/test/blobs/x`;
  origin.close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return origin;
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

describe("piece engine", () => {
  let dir: string;
  let metadata: MetadataStore;
  let content: ContentStore;
  let httpOrigin: HttpOrigin;
  const origins: FakeOrigin[] = [];

  function manager(pieceRetries = 2): TaskManager {
    return new TaskManager({
      origin: httpOrigin,
      metadata,
      content,
      logger: createSilentLogger(),
      concurrentPieces: 4,
      pieceRetries,
    });
  }

  async function origin(bytes: Buffer): Promise<FakeOrigin> {
    const started = await startOrigin(bytes);
    origins.push(started);
    return started;
  }

  function spec(url: string, bytes: Buffer, digest = sha256(bytes)): TaskSpec {
    return { id: digest.slice(7), url, digest, headers: {} };
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "d7y-engine-"));
    metadata = new MetadataStore(join(dir, "metadata"));
    await metadata.open();
    content = new ContentStore(join(dir, "content"));
    httpOrigin = new HttpOrigin({ connectTimeoutMs: 2000, bodyTimeoutMs: 5000 });
  });

  afterEach(async () => {
    await Promise.all(origins.splice(0).map((o) => o.close()));
    await httpOrigin.close();
    await content.close();
    await metadata.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("downloads with range requests, streams in order and verifies the whole content", async () => {
    const bytes = randomBytes(18 * MiB + 77);
    const o = await origin(bytes);
    const tasks = manager();
    const handle = await tasks.acquire(spec(o.url, bytes));
    assert.equal(handle.kind, "downloading");
    const streamed = await buffer(readTask(handle, content, 0, bytes.length - 1));
    assert.ok(streamed.equals(bytes));
    assert.equal(o.served, bytes.length, "each byte is fetched from the origin once");
    assert.ok(o.requests.every((range) => range.startsWith("bytes=")));
    const again = await tasks.acquire(spec(o.url, bytes));
    assert.equal(again.kind, "complete");
    const ranged = await buffer(readTask(again, content, 5 * MiB, 9 * MiB));
    assert.ok(ranged.equals(bytes.subarray(5 * MiB, 9 * MiB + 1)));
    const view = await tasks.stat(spec(o.url, bytes).id);
    assert.equal(view?.pieces.length, 5);
    assert.ok(
      view?.pieces.every((piece) => piece.digest.startsWith("crc32:") && piece.trafficType === "back_to_source"),
    );
  });

  it("shares one download between concurrent readers", async () => {
    const bytes = randomBytes(9 * MiB);
    const o = await origin(bytes);
    const tasks = manager();
    const reads = await Promise.all(
      Array.from({ length: 5 }, async () =>
        buffer(readTask(await tasks.acquire(spec(o.url, bytes)), content, 0, bytes.length - 1)),
      ),
    );
    for (const read of reads) assert.ok(read.equals(bytes));
    assert.equal(o.served, bytes.length);
  });

  it("takes pieces from one body when the origin ignores Range", async () => {
    const bytes = randomBytes(9 * MiB + 5);
    const o = await origin(bytes);
    o.ignoreRange = true;
    const handle = await manager().acquire(spec(o.url, bytes));
    const streamed = await buffer(readTask(handle, content, 0, bytes.length - 1));
    assert.ok(streamed.equals(bytes));
    assert.equal(o.requests.length, 1);
  });

  it("handles empty content", async () => {
    const bytes = Buffer.alloc(0);
    const o = await origin(bytes);
    const tasks = manager();
    const handle = await tasks.acquire(spec(o.url, bytes));
    assert.equal(handle.record.contentLength, 0);
    if (handle.kind === "downloading") await handle.download.done;
    assert.equal((await tasks.acquire(spec(o.url, bytes))).kind, "complete");
  });

  it("retries a failed piece request", async () => {
    const bytes = randomBytes(13 * MiB);
    const o = await origin(bytes);
    let failed = 0;
    o.fault = (range) => (range === `bytes=${8 * MiB}-${12 * MiB - 1}` && failed++ === 0 ? 500 : undefined);
    const handle = await manager().acquire(spec(o.url, bytes));
    const streamed = await buffer(readTask(handle, content, 0, bytes.length - 1));
    assert.ok(streamed.equals(bytes));
    assert.equal(failed, 2, "the piece failed once and was asked again");
  });

  it("keeps nothing of content that does not match its digest, and never hands out its last bytes", async () => {
    const bytes = randomBytes(10 * MiB);
    const o = await origin(bytes);
    const wrong = spec(o.url, bytes, sha256(Buffer.from("something else")));
    const handle = await manager().acquire(wrong);
    const read = buffer(readTask(handle, content, 0, bytes.length - 1));
    await assert.rejects(read, DigestMismatchError);
    assert.equal(await metadata.getTask(wrong.id), undefined);
    assert.equal(await content.exists(wrong.id), false);
    assert.deepEqual(await metadata.listPieces(wrong.id), []);
  });

  it("resumes a failed download from the pieces it stored", async () => {
    const bytes = randomBytes(20 * MiB);
    const o = await origin(bytes);
    o.fault = (range) => (range?.startsWith(`bytes=${16 * MiB}-`) ? 503 : undefined);
    const first = await manager(0).acquire(spec(o.url, bytes));
    assert.equal(first.kind, "downloading");
    if (first.kind === "downloading") await assert.rejects(first.download.done);
    const stored = await metadata.listPieces(spec(o.url, bytes).id);
    assert.ok(stored.length >= 1 && stored.length < 5, `some pieces kept (${stored.length})`);
    o.fault = undefined;
    o.served = 0;
    const second = await manager().acquire(spec(o.url, bytes));
    const streamed = await buffer(readTask(second, content, 0, bytes.length - 1));
    assert.ok(streamed.equals(bytes));
    assert.equal(o.served, bytes.length - stored.reduce((sum, piece) => sum + piece.length, 0));
  });

  it("evicts least recently used complete tasks that nobody reads, down to the low watermark", async () => {
    const tasks = manager();
    const blobs = [randomBytes(4 * MiB), randomBytes(4 * MiB), randomBytes(4 * MiB)];
    const ids: string[] = [];
    for (const bytes of blobs) {
      const o = await origin(bytes);
      const handle = await tasks.acquire(spec(o.url, bytes));
      if (handle.kind === "downloading") await handle.download.done;
      ids.push(spec(o.url, bytes).id);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const endRead = tasks.beginRead(ids[0]!);
    const result = await enforceQuota(
      { quota: 10 * MiB, highWatermark: 0.9, lowWatermark: 0.5 },
      { metadata, content, logger: createSilentLogger(), isBusy: (id) => tasks.isBusy(id) },
    );
    endRead();
    assert.deepEqual(result.evicted, [ids[1], ids[2]], "oldest idle tasks go; the one being read stays");
    assert.equal(await content.exists(ids[0]!), true);
    const left = await readdir(join(dir, "content", "tasks"), { recursive: true });
    assert.equal(left.filter((name) => name.includes("/")).length, 1);
  });
});
