// `npm start`: runs d7y-daemon on this machine as the registry mirror for containerd, with its cache
// under ./.d7y (or $D7Y_DATA_DIR), and prints the containerd configuration that points at it.
// Environment: D7Y_REGISTRIES (comma-separated upstreams), D7Y_PROXY_PORT, D7Y_API_PORT, D7Y_UPLOAD_PORT, D7Y_DATA_DIR.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const bin = join(root, "daemon", "bin", "d7y-daemon.js");
const dataDir = resolve(process.env.D7Y_DATA_DIR ?? join(root, ".d7y"));
const registries = (
  process.env.D7Y_REGISTRIES ?? "https://index.docker.io,https://ghcr.io,https://quay.io,https://registry.k8s.io"
)
  .split(",")
  .map((value) => value.trim())
  .filter(Boolean);
const proxyPort = process.env.D7Y_PROXY_PORT ?? "4001";
const apiPort = process.env.D7Y_API_PORT ?? "4000";
const uploadPort = process.env.D7Y_UPLOAD_PORT ?? "4005";
const mirror = `http://127.0.0.1:${proxyPort}`;
const hostsDir = join(dataDir, "certs.d");
mkdirSync(dataDir, { recursive: true });

const written = execFileSync(
  process.execPath,
  [
    bin,
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

const daemon = spawn(
  process.execPath,
  [
    bin,
    "--data-dir",
    join(dataDir, "daemon"),
    "--proxy-port",
    proxyPort,
    "--api-port",
    apiPort,
    "--upload-port",
    uploadPort,
    ...registries.flatMap((r) => ["--registry", r]),
  ],
  { stdio: ["ignore", "pipe", "inherit"] },
);

let announced = false;
daemon.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  if (!announced && chunk.toString().includes('"msg":"d7y-daemon ready"')) {
    announced = true;
    const first = written[0];
    process.stdout.write(
      [
        "",
        `d7y-daemon is up: registry mirror ${mirror}, API http://127.0.0.1:${apiPort}, cache ${dataDir}`,
        `containerd hosts.toml files were written under ${hostsDir} (one per registry, plus _default).`,
        "Use them with: ctr images pull --hosts-dir " + hostsDir + " <image>, or set containerd's",
        `  [plugins."io.containerd.grpc.v1.cri".registry] config_path = "${hostsDir}"`,
        first ? `For example ${first}:\n${readFileSync(first, "utf8")}` : "",
        "Stop with Ctrl-C.",
        "",
      ].join("\n"),
    );
  }
});

for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => daemon.kill(signal));
daemon.on("exit", (code, signal) => process.exit(code ?? (signal ? 0 : 1)));
