import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Download, HostSchema, HostType } from "@d7y/proto/common/v1";
import { DfdaemonService } from "@d7y/proto/dfdaemon/v1";
import { HostInfoSchema, SchedulerService } from "@d7y/proto/scheduler/v1";
import { type RpcServer, startRpcServer } from "@d7y/rpc";

export interface FakeDaemonOptions {
  hostname: string;
  /** Downloads wait until release() (or until aborted). */
  hold?: boolean;
  /** A message makes the download fail with it. */
  fail?: (download: Download) => string | undefined;
}

/** A fake d7y-daemon: DfdaemonService/Download records the call and streams started, then finished. */
export class FakeDaemon {
  readonly calls: Download[] = [];
  /** Downloads aborted by the caller (cancel, timeout, manager stop). */
  aborted = 0;
  private server!: RpcServer;
  private release!: () => void;
  private gate: Promise<void>;

  constructor(private readonly options: FakeDaemonOptions) {
    this.gate = new Promise((resolve) => {
      this.release = resolve;
    });
    if (!options.hold) this.release();
  }

  get hostname(): string {
    return this.options.hostname;
  }

  get hostId(): string {
    return `host-${this.options.hostname}`;
  }

  get port(): number {
    return this.server.port;
  }

  /** Lets held downloads (and all later ones) finish. */
  open(): void {
    this.release();
  }

  async start(): Promise<this> {
    this.server = await startRpcServer({
      host: "127.0.0.1",
      port: 0,
      routes: (router) =>
        router.service(DfdaemonService, {
          download: (request, context) => this.download(request.download!, context.signal),
        }),
    });
    return this;
  }

  close(): Promise<void> {
    this.release();
    return this.server.close();
  }

  private async *download(download: Download, signal: AbortSignal) {
    this.calls.push(download);
    const failure = this.options.fail?.(download);
    if (failure) throw new ConnectError(failure, Code.Internal);
    yield {
      response: {
        case: "started" as const,
        value: { taskId: "t", contentLength: 1n, pieceLength: 1n, pieceCount: 1, fromCache: false },
      },
    };
    const aborted = new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    await Promise.race([this.gate, aborted]);
    if (signal.aborted) {
      this.aborted++;
      return;
    }
    yield { response: { case: "finished" as const, value: { taskId: "t", contentLength: 1n } } };
  }
}

export async function startFakeDaemon(options: FakeDaemonOptions): Promise<FakeDaemon> {
  return new FakeDaemon(options).start();
}

/** A fake scheduler whose ListHosts lists the given daemons (scope all_peers). */
export async function startFakeScheduler(daemons: FakeDaemon[]): Promise<RpcServer> {
  return startRpcServer({
    host: "127.0.0.1",
    port: 0,
    routes: (router) =>
      router.service(SchedulerService, {
        async listHosts() {
          return {
            hosts: daemons.map((daemon) =>
              create(HostInfoSchema, {
                host: create(HostSchema, {
                  id: daemon.hostId,
                  type: HostType.NORMAL,
                  hostname: daemon.hostname,
                  ip: "127.0.0.1",
                  port: daemon.port,
                }),
              }),
            ),
          };
        },
      }),
  });
}
