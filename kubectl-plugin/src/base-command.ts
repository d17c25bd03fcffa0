import { Command, Errors, Flags } from "@oclif/core";
import { UserError } from "./services/errors.js";
import { ManagerClient } from "./services/manager-client.js";
import { tunnelToManager } from "./services/manager-connection.js";
import type { Tunnel } from "./services/port-forward-tunnel.js";
import { OUTPUT_FORMATS, type OutputFormat } from "./ui/table.js";

/** `-o/--output`: on every command that lists something. */
export const outputFlag = Flags.option({
  char: "o",
  description: "output format",
  options: OUTPUT_FORMATS,
  default: "table" as OutputFormat,
})();

export interface ConnectionFlags {
  manager?: string | undefined;
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace?: string | undefined;
}

/**
 * Every `kubectl d7y` command: the connection flags and the error policy. User errors (UserError, bad flags)
 * print one line to stderr and exit 2; anything else is a bug and prints its stack.
 */
export abstract class D7yCommand extends Command {
  static override baseFlags = {
    manager: Flags.string({
      description: "URL of the d7y manager's REST API, e.g. http://127.0.0.1:8080",
      env: "D7Y_MANAGER",
      helpGroup: "CONNECTION",
    }),
    kubeconfig: Flags.string({ description: "path to the kubeconfig file", helpGroup: "CONNECTION" }),
    context: Flags.string({ description: "kubeconfig context to use", helpGroup: "CONNECTION" }),
    namespace: Flags.string({ char: "n", description: "namespace of the d7y chart", helpGroup: "CONNECTION" }),
  };

  /** The port-forward to the manager opened by connectManager, closed when the command ends. */
  private tunnel: Tunnel | undefined;
  /** The port-forward to the manager's RPC port opened by connectManagerRpc. */
  private rpcTunnel: Tunnel | undefined;

  /** The manager client for `--manager` only (sync); connectManager also finds it through a kubeconfig. */
  protected managerClient(flags: ConnectionFlags): ManagerClient {
    if (!flags.manager) throw new UserError("no --manager URL: pass --manager or use connectManager");
    return new ManagerClient(flags.manager);
  }

  /**
   * The manager client: `--manager` (or D7Y_MANAGER), else through the kubeconfig (--kubeconfig, $KUBECONFIG,
   * ~/.kube/config; --context; -n, default d7y): its manager Service, port-forwarded to a ready pod.
   */
  protected async connectManager(flags: ConnectionFlags): Promise<ManagerClient> {
    if (flags.manager) return new ManagerClient(flags.manager);
    this.tunnel ??= await tunnelToManager({
      kubeconfig: flags.kubeconfig,
      kubeconfigEnv: process.env.KUBECONFIG,
      context: flags.context,
      namespace: flags.namespace,
    });
    return new ManagerClient(this.tunnel.url);
  }

  /**
   * The base URL of the manager's RPC (Connect) API through the kubeconfig: its Service's RPC port (named rpc or
   * grpc, else 65003), port-forwarded to a ready pod for the command's lifetime.
   */
  protected async connectManagerRpc(flags: ConnectionFlags): Promise<string> {
    this.rpcTunnel ??= await tunnelToManager(
      {
        kubeconfig: flags.kubeconfig,
        kubeconfigEnv: process.env.KUBECONFIG,
        context: flags.context,
        namespace: flags.namespace,
      },
      { rpc: true },
    );
    return this.rpcTunnel.url;
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    const tunnels = [this.tunnel, this.rpcTunnel];
    this.tunnel = undefined;
    this.rpcTunnel = undefined;
    await Promise.all(tunnels.map((tunnel) => tunnel?.close()));
    return super.finally(err);
  }

  /** Writes `text` to stdout as is. */
  protected print(text: string): void {
    process.stdout.write(text);
  }

  /** One line on stderr ("error: ..."), then exit with `code`. */
  protected fail(message: string, code = 1): never {
    process.stderr.write(`error: ${oneLine(message)}\n`);
    this.exit(code);
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    if (err instanceof Errors.ExitError) throw err;
    if (err instanceof UserError) this.fail(err.message, err.exitCode);
    // oclif's own parse and validation errors (missing argument, unknown flag, bad option) are the user's too.
    if (err instanceof Errors.CLIError) {
      const lines = err.message.split("\n").filter((line) => line.trim() !== "" && !line.includes("--help"));
      this.fail(`${lines.map((line) => line.trim().replace(/\s+/g, " ")).join(" ")} (see --help)`, 2);
    }
    process.stderr.write(`${err.stack ?? String(err)}\n`);
    this.exit(1);
  }
}

function oneLine(message: string): string {
  return (
    message
      .split("\n")
      .map((line) => line.trim())
      .find((line) => line !== "") ?? "unknown error"
  );
}
