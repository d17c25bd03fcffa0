import type { CoreV1Api, V1Pod, V1Service, V1ServicePort } from "@kubernetes/client-node";
import { UserError } from "./errors.js";

/** The chart's namespace, and how its manager Service is recognised. */
export const DEFAULT_NAMESPACE = "d7y";
export const MANAGER_SELECTOR = "app.kubernetes.io/component=manager";
export const MANAGER_SERVICE = "d7y-manager";
/** The REST port when the Service names none "http" or "rest". */
const DEFAULT_REST_PORT = 8080;
/** The RPC (Connect) port when the Service names none "rpc" or "grpc". */
export const DEFAULT_RPC_PORT = 65003;

export interface ManagerPod {
  namespace: string;
  pod: string;
  /** The manager's REST port in the pod. */
  port: number;
  /** The manager's RPC (Connect) port in the pod: the Service's port named rpc or grpc, else 65003. */
  rpcPort: number;
}

/** One line for a failed Kubernetes API call: HTTP status and message, or the network error. */
export function describeApiError(error: unknown, server: string): UserError {
  const err = error as { code?: unknown; body?: unknown; message?: string; cause?: { code?: string } };
  if (typeof err.code === "number") {
    const body = typeof err.body === "string" ? err.body : JSON.stringify(err.body ?? "");
    let message = body;
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      // not JSON: the body as is
    }
    return new UserError(`Kubernetes API ${server}: ${err.code} ${message.split("\n")[0]?.slice(0, 200)}`);
  }
  const reason = err.cause?.code ?? err.message?.split("\n")[0] ?? String(error);
  return new UserError(`cannot reach the Kubernetes API server at ${server}: ${reason}`);
}

async function findService(core: CoreV1Api, namespace: string): Promise<V1Service | undefined> {
  const labelled = await core.listNamespacedService({ namespace, labelSelector: MANAGER_SELECTOR });
  if (labelled.items.length > 0) return labelled.items[0];
  const all = await core.listNamespacedService({ namespace });
  return all.items.find((service) => service.metadata?.name === MANAGER_SERVICE);
}

function restPort(service: V1Service): V1ServicePort | undefined {
  const ports = service.spec?.ports ?? [];
  return (
    ports.find((port) => port.name === "http" || port.name === "rest") ??
    ports.find((port) => port.port === DEFAULT_REST_PORT) ??
    ports[0]
  );
}

function rpcServicePort(service: V1Service): V1ServicePort | undefined {
  return (service.spec?.ports ?? []).find((port) => port.name === "rpc" || port.name === "grpc");
}

function isReady(pod: V1Pod): boolean {
  return (
    pod.status?.phase === "Running" &&
    (pod.status.conditions ?? []).some((condition) => condition.type === "Ready" && condition.status === "True")
  );
}

/** The pod's port for a Service port: its targetPort, a number or a container port's name. */
function podPort(pod: V1Pod, port: V1ServicePort): number | undefined {
  const target = port.targetPort ?? port.port;
  if (typeof target === "number") return target;
  if (/^\d+$/.test(target)) return Number(target);
  const containers = pod.spec?.containers ?? [];
  return containers.flatMap((container) => container.ports ?? []).find((p) => p.name === target)?.containerPort;
}

/** The manager's Service in `namespace`, and one of its ready pods with the REST port to forward to. */
export async function findManagerPod(core: CoreV1Api, namespace: string, server: string): Promise<ManagerPod> {
  let service: V1Service | undefined;
  try {
    service = await findService(core, namespace);
  } catch (error) {
    throw describeApiError(error, server);
  }
  if (!service) {
    throw new UserError(
      `no manager Service in namespace ${namespace} (label ${MANAGER_SELECTOR} or name ${MANAGER_SERVICE}): pass -n or --manager`,
    );
  }
  const name = service.metadata?.name ?? MANAGER_SERVICE;
  const port = restPort(service);
  const selector = Object.entries(service.spec?.selector ?? {})
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
  if (!port || selector === "") throw new UserError(`the Service ${namespace}/${name} has no ports or no selector`);
  let pods: V1Pod[];
  try {
    pods = (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
  } catch (error) {
    throw describeApiError(error, server);
  }
  const ready = pods.find(isReady);
  const target = ready ? podPort(ready, port) : undefined;
  if (!ready?.metadata?.name || target === undefined) {
    throw new UserError(`no ready pod behind the Service ${namespace}/${name}`);
  }
  const rpc = rpcServicePort(service);
  const rpcPort = (rpc && podPort(ready, rpc)) ?? DEFAULT_RPC_PORT;
  return { namespace, pod: ready.metadata.name, port: target, rpcPort };
}
