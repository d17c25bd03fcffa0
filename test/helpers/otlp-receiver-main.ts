/**
 * Standalone OTLP/HTTP (JSON) trace receiver: startOtlpReceiver() (./otlp-receiver.ts) on a given address,
 * appending every received span as one NDJSON line (a ReceivedSpan: service, instance, resource attributes,
 * trace/span ids, name, attributes) to a file. helm-e2e runs it with `ip netns exec` in the namespace that
 * stands for the chart's Jaeger pod, so the components' exporters reach it at the jaeger Service's name.
 *
 * It stands in for Jaeger's OTLP/HTTP collector endpoint (POST /v1/traces, JSON), not for Jaeger: no storage,
 * no query API or UI, no gRPC (4317), no protobuf bodies.
 *
 * Usage: node otlp-receiver-main.js --host 0.0.0.0 --port 4318 --out spans.ndjson
 * Prints one line `listening <endpoint>` when ready; exits 0 on SIGTERM/SIGINT.
 */
import { appendFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { startOtlpReceiver } from "./otlp-receiver.js";

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "4318" },
    out: { type: "string" },
  },
});
const out = values.out;
if (!out) {
  console.error("otlp-receiver-main: --out FILE is required");
  process.exit(2);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`otlp-receiver-main: bad --port ${values.port}`);
  process.exit(2);
}

const receiver = await startOtlpReceiver({
  host: values.host,
  port,
  // One write per request: a reader never sees half a batch (at worst, the last line still being written).
  onSpans: (spans) => {
    if (spans.length > 0) appendFileSync(out, spans.map((s) => `${JSON.stringify(s)}\n`).join(""));
    // The receiver is long-running: keep nothing in memory beyond what the file holds.
    receiver.spans.length = 0;
  },
});
console.log(`listening ${receiver.endpoint}`);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    void receiver.close().then(() => process.exit(0));
  });
}
