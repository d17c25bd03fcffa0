import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { traceHeaders } from "@d7y/observability";
import { DownloadSchema } from "@d7y/proto/common/v1";
import { DfdaemonService, DownloadRequestSchema } from "@d7y/proto/dfdaemon/v1";
import { createRpcClient } from "@d7y/rpc";
import type { TargetHost } from "./target-hosts.js";

/** What one host is asked to download. */
export interface BlobDownload {
  url: string;
  /** "sha256:<hex>" for image blobs; absent for files. */
  digest?: string;
  requestHeader: Record<string, string>;
  filteredQueryParams?: string[];
  pieceLength?: number;
}

/** Makes one host download one blob through its piece engine; resolves when it finished, rejects when it failed. */
export type BlobDownloader = (host: TargetHost, download: BlobDownload, signal: AbortSignal) => Promise<void>;

/** http://ip:port of a daemon's Connect API, with brackets for IPv6. */
export function daemonUrl(host: Pick<TargetHost, "ip" | "port">): string {
  return `http://${host.ip.includes(":") ? `[${host.ip}]` : host.ip}:${host.port}`;
}

/** Clients kept (one HTTP/2 connection each, closed by connect when idle); beyond it the oldest is dropped. */
const MAX_CLIENTS = 1024;

/** The real downloader: d7y.dfdaemon.v1.DfdaemonService/Download on the host, drained until `finished`. */
export function createDfdaemonDownloader(): BlobDownloader {
  const clients = new Map<string, Client<typeof DfdaemonService>>();
  const clientFor = (url: string) => {
    let client = clients.get(url);
    if (!client) {
      if (clients.size >= MAX_CLIENTS) clients.delete(clients.keys().next().value!);
      client = createRpcClient(DfdaemonService, url);
      clients.set(url, client);
    }
    return client;
  };
  return async (host, blob, signal) => {
    const client = clientFor(daemonUrl(host));
    const download = create(DownloadSchema, {
      url: blob.url,
      digest: blob.digest ?? "",
      requestHeader: blob.requestHeader,
      filteredQueryParams: blob.filteredQueryParams ?? [],
      pieceLength: BigInt(blob.pieceLength ?? 0),
      needBackToSource: false,
    });
    let finished = false;
    // The seed's download joins the preheat job's trace.
    const headers = traceHeaders();
    for await (const response of client.download(create(DownloadRequestSchema, { download }), { signal, headers })) {
      if (response.response.case === "finished") finished = true;
    }
    if (!finished) throw new Error("the download stream ended before it finished");
  };
}
