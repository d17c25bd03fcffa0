import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

/** A registry-like origin in-process: GET /v2/ and the blobs it holds (Range supported), 404 otherwise. */
export interface FakeBlobOrigin {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Blob bytes sent, all GETs together (a HEAD, e.g. the mirror's access check, sends none). */
  served: number;
  /** Answers this status to the nth blob GET (0-based) when it returns one. */
  fault?: (index: number) => number | undefined;
  /** Adds a blob; returns its digest. */
  add(bytes: Buffer): string;
  /** URL path of a blob in repository test/app. */
  blobPath(digest: string): string;
  close(): Promise<void>;
}

export async function startFakeBlobOrigin(): Promise<FakeBlobOrigin> {
  const blobs = new Map<string, Buffer>();
  let blobRequests = 0;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (path === "/v2/") {
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
      return;
    }
    const digest = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path)?.[1];
    const content = digest ? blobs.get(digest) : undefined;
    if (!content) {
      res.writeHead(404).end();
      return;
    }
    if (req.method === "HEAD") {
      // The registry's answer to a HEAD: the blob's headers, no body.
      res.writeHead(200, { "content-length": content.length, "content-type": "application/octet-stream" }).end();
      return;
    }
    const status = origin.fault?.(blobRequests++);
    if (status) {
      res.writeHead(status).end("fault");
      return;
    }
    const match = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? "");
    const start = match ? Number(match[1]) : 0;
    const end = match ? Math.min(Number(match[2]), content.length - 1) : content.length - 1;
    origin.served += end - start + 1;
    res.writeHead(match ? 206 : 200, {
      "content-length": end - start + 1,
      "content-type": "application/octet-stream",
      ...(match ? { "content-range": `bytes ${start}-${end}/${content.length}` } : {}),
    });
    res.end(content.subarray(start, end + 1));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin: FakeBlobOrigin = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    served: 0,
    add(bytes) {
      const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
      blobs.set(digest, bytes);
      return digest;
    },
    blobPath: (digest) => `/v2/test/app/blobs/${digest}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return origin;
}
