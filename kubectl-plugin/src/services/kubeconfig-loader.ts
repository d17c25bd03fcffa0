import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { UserError } from "./errors.js";

export interface KubeTarget {
  /** --kubeconfig; else $KUBECONFIG (its first existing path); else ~/.kube/config. */
  kubeconfig?: string | undefined;
  /** Environment value of KUBECONFIG, read by the base command only. */
  kubeconfigEnv?: string | undefined;
  context?: string | undefined;
}

const NO_KUBECONFIG = "no kubeconfig found: pass --kubeconfig or --manager";

/** The kubeconfig file to use, or a one-line UserError when there is none. */
export function kubeconfigPath(target: KubeTarget): string {
  if (target.kubeconfig) {
    if (!existsSync(target.kubeconfig)) throw new UserError(`${NO_KUBECONFIG} (${target.kubeconfig} does not exist)`);
    return target.kubeconfig;
  }
  const candidates = [
    ...(target.kubeconfigEnv ?? "").split(delimiter).filter((path) => path !== ""),
    join(homedir(), ".kube", "config"),
  ];
  const found = candidates.find((path) => existsSync(path));
  if (!found) throw new UserError(NO_KUBECONFIG);
  return found;
}

/** Loads the kubeconfig and selects the context (--context, else its current-context). */
export function loadKubeConfig(target: KubeTarget): { config: KubeConfig; path: string; server: string } {
  const path = kubeconfigPath(target);
  const config = new KubeConfig();
  try {
    config.loadFromFile(path);
  } catch (error) {
    throw new UserError(`invalid kubeconfig ${path}: ${(error as Error).message.split("\n")[0]}`);
  }
  if (target.context) {
    if (!config.getContextObject(target.context)) {
      throw new UserError(`unknown context "${target.context}" in ${path}`);
    }
    config.setCurrentContext(target.context);
  }
  const cluster = config.getCurrentCluster();
  if (!config.getCurrentContext() || !cluster) {
    throw new UserError(`the kubeconfig ${path} has no current context with a cluster: pass --context`);
  }
  return { config, path, server: cluster.server };
}
