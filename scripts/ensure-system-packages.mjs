// Installs the Debian packages the tests use when they are missing (needs root and apt-get).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** Each command the tests run, with the Debian package that provides it. */
const NEEDED = [
  ["/usr/bin/docker-registry", "docker-registry"],
  ["/usr/bin/containerd", "containerd"],
  ["/usr/bin/ctr", "containerd"],
  ["/usr/bin/skopeo", "skopeo"],
  ["/usr/bin/htpasswd", "apache2-utils"],
  ["/usr/sbin/ip", "iproute2"],
  // helm-e2e installs the dfdaemon pods' hostPorts (DNAT) inside its node namespaces, as CNI portmap does.
  ["/usr/sbin/iptables", "iptables"],
  ["/usr/bin/prometheus", "prometheus"],
  ["/usr/bin/curl", "curl"],
  ["/usr/bin/tmux", "tmux"],
  // Go, sprig and yaml.v3 build test/helm-render (the tests' `helm template` work-alike) offline.
  ["/usr/bin/go", "golang-go"],
  ["/usr/share/gocode/src/github.com/Masterminds/sprig/functions.go", "golang-github-masterminds-sprig-dev"],
  ["/usr/share/gocode/src/gopkg.in/yaml.v3/yaml.go", "golang-gopkg-yaml.v3-dev"],
];

const missing = [...new Set(NEEDED.filter(([path]) => !existsSync(path)).map(([, pkg]) => pkg))];
if (missing.length === 0) process.exit(0);

const isRoot = process.getuid?.() === 0;
if (!isRoot || spawnSync("apt-get", ["--version"], { stdio: "ignore" }).status !== 0) {
  console.error(
    `the tests need these Debian packages: ${missing.join(" ")} (run as root with apt-get, or install them)`,
  );
  process.exit(1);
}
console.log(`installing Debian packages the tests use: ${missing.join(" ")}`);
const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { stdio: "inherit", env });
