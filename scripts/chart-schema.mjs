// Builds helm/d7y/values.schema.json: the chart's own keys, written here, and each component's `config`
// map, generated from the component's zod config schema (so a key the component would refuse at start is
// refused by `helm install` already). Run `npm run chart:schema` after changing a config schema; a unit test
// fails while the committed file differs from what this prints.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const SCHEMA_PATH = join(root, "helm/d7y/values.schema.json");

async function componentSchema(module, exportName) {
  const { z } = await import(pathToFileURL(join(root, "node_modules/zod/index.js")).href);
  const mod = await import(pathToFileURL(join(root, module)).href);
  const schema = z.toJSONSchema(mod[exportName], { io: "input", target: "draft-7", unrepresentable: "any" });
  delete schema.$schema;
  // `verbose: true` is read by the config loader itself (debug logs unless logLevel is set).
  schema.properties = {
    verbose: { type: "boolean", description: "log at debug level unless logLevel is set" },
    ...schema.properties,
  };
  return schema;
}

const string = { type: "string" };
const boolean = { type: "boolean" };
const object = { type: "object" };
const stringMap = { type: "object", additionalProperties: { type: "string" } };
const port = { type: "integer", minimum: 1, maximum: 65535 };
const quantity = { type: ["string", "number"] };
const resources = {
  type: "object",
  additionalProperties: false,
  properties: {
    requests: { type: "object", additionalProperties: quantity },
    limits: { type: "object", additionalProperties: quantity },
  },
};
const serviceType = { enum: ["ClusterIP", "NodePort", "LoadBalancer"] };
const metrics = (what) => ({
  type: "object",
  additionalProperties: false,
  properties: {
    enable: { type: "boolean", description: `serve ${what}'s Prometheus metrics` },
    serviceMonitor: {
      type: "object",
      additionalProperties: false,
      properties: {
        enable: { enum: [true, false, "auto"] },
        interval: { type: "string", pattern: "^([0-9]+(ms|s|m|h))+$" },
        additionalLabels: stringMap,
      },
    },
  },
});
const pod = {
  podLabels: stringMap,
  podAnnotations: stringMap,
  resources,
  nodeSelector: stringMap,
  tolerations: { type: "array", items: object },
  affinity: object,
  priorityClassName: string,
};
const claim = {
  storageClass: string,
  size: { type: "string", pattern: "^[0-9]+(\\.[0-9]+)?([KMGTPE]i?)?$" },
  accessModes: {
    type: "array",
    minItems: 1,
    items: { enum: ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"] },
  },
};
const registry = {
  type: "string",
  pattern: "^(https?://)?[A-Za-z0-9.-]+(:[0-9]+)?/?$",
  description: "a registry origin, e.g. https://ghcr.io",
};

export async function chartSchema() {
  const daemon = await componentSchema("daemon/dist/config.js", "daemonConfigSchema");
  const scheduler = await componentSchema("scheduler/dist/config.js", "schedulerConfigSchema");
  const manager = await componentSchema("manager/dist/config.js", "managerConfigSchema");
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    title: "Values of the d7y chart",
    type: "object",
    additionalProperties: false,
    properties: {
      global: object,
      nameOverride: string,
      fullnameOverride: string,
      image: {
        type: "object",
        additionalProperties: false,
        properties: {
          registry: string,
          repository: { type: "string", minLength: 1 },
          tag: string,
          digest: { type: "string", pattern: "^(sha256:[0-9a-f]{64})?$" },
          pullPolicy: { enum: ["Always", "IfNotPresent", "Never"] },
          pullSecrets: { type: "array", items: string },
        },
      },
      clusterId: { type: "integer", minimum: 1 },
      containerRuntime: {
        type: "object",
        additionalProperties: false,
        properties: {
          containerd: {
            type: "object",
            additionalProperties: false,
            properties: {
              enable: boolean,
              injectConfigPath: boolean,
              configPathDir: { type: "string", pattern: "^/" },
              configFileName: { type: "string", minLength: 1 },
              registries: { type: "array", items: registry },
              proxyAllRegistries: boolean,
            },
          },
        },
      },
      manager: {
        type: "object",
        additionalProperties: false,
        properties: {
          enable: boolean,
          replicas: {
            type: "integer",
            minimum: 0,
            maximum: 1,
            description: "the manager's embedded LevelDB allows one replica",
          },
          ...pod,
          service: { type: "object", additionalProperties: false, properties: { type: serviceType } },
          restPort: port,
          rpcPort: port,
          persistence: {
            type: "object",
            additionalProperties: false,
            properties: { enable: boolean, ...claim },
          },
          metrics: metrics("the manager"),
          config: manager,
        },
      },
      scheduler: {
        type: "object",
        additionalProperties: false,
        properties: {
          enable: boolean,
          replicas: { type: "integer", minimum: 0 },
          ...pod,
          service: { type: "object", additionalProperties: false, properties: { type: serviceType } },
          port,
          metrics: metrics("the scheduler"),
          config: scheduler,
        },
      },
      seedPeer: {
        type: "object",
        additionalProperties: false,
        properties: {
          enable: boolean,
          replicas: { type: "integer", minimum: 0 },
          ...pod,
          persistence: { type: "object", additionalProperties: false, properties: claim },
          metrics: metrics("each seed peer"),
          config: daemon,
        },
      },
      dfdaemon: {
        type: "object",
        additionalProperties: false,
        properties: {
          enable: boolean,
          hostPort: port,
          hostNetwork: boolean,
          hostDataDir: { type: "string", pattern: "^/" },
          ...pod,
          updateStrategy: object,
          metrics: metrics("each node's daemon"),
          config: daemon,
        },
      },
      tracing: {
        type: "object",
        additionalProperties: false,
        properties: {
          endpoint: { type: "string", pattern: "^(https?://.+)?$" },
          sampleRatio: { type: "number", minimum: 0, maximum: 1 },
        },
      },
      jaeger: {
        type: "object",
        additionalProperties: false,
        properties: {
          enable: boolean,
          image: {
            type: "object",
            additionalProperties: false,
            properties: {
              registry: string,
              repository: string,
              tag: string,
              pullPolicy: { enum: ["Always", "IfNotPresent", "Never"] },
            },
          },
          maxTraces: { type: "integer", minimum: 1 },
          resources,
        },
      },
      grafanaDashboard: {
        type: "object",
        additionalProperties: false,
        properties: { enable: boolean, labels: stringMap },
      },
    },
  };
}

export async function chartSchemaText() {
  return `${JSON.stringify(await chartSchema(), null, 2)}\n`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  writeFileSync(SCHEMA_PATH, await chartSchemaText());
  console.log(`wrote ${SCHEMA_PATH}`);
}
