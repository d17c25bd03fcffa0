/**
 * A fake Kubernetes API server on loopback (plain HTTP): the calls `kubectl d7y` makes to find the manager
 * (list Services, list Pods) and the pod port-forward websocket (v4.channel.k8s.io: channel 0 data, channel 1
 * errors, the first frame of each channel carries the port, 2 bytes little-endian), relayed to a local TCP port.
 */
import http from "node:http";
import net from "node:net";
import { type WebSocket, WebSocketServer } from "ws";

export interface FakeKubeApiOptions {
  namespace: string;
  /** Where the manager pod's port 8080 really is (a local manager's REST port). */
  managerPort: number;
  /** Where the manager pod's port 65003 (the Service's grpc port) really is (a local manager's RPC port). */
  managerRpcPort?: number;
  /** Label the Service app.kubernetes.io/component=manager (default), or only name it d7y-manager. */
  labelled?: boolean;
}

export interface FakeKubeApi {
  readonly url: string;
  /** "GET /path?query" of every request, websocket upgrades included. */
  readonly requests: string[];
  /** Port-forward websockets opened so far. */
  forwards: number;
  close(): Promise<void>;
}

const POD = "d7y-manager-7d9f-x2";
const POD_PORT = 8080;
const POD_RPC_PORT = 65003;

function service(options: FakeKubeApiOptions) {
  const labels = options.labelled === false ? {} : { "app.kubernetes.io/component": "manager" };
  return {
    metadata: { name: "d7y-manager", namespace: options.namespace, labels },
    spec: {
      selector: { app: "d7y-manager" },
      ports: [
        { name: "grpc", port: 65003, targetPort: "grpc" },
        { name: "http", port: 80, targetPort: "http" },
      ],
    },
  };
}

function pod(name: string, ready: boolean) {
  return {
    metadata: { name, labels: { app: "d7y-manager" } },
    spec: {
      containers: [
        {
          name: "manager",
          ports: [
            { name: "http", containerPort: POD_PORT },
            { name: "grpc", containerPort: POD_RPC_PORT },
          ],
        },
      ],
    },
    status: {
      phase: ready ? "Running" : "Pending",
      conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
    },
  };
}

function list(kind: string, items: unknown[]) {
  return { kind, apiVersion: "v1", metadata: {}, items };
}

function answer(options: FakeKubeApiOptions, url: URL): { status: number; body: unknown } {
  const match = /^\/api\/v1\/namespaces\/([^/]+)\/(services|pods)$/.exec(url.pathname);
  if (!match) return { status: 404, body: { kind: "Status", message: `no route ${url.pathname}`, code: 404 } };
  const [, namespace, resource] = match;
  const selector = url.searchParams.get("labelSelector");
  const here = namespace === options.namespace;
  if (resource === "services") {
    const svc = service(options);
    const selected =
      here && (selector === null || Object.entries(svc.metadata.labels).some(([k, v]) => selector === `${k}=${v}`));
    return { status: 200, body: list("ServiceList", selected ? [svc] : []) };
  }
  const pods = here && selector === "app=d7y-manager" ? [pod("d7y-manager-old", false), pod(POD, true)] : [];
  return { status: 200, body: list("PodList", pods) };
}

function portFrame(channel: number, port: number): Buffer {
  const frame = Buffer.alloc(3);
  frame.writeUInt8(channel, 0);
  frame.writeUInt16LE(port, 1);
  return frame;
}

/** Relays one port-forward websocket to the manager's TCP port. */
function relay(ws: WebSocket, target: number, port: number): void {
  const tcp = net.connect(target, "127.0.0.1");
  ws.send(portFrame(0, port));
  ws.send(portFrame(1, port));
  tcp.on("data", (data) => ws.send(Buffer.concat([Buffer.from([0]), data])));
  tcp.on("close", () => ws.close());
  tcp.on("error", (error) => ws.send(Buffer.concat([Buffer.from([1]), Buffer.from(error.message)])));
  ws.on("message", (data: Buffer) => {
    if (data[0] === 0 && data.length > 1) tcp.write(data.subarray(1));
  });
  ws.on("close", () => tcp.destroy());
}

export async function startFakeKubeApi(options: FakeKubeApiOptions): Promise<FakeKubeApi> {
  const requests: string[] = [];
  const state = { forwards: 0 };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://kube");
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    const { status, body } = answer(options, url);
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  });
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has("v4.channel.k8s.io") ? "v4.channel.k8s.io" : false),
  });
  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", "http://kube");
    requests.push(`UPGRADE ${url.pathname}${url.search}`);
    const path = `/api/v1/namespaces/${options.namespace}/pods/${POD}/portforward`;
    const ports = url.searchParams.get("ports");
    const rpc = ports === String(POD_RPC_PORT) && options.managerRpcPort !== undefined;
    if (url.pathname !== path || (ports !== String(POD_PORT) && !rpc)) {
      socket.end("HTTP/1.1 404 Not Found\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      state.forwards++;
      if (rpc) relay(ws, options.managerRpcPort!, POD_RPC_PORT);
      else relay(ws, options.managerPort, POD_PORT);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get forwards() {
      return state.forwards;
    },
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A kubeconfig (JSON is YAML) whose contexts point at `server`. */
export function kubeconfigFor(server: string, contexts: Record<string, { namespace?: string }> = { fake: {} }): string {
  const names = Object.keys(contexts);
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    // Plain http: client-node refuses it unless TLS verification is off.
    clusters: [{ name: "fake", cluster: { server, "insecure-skip-tls-verify": true } }],
    users: [{ name: "fake", user: { token: "t" } }],
    contexts: names.map((name) => ({ name, context: { cluster: "fake", user: "fake", ...contexts[name] } })),
    "current-context": names[0],
  });
}
