/**
 * Validates rendered Kubernetes objects against the Kubernetes OpenAPI schemas (kubernetes-models, which
 * wraps @kubernetes-models/validate) and the Prometheus operator's CRDs (ServiceMonitor). A kind this file
 * has no schema for is an error, never a silent pass.
 *
 * Those schemas check types, required fields and enums but allow unknown fields, which the API server's
 * strict field validation (kubectl's default) refuses. So built-in kinds are also walked against the field
 * lists of @kubernetes/client-node's models: a misspelt field anywhere in the object is an error too.
 */
import * as k8s from "@kubernetes/client-node";

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

interface Attribute {
  baseName: string;
  type: string;
}
type ModelWithAttributes = { getAttributeTypeMap(): Attribute[] };

function modelOf(type: string): ModelWithAttributes | undefined {
  const model = (k8s as unknown as Record<string, unknown>)[type] as Partial<ModelWithAttributes> | undefined;
  return typeof model?.getAttributeTypeMap === "function" ? (model as ModelWithAttributes) : undefined;
}

/** Paths of fields the model `type` does not have, anywhere under `value`. */
function unknownFields(value: unknown, type: string, path: string, found: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) unknownFields(item, array[1]!, `${path}[${i}]`, found);
    }
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === "object") {
      for (const [key, item] of Object.entries(value)) unknownFields(item, map[1]!, `${path}.${key}`, found);
    }
    return;
  }
  const model = modelOf(type);
  // Primitives, IntOrString, Quantity...: the schema validation has checked them.
  if (!model || typeof value !== "object" || Array.isArray(value)) return;
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [key, item] of Object.entries(value)) {
    const fieldType = fields.get(key);
    if (fieldType === undefined) found.push(`${path}.${key}`.replace(/^\./, ""));
    else unknownFields(item, fieldType, `${path}.${key}`, found);
  }
}

/** The client-node model name of a built-in kind ("apps/v1" Deployment -> V1Deployment), or undefined. */
function builtInModel(apiVersion: string, kind: string): string | undefined {
  const version = apiVersion.split("/").at(-1) ?? "";
  const name = `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
  return modelOf(name) ? name : undefined;
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
  const modelName = apiVersion.startsWith("monitoring.coreos.com/") ? undefined : builtInModel(apiVersion, kind);
  if (!modelName && !apiVersion.startsWith("monitoring.coreos.com/")) {
    throw new Error(`${name}: no field list for ${apiVersion} ${kind}`);
  }
  if (modelName) {
    const found: string[] = [];
    unknownFields(object, modelName, "", found);
    if (found.length > 0) throw new Error(`${name} (${apiVersion}) has unknown fields: ${found.join(", ")}`);
  }
}
