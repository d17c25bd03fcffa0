import { create } from "@bufbuild/protobuf";
import { traceHeaders } from "@d7y/observability";
import { DownloadSchema } from "@d7y/proto/common/v1";
import { DfdaemonService, DownloadRequestSchema } from "@d7y/proto/dfdaemon/v1";
import { createRpcClient } from "@d7y/rpc";
import type { HostSpec } from "../resource/host.js";
import type { DownloadSpec } from "../resource/peer.js";

export interface SeedTriggerRequest {
  taskId: string;
  /** The seed host chosen for the task. */
  host: HostSpec;
  /** URL, digest and request headers of the peer that registered (so private registries work). */
  download: DownloadSpec;
}

/** What the seed daemon said when it started: from its cache, or a fresh download from the origin. */
export interface SeedTriggerResult {
  fromCache: boolean;
  contentLength: number;
  pieceLength: number;
  pieceCount: number;
}

/**
 * Makes a seed host download a task from the origin; resolves when the seed's download is over and
 * rejects when it fails. The seed daemon registers its own peer (with need_back_to_source) meanwhile.
 */
export type SeedTrigger = (request: SeedTriggerRequest, signal: AbortSignal) => Promise<SeedTriggerResult>;

/** http://ip:port of a daemon's Connect API, with brackets for IPv6. */
export function daemonApiUrl(host: Pick<HostSpec, "ip" | "port">): string {
  const ip = host.ip.includes(":") ? `[${host.ip}]` : host.ip;
  return `http://${ip}:${host.port}`;
}

/** The real trigger: d7y.dfdaemon.v1.DfdaemonService/Download on the seed daemon, drained to the end. */
export function createDfdaemonSeedTrigger(): SeedTrigger {
  return async (request, signal) => {
    const client = createRpcClient(DfdaemonService, daemonApiUrl(request.host));
    const download = create(DownloadSchema, {
      url: request.download.url,
      digest: request.download.digest,
      requestHeader: request.download.requestHeader,
      needBackToSource: true,
    });
    const result: SeedTriggerResult = { fromCache: false, contentLength: 0, pieceLength: 0, pieceCount: 0 };
    // The seed's download joins the trace of the pull that triggered it.
    const headers = traceHeaders();
    for await (const response of client.download(create(DownloadRequestSchema, { download }), { signal, headers })) {
      if (response.response.case === "started") {
        const started = response.response.value;
        result.fromCache = started.fromCache;
        result.contentLength = Number(started.contentLength);
        result.pieceLength = Number(started.pieceLength);
        result.pieceCount = started.pieceCount;
      }
    }
    return result;
  };
}
