import assert from "node:assert/strict";
import { validateKubeObject } from "../../helpers/kube-validate.js";

function deployment(container: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "x", labels: { a: "b" } },
    spec: {
      selector: { matchLabels: { a: "b" } },
      template: {
        metadata: { labels: { a: "b" } },
        spec: { containers: [{ name: "c", image: "i", ports: [{ name: "http", containerPort: 80 }], ...container }] },
      },
    },
  };
}

describe("validateKubeObject (the chart tests' Kubernetes validation)", () => {
  it("accepts a valid Deployment and a ServiceMonitor", async () => {
    await validateKubeObject(deployment({ readinessProbe: { httpGet: { path: "/", port: "http" } } }));
    await validateKubeObject({
      apiVersion: "monitoring.coreos.com/v1",
      kind: "ServiceMonitor",
      metadata: { name: "x" },
      spec: { selector: { matchLabels: { a: "b" } }, endpoints: [{ port: "metrics", interval: "30s" }] },
    });
  });

  it("refuses a wrong type, a misspelt field anywhere, and a kind it has no schema for", async () => {
    await assert.rejects(
      validateKubeObject(deployment({ ports: [{ containerPort: "80" }] })),
      /containerPort must be integer/,
    );
    await assert.rejects(
      validateKubeObject(deployment({ imagePullPolicyy: "Always" })),
      /unknown fields: spec\.template\.spec\.containers\[0\]\.imagePullPolicyy/,
    );
    await assert.rejects(
      validateKubeObject(deployment({ readinessProbe: { httpGet: { path: "/", port: "http", pathh: "/x" } } })),
      /readinessProbe\.httpGet\.pathh/,
    );
    await assert.rejects(
      validateKubeObject({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } }),
      /no schema for example\.com\/v1 Widget/,
    );
  });
});
