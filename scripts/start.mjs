// `npm start`: the all-in-one local cluster. Runs d7y-manager, d7y-scheduler, a seed peer and a
// d7y-daemon on this machine, with embedded storage under one data directory (./.d7y or
// $D7Y_DATA_DIR), and prints the mirror address and the containerd hosts.toml to use.
// Environment: D7Y_REGISTRIES (comma-separated upstreams), D7Y_DATA_DIR, and the ports D7Y_PROXY_PORT
// (4001), D7Y_API_PORT (4000), D7Y_UPLOAD_PORT (4005), D7Y_SCHEDULER_PORT (8002),
// D7Y_MANAGER_PORT (8080), D7Y_MANAGER_RPC_PORT (65003), D7Y_SEED_PORT_BASE (4010: seed API, +1
// mirror, +2 metrics, +5 upload), and the Prometheus /metrics ports D7Y_METRICS_PORT (daemon, 4002),
// D7Y_SCHEDULER_METRICS_PORT (8000), D7Y_MANAGER_METRICS_PORT (8001).
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const env = process.env;
const bin = (name) => join(root, name, "bin", `d7y-${name}.js`);
const dataDir = resolve(env.D7Y_DATA_DIR ?? join(root, ".d7y"));
const registries = (
  env.D7Y_REGISTRIES ?? "https://index.docker.io,https://ghcr.io,https://quay.io,https://registry.k8s.io"
)
  .split(",")
  .map((value) => value.trim())
  .filter(Boolean);
const port = (name, fallback) => String(Number(env[name] ?? fallback));
const ports = {
  proxy: port("D7Y_PROXY_PORT", 4001),
  api: port("D7Y_API_PORT", 4000),
  upload: port("D7Y_UPLOAD_PORT", 4005),
  scheduler: port("D7Y_SCHEDULER_PORT", 8002),
  manager: port("D7Y_MANAGER_PORT", 8080),
  managerRpc: port("D7Y_MANAGER_RPC_PORT", 65003),
  seed: Number(env.D7Y_SEED_PORT_BASE ?? 4010),
  metrics: port("D7Y_METRICS_PORT", 4002),
  schedulerMetrics: port("D7Y_SCHEDULER_METRICS_PORT", 8000),
  managerMetrics: port("D7Y_MANAGER_METRICS_PORT", 8001),
};
const metricsArgs = (metricsPort) => ["--metrics-host", "127.0.0.1", "--metrics-port", String(metricsPort)];
const mirror = `http://127.0.0.1:${ports.proxy}`;
const managerRpc = `http://127.0.0.1:${ports.managerRpc}`;
const schedulerUrl = `http://127.0.0.1:${ports.scheduler}`;
const hostsDir = join(dataDir, "certs.d");
mkdirSync(dataDir, { recursive: true });

const written = execFileSync(
  process.execPath,
  [
    bin("daemon"),
    "containerd-config",
    "--hosts-dir",
    hostsDir,
    "--mirror",
    mirror,
    "--all",
    ...registries.flatMap((r) => ["--registry", r]),
  ],
  { encoding: "utf8" },
)
  .trim()
  .split("\n")
  .map((line) => line.replace(/^wrote /, ""));

const common = [
  "--host-ip",
  "127.0.0.1",
  "--manager",
  managerRpc,
  "--scheduler",
  schedulerUrl,
  "--announce-interval",
  "5s",
  ...registries.flatMap((r) => ["--registry", r]),
];
const components = [
  {
    name: "manager",
    args: [
      bin("manager"),
      "--data-dir",
      join(dataDir, "manager"),
      "--host",
      "127.0.0.1",
      "--port",
      ports.manager,
      "--rpc-host",
      "127.0.0.1",
      "--rpc-port",
      ports.managerRpc,
      ...metricsArgs(ports.managerMetrics),
    ],
    ready: "d7y-manager ready",
  },
  {
    name: "scheduler",
    args: [
      bin("scheduler"),
      "--host",
      "127.0.0.1",
      "--port",
      ports.scheduler,
      "--manager",
      managerRpc,
      "--advertise-ip",
      "127.0.0.1",
      ...metricsArgs(ports.schedulerMetrics),
    ],
    ready: "d7y-scheduler ready",
  },
  {
    name: "seed",
    args: [
      bin("daemon"),
      "--seed",
      "--data-dir",
      join(dataDir, "seed"),
      "--api-port",
      String(ports.seed),
      "--proxy-host",
      "127.0.0.1",
      "--proxy-port",
      String(ports.seed + 1),
      "--upload-host",
      "127.0.0.1",
      "--upload-port",
      String(ports.seed + 5),
      ...metricsArgs(ports.seed + 2),
      ...common,
    ],
    ready: "d7y-daemon ready",
  },
  {
    name: "daemon",
    args: [
      bin("daemon"),
      "--data-dir",
      join(dataDir, "daemon"),
      "--api-port",
      ports.api,
      "--proxy-host",
      "127.0.0.1",
      "--proxy-port",
      ports.proxy,
      "--upload-host",
      "127.0.0.1",
      "--upload-port",
      ports.upload,
      ...metricsArgs(ports.metrics),
      ...common,
    ],
    ready: "d7y-daemon ready",
  },
];

