/**
 * Validates rendered Kubernetes objects against the Kubernetes OpenAPI schemas (kubernetes-models, which
 * wraps @kubernetes-models/validate) and the Prometheus operator's CRDs (ServiceMonitor). A kind this file
 * has no schema for is an error, never a silent pass.
 */

// biome-ignore lint/suspicious/noExplicitAny: any Kubernetes object.
type KubeObject = Record<string, any>;

interface Model {
  validate(): void;
}
type ModelClass = new (data: KubeObject) => Model;

/** The module holding the model class of an apiVersion + kind. */
function modulePath(apiVersion: string, kind: string): string {
  if (apiVersion.startsWith("monitoring.coreos.com/")) {
    return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  }
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/** Throws with the object's kind, name and the schema's complaint when it is not a valid object. */
export async function validateKubeObject(object: KubeObject): Promise<void> {
  const { apiVersion, kind } = object;
  const name = `${kind}/${object.metadata?.name ?? "?"}`;
  if (typeof apiVersion !== "string" || typeof kind !== "string") throw new Error(`${name}: no apiVersion or kind`);
  let model: ModelClass;
  try {
    const mod = (await import(modulePath(apiVersion, kind))) as Record<string, ModelClass>;
    model = mod[kind] as ModelClass;
    if (typeof model !== "function") throw new Error("no model class");
  } catch (error) {
    throw new Error(`${name}: no schema for ${apiVersion} ${kind} (${(error as Error).message.split("\n")[0]})`);
  }
  try {
    new model(object).validate();
  } catch (error) {
    throw new Error(`${name} (${apiVersion}) is invalid: ${(error as Error).message}`);
  }
}
