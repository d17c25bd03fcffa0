import http from "node:http";
import type { AddressInfo } from "node:net";

/** One span as received over OTLP/HTTP JSON, flattened. */
export interface ReceivedSpan {
  service: string;
  /** service.instance.id: the pid of the process that sent it. */
  instance: string;
  /** Every attribute of the span's resource (service.name, service.instance.id, d7y.seed, ...). */
  resource: Record<string, string | number | boolean>;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, string | number | boolean>;
}

export interface OtlpReceiver {
  /** The traces endpoint to give components: http://127.0.0.1:PORT/v1/traces */
  readonly endpoint: string;
  readonly spans: ReceivedSpan[];
  /** Spans whose attribute key equals value (e.g. http.url). */
  find(key: string, value: string | number | boolean): ReceivedSpan[];
  trace(traceId: string): ReceivedSpan[];
  close(): Promise<void>;
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type KeyValue = { key: string; value: AnyValue };

function value(v: AnyValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return "";
}

function attributes(list: KeyValue[] | undefined): Record<string, string | number | boolean> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, value(kv.value)]));
}

export interface OtlpReceiverOptions {
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Listen port (default 0: any free port). */
  port?: number;
  /** Called with the spans of each accepted request, in order, after they are added to `spans`. */
  onSpans?: (spans: ReceivedSpan[]) => void;
}

/** An in-process OTLP/HTTP JSON trace receiver on loopback (what Jaeger's collector would receive). */
export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/traces") {
        res.writeHead(404).end();
        return;
      }
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          resourceSpans?: Array<{
            resource?: { attributes?: KeyValue[] };
            scopeSpans?: Array<{
              spans?: Array<{
                traceId: string;
                spanId: string;
                parentSpanId?: string;
                name: string;
                attributes?: KeyValue[];
              }>;
            }>;
          }>;
        };
        const received: ReceivedSpan[] = [];
        for (const resourceSpans of body.resourceSpans ?? []) {
          const resource = attributes(resourceSpans.resource?.attributes);
          for (const scope of resourceSpans.scopeSpans ?? []) {
            for (const span of scope.spans ?? []) {
              received.push({
                service: String(resource["service.name"] ?? ""),
                instance: String(resource["service.instance.id"] ?? ""),
                resource,
                traceId: span.traceId,
                spanId: span.spanId,
                parentSpanId: span.parentSpanId ?? "",
                name: span.name,
                attributes: attributes(span.attributes),
              });
            }
          }
        }
        spans.push(...received);
        options.onSpans?.(received);
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const endpointHost = host === "0.0.0.0" ? "127.0.0.1" : host;
  return {
    endpoint: `http://${endpointHost}:${port}/v1/traces`,
    spans,
    find: (key, wanted) => spans.filter((span) => span.attributes[key] === wanted),
    trace: (traceId) => spans.filter((span) => span.traceId === traceId),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
