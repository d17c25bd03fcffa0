import { CoreV1Api } from "@kubernetes/client-node";
import { type KubeTarget, loadKubeConfig } from "./kubeconfig-loader.js";
import { DEFAULT_NAMESPACE, findManagerPod } from "./manager-discovery.js";
import { openTunnel, type Tunnel } from "./port-forward-tunnel.js";

export interface ManagerTarget extends KubeTarget {
  namespace?: string | undefined;
}

/**
 * Finds the manager through the kubeconfig and port-forwards a loopback port to one of its ready pods: to its
 * REST port, or with `rpc` to its RPC (Connect) port.
 */
export async function tunnelToManager(target: ManagerTarget, options: { rpc?: boolean } = {}): Promise<Tunnel> {
  const { config, server } = loadKubeConfig(target);
  const core = config.makeApiClient(CoreV1Api);
  const pod = await findManagerPod(core, target.namespace ?? DEFAULT_NAMESPACE, server);
  return openTunnel(config, options.rpc ? { ...pod, port: pod.rpcPort } : pod);
}