const children = [];
let stopping = false;

function stopAll(code) {
  if (stopping) return;
  stopping = true;
  const alive = children.filter((child) => child.exitCode === null && child.signalCode === null);
  if (alive.length === 0) process.exit(code);
  let left = alive.length;
  for (const child of alive.reverse()) {
    child.once("exit", () => {
      if (--left === 0) process.exit(code);
    });
    child.kill("SIGTERM");
  }
  setTimeout(() => process.exit(code), 15_000).unref();
}

/** Starts one component and resolves when it logs its ready line; a component that dies stops everything. */
function start(component) {
  return new Promise((resolveReady, reject) => {
    const child = spawn(process.execPath, component.args, { stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let pending = "";
    let ready = false;
    const onData = (chunk) => {
      pending += chunk.toString();
      let newline = pending.indexOf("\n");
      while (newline >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        newline = pending.indexOf("\n");
        if (line.startsWith("{")) {
          try {
            const entry = JSON.parse(line);
            if (entry.level >= 40 || entry.msg === component.ready)
              process.stdout.write(
                `[${component.name}] ${entry.msg}${entry.err ? `: ${entry.err.message ?? entry.err}` : ""}\n`,
              );
          } catch {
            process.stdout.write(`[${component.name}] ${line}\n`);
          }
        } else if (line.trim()) {
          process.stdout.write(`[${component.name}] ${line}\n`);
        }
        if (!ready && line.includes(`"msg":"${component.ready}"`)) {
          ready = true;
          resolveReady();
        }
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code, signal) => {
      if (!ready) reject(new Error(`${component.name} exited (${code ?? signal}) before it was ready`));
      else if (!stopping) {
        process.stdout.write(`[${component.name}] exited (${code ?? signal}); stopping the cluster\n`);
        stopAll(1);
      }
    });
  });
}

for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => stopAll(0));

try {
  for (const component of components) await start(component);
} catch (error) {
  console.error(`npm start: ${error.message}`);
  stopAll(1);
}
if (!stopping) {
  const first = written[0];
  process.stdout.write(
    [
      "",
      "d7y is up (all-in-one):",
      `  registry mirror  ${mirror}   (hosts.toml files under ${hostsDir}, one per registry plus _default)`,
      `  manager          http://127.0.0.1:${ports.manager}   (REST; Connect on ${managerRpc})`,
      `  scheduler        ${schedulerUrl}`,
      `  seed peer        API http://127.0.0.1:${ports.seed}`,
      `  metrics          daemon http://127.0.0.1:${ports.metrics}/metrics, seed :${ports.seed + 2}, scheduler :${ports.schedulerMetrics}, manager :${ports.managerMetrics}`,
      `  data             ${dataDir}`,
      "",
      `Use the mirror: ctr images pull --hosts-dir ${hostsDir} <image>, or set containerd's`,
      `  [plugins."io.containerd.grpc.v1.cri".registry] config_path = "${hostsDir}"`,
      first ? `${first}:\n${readFileSync(first, "utf8")}` : "",
      `Preheat: curl -X POST http://127.0.0.1:${ports.manager}/api/v1/jobs -H 'Content-Type: application/json' \\`,
      `  -d '{"type":"preheat","args":{"type":"image","url":"https://ghcr.io/v2/<repo>/manifests/<tag>"}}'`,
      "Stop with Ctrl-C.",
      "",
    ].join("\n"),
  );
}
