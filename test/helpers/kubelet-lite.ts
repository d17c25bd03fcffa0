/**
 * "kubelet-lite": runs the pods of rendered Kubernetes objects (a Helm chart's output) as real processes,
 * each pod in a network namespace, so that a test plays the chart's wiring instead of only reading it.
 *
 * What it does like a kubelet:
 * - init containers run in order, each to completion (a non-zero exit fails the pod), then containers;
 * - `command` + `args` exactly as rendered, `$(VAR)` expanded from the container's `env` (downward API:
 *   status.podIP, status.hostIP, metadata.name, metadata.namespace, spec.nodeName);
 * - volumes: configMap (a dir holding the ConfigMap's data files), hostPath (`<nodeRoot><path>`, created
 *   root-owned 0755 like DirectoryOrCreate), persistentVolumeClaim and volumeClaimTemplates (a dir per
 *   claim, given to the pod's fsGroup), emptyDir (a 0777 dir per pod);
 * - securityContext: runAsUser/runAsGroup (default 1000:1000, the image's USER), fsGroup as a
 *   supplementary group, runAsNonRoot checked, capabilities (drop/add) as the bounding set,
 *   allowPrivilegeEscalation: false as no_new_privs, all through util-linux `setpriv`;
 * - readinessProbe httpGet (port by name or number) and tcpSocket, run inside the pod's namespace against
 *   the pod IP;
 * - `helm test`: a bare Pod annotated `helm.sh/hook: test` is a test hook, never started with the workloads
 *   (createPod() refuses bare Pods); runTestHook() runs it to completion, with the same rules, in the
 *   namespace given to it, and returns its exit code and output.
 *
 * What it does differently (simulated):
 * - there is no container: no image, no mount namespace. Each volumeMount's mountPath is replaced, in the
 *   arguments and in the env values (e.g. HOME=/tmp), by the directory that stands for the volume (and
 *   TMPDIR points at the volume mounted at /tmp); readOnly and readOnlyRootFilesystem are not enforced, seccomp is not applied;
 * - the program name is resolved against the assembled image tree (`bins`, run with process.execPath),
 *   `sh` is /bin/sh;
 * - Services resolve through /etc/hosts (see hostsEntries()) to the pod IPs directly (no ClusterIP);
 * - hostPorts are listed (LitePod.hostPorts), not published: the test installs them like the CNI portmap
 *   plugin would (test/helpers/portmap.ts);
 * - no restarts, no liveness probes, no resource limits.
 */
import { chmod, chown, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { RenderedObject } from "./helm.js";
import { run, spawnTracked, type TrackedProcess, waitFor } from "./processes.js";

// biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects are checked at run time.
type K8s = Record<string, any>;

/** The image's `USER 1000:1000` (Dockerfile). */
const IMAGE_UID = 1000;
const IMAGE_GID = 1000;
/** The image's ENV and a plain PATH. */
const IMAGE_ENV: Record<string, string> = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  NODE_ENV: "production",
};
/** The container runtime's default capabilities (containerd/Docker), before drop/add. */
const DEFAULT_CAPS = [
  "chown",
  "dac_override",
  "fsetid",
  "fowner",
  "mknod",
  "net_raw",
  "setgid",
  "setuid",
  "setfcap",
  "setpcap",
  "net_bind_service",
  "sys_chroot",
  "kill",
  "audit_write",
];

export type WorkloadKind = "Deployment" | "StatefulSet" | "DaemonSet";

export interface Workload {
  kind: WorkloadKind;
  name: string;
  replicas: number;
  template: K8s;
  volumeClaimTemplates: K8s[];
}

/** The annotation that makes a rendered Pod a `helm test` hook (its value lists the hook kinds). */
export const HELM_HOOK_ANNOTATION = "helm.sh/hook";

export interface PodPlacement {
  /** "Pod": a bare Pod (a test hook, see runTestHook()). */
  kind: WorkloadKind | "Pod";
  /** The workload's metadata.name (a bare Pod's own name). */
  workload: string;
  /** metadata.name of the pod, e.g. d7y-seed-peer-0 or d7y-dfdaemon-node1. */
  podName: string;
  nodeName: string;
  /** Network namespace the pod's processes run in. */
  netns: string;
  podIp: string;
  /** The node's address (status.hostIP); default podIp. */
  hostIp?: string;
  /** Root of the node's file system: hostPath `/x/y` is `<nodeRoot>/x/y`. */
  nodeRoot: string;
}

export interface KubeletLiteOptions {
  objects: RenderedObject[];
  /** Program name -> absolute path of its script in the assembled image tree (run with process.execPath). */
  bins: Record<string, string>;
  /** Pods, volumes and claims go here; it must be traversable by uid 1000. */
  workDir: string;
  /** Release namespace (for Service DNS names), default "d7y". */
  namespace?: string;
  /** Hard limit of each init container (default 60 s). */
  initTimeoutMs?: number;
  /** Mirror every container's output to stderr. */
  echo?: boolean;
}

export interface InitResult {
  name: string;
  argv: string[];
  code: number | null;
  output: string;
}

export interface ProcessSpec {
  /** The argv actually executed (after the namespace/setpriv wrap). */
  argv: string[];
  /** The container's command+args after $(VAR) expansion and mount remapping. */
  containerArgv: string[];
  env: Record<string, string>;
  uid: number;
  gid: number;
}

export interface HostPort {
  container: string;
  /** The port's name, "" when it has none. */
  name: string;
  containerPort: number;
  hostPort: number;
  protocol: string;
}

export interface TestHookRun {
  podName: string;
  /** Like the pod's phase: 0 when every container exited 0, else the first non-zero code; null on a timeout or signal. */
  code: number | null;
  /** Each container's exit (init containers included, in order). */
  exits: Array<{ container: string; code: number | null; signal: NodeJS.Signals | null }>;
  timedOut: boolean;
  /** The containers' combined stdout+stderr (init containers' first). */
  output: string;
  durationMs: number;
  /** The pod (its volumes and specs), all of its processes stopped. */
  pod: LitePod;
}

export interface LitePod {
  readonly placement: PodPlacement;
  readonly labels: Record<string, string>;
  /** Volume name -> the directory standing for it. */
  readonly volumes: Map<string, string>;
  /** What each container (init or not) runs, by container name. */
  readonly specs: Map<string, ProcessSpec>;
  readonly initResults: InitResult[];
  readonly processes: Map<string, TrackedProcess>;
  /**
   * The containers' ports that ask for a hostPort. kubelet-lite does not publish them (that is the CNI
   * portmap plugin's job on a node): see test/helpers/portmap.ts.
   */
  readonly hostPorts: HostPort[];
  /** Runs the init containers in order; throws on the first non-zero exit. `deadline`: a Date.now() bound. */
  runInitContainers(deadline?: number): Promise<InitResult[]>;
  /** Starts every container (not waiting for readiness). */
  startContainers(): void;
  /** Waits until every container's readinessProbe passes (or a container exits: then throws). */
  waitReady(timeoutMs?: number): Promise<number>;
  /** Output of one container, or of all. */
  output(container?: string): string;
  stop(): Promise<void>;
}

/** A bare Pod whose helm.sh/hook annotation lists `test` (Helm 3; `test-success` is Helm 2's name for it). */
function isTestHook(o: K8s): boolean {
  if (o.kind !== "Pod") return false;
  const hooks = String(o.metadata?.annotations?.[HELM_HOOK_ANNOTATION] ?? "").split(",");
  return hooks.some((h) => h.trim() === "test" || h.trim() === "test-success");
}

function asList<T = K8s>(v: unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : [];
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Kubernetes `$(VAR)` expansion: defined variables are replaced, `$$` is a literal `$`. */
export function expandVars(s: string, vars: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) => {
    if (m === "$$") return "$";
    return name !== undefined && vars[name] !== undefined ? vars[name] : m;
  });
}

/**
 * Replaces each mount path, where it starts a path in `s` (start of the string or after `=`, space,
 * quote, `:`), by its directory. Longest mount paths first.
 */
export function remapMounts(s: string, mounts: ReadonlyArray<{ mountPath: string; dir: string }>): string {
  const sorted = [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length);
  if (sorted.length === 0) return s;
  const re = new RegExp(
    `(^|[=\\s"':,])(${sorted.map((m) => escapeRegExp(m.mountPath.replace(/\/+$/, ""))).join("|")})(?=$|[/\\s"':,;&|)])`,
    "g",
  );
  return s.replace(re, (_m, pre: string, path: string) => {
    const mount = sorted.find((m) => m.mountPath.replace(/\/+$/, "") === path)!;
    return `${pre}${mount.dir}`;
  });
}

export class KubeletLite {
  readonly namespace: string;
  readonly pods: LitePod[] = [];
  private readonly objects: K8s[];
  /** Pods that something else stands in for (not run here), for Service DNS only. */
  private readonly standIns: Array<{ labels: Record<string, string>; podIp: string }> = [];

  constructor(private readonly opts: KubeletLiteOptions) {
    this.namespace = opts.namespace ?? "d7y";
    this.objects = opts.objects.map((o) => o.object);
  }

  /** The rendered object of `kind` named `name`. */
  find(kind: string, name: string): K8s {
    const found = this.objects.find((o) => o.kind === kind && o.metadata?.name === name);
    if (!found) throw new Error(`no ${kind} ${name} in the rendered objects`);
    return found;
  }

  /** Every Deployment, StatefulSet and DaemonSet. */
  workloads(): Workload[] {
    return this.objects
      .filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet" || o.kind === "DaemonSet")
      .map((o) => ({
        kind: o.kind as WorkloadKind,
        name: o.metadata.name as string,
        replicas: o.kind === "DaemonSet" ? 1 : Number(o.spec.replicas ?? 1),
        template: o.spec.template,
        volumeClaimTemplates: asList(o.spec.volumeClaimTemplates),
      }));
  }

  /**
   * Records that a process outside kubelet-lite stands in for a pod of `workload` (e.g. an image that cannot
   * run here) at `podIp`: Services selecting the workload's pod labels then resolve to it (hostsEntries()).
   */
  addStandIn(kind: WorkloadKind, workload: string, podIp: string): void {
    const w = this.workloads().find((x) => x.kind === kind && x.name === workload);
    if (!w) throw new Error(`no ${kind} ${workload} in the rendered objects`);
    this.standIns.push({ labels: { ...(w.template.metadata?.labels ?? {}) }, podIp });
  }

  /**
   * /etc/hosts entries standing in for cluster DNS: every Service name (`svc`, `svc.ns`, `svc.ns.svc`,
   * `svc.ns.svc.cluster.local`) maps to the IPs of the created pods (and stand-ins) its selector matches; StatefulSet pods
   * also get `pod.svc.ns.svc[.cluster.local]` for their serviceName.
   */
  hostsEntries(): Array<{ ip: string; names: string[] }> {
    const byIp = new Map<string, string[]>();
    const add = (ip: string, names: string[]): void => {
      const list = byIp.get(ip) ?? [];
      for (const n of names) if (!list.includes(n)) list.push(n);
      byIp.set(ip, list);
    };
    const ns = this.namespace;
    const dnsNames = (name: string): string[] => [
      name,
      `${name}.${ns}`,
      `${name}.${ns}.svc`,
      `${name}.${ns}.svc.cluster.local`,
    ];
    for (const svc of this.objects.filter((o) => o.kind === "Service")) {
      const selector = (svc.spec?.selector ?? {}) as Record<string, string>;
      const name = svc.metadata.name as string;
      const selects = (labels: Record<string, string>): boolean =>
        Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
      const matching = this.pods.filter((p) => selects(p.labels));
      for (const standIn of this.standIns.filter((x) => selects(x.labels))) add(standIn.podIp, dnsNames(name));
      for (const pod of matching) {
        add(pod.placement.podIp, dnsNames(name));
        if (pod.placement.kind === "StatefulSet") {
          const sts = this.find("StatefulSet", pod.placement.workload);
          if (sts.spec.serviceName === name) {
            add(pod.placement.podIp, [
              `${pod.placement.podName}.${name}.${ns}.svc`,
              `${pod.placement.podName}.${name}.${ns}.svc.cluster.local`,
            ]);
          }
        }
      }
    }
    return [...byIp.entries()].map(([ip, names]) => ({ ip, names }));
  }

  /** The rendered bare Pods annotated `helm.sh/hook: test` (what `helm test` runs), by name. */
  testHooks(): string[] {
    return this.objects.filter((o) => isTestHook(o)).map((o) => o.metadata.name as string);
  }

  /** Makes a workload pod's volumes and process specs; nothing runs yet. Bare Pods are test hooks: see runTestHook(). */
  async createPod(placement: PodPlacement): Promise<LitePod> {
    if (placement.kind === "Pod") {
      throw new Error(`${placement.workload}: a bare Pod is not a workload (a test hook runs with runTestHook())`);
    }
    const pod = await this.buildPod(placement);
    this.pods.push(pod);
    return pod;
  }

  /**
   * `helm test` for the hook Pod `name`: its init containers, then its containers, run to completion in
   * `placement.netns` (a namespace with an IP on the pods' bridge, and the Service names in its hosts file),
   * within `timeoutMs` (then SIGKILL: timedOut). Everything it started is stopped before it returns. The
   * hook is not one of `pods` (no Service resolves to it).
   */
  async runTestHook(
    name: string,
    placement: Omit<PodPlacement, "kind" | "workload" | "podName">,
    timeoutMs = 60_000,
  ): Promise<TestHookRun> {
    // A new Pod each time (helm deletes the hook's previous Pod before it creates it): fresh emptyDirs.
    await rm(join(this.opts.workDir, "pods", name), { recursive: true, force: true });
    const pod = await this.buildPod({ ...placement, kind: "Pod", workload: name, podName: name });
    const started = Date.now();
    const deadline = started + timeoutMs;
    let timedOut = false;
    const exits: TestHookRun["exits"] = [];
    try {
      try {
        await pod.runInitContainers(deadline);
      } catch {
        // The failed init container is the pod's result.
      }
      for (const r of pod.initResults) exits.push({ container: r.name, code: r.code, signal: null });
      if (pod.initResults.every((r) => r.code === 0)) {
        pod.startContainers();
        const all = Promise.all([...pod.processes].map(async ([container, p]) => ({ container, ...(await p.exited) })));
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
        });
        const done = await Promise.race([all, expired]);
        clearTimeout(timer);
        if (done === "timeout") {
          timedOut = true;
          await Promise.allSettled([...pod.processes.values()].map((p) => p.stop("SIGKILL", 5000)));
        }
        exits.push(...(await all));
      }
    } finally {
      await pod.stop();
    }
    const failed = exits.find((e) => e.code !== 0);
    return {
      podName: name,
      code: timedOut ? null : failed ? failed.code : 0,
      exits,
      timedOut,
      output: [...pod.initResults.map((r) => r.output), ...[...pod.processes.values()].map((p) => p.output())].join(""),
      durationMs: Date.now() - started,
      pod,
    };
  }

  /** The pod template of a workload, or a test hook Pod's own metadata and spec. */
  private podSource(placement: PodPlacement): { template: K8s; volumeClaimTemplates: K8s[] } {
    if (placement.kind === "Pod") {
      const pod = this.find("Pod", placement.workload);
      if (!isTestHook(pod)) throw new Error(`Pod ${placement.workload} is not annotated ${HELM_HOOK_ANNOTATION}: test`);
      return { template: { metadata: pod.metadata, spec: pod.spec }, volumeClaimTemplates: [] };
    }
    const workload = this.workloads().find((w) => w.kind === placement.kind && w.name === placement.workload);
    if (!workload) throw new Error(`no ${placement.kind} ${placement.workload} in the rendered objects`);
    return workload;
  }

  private async buildPod(placement: PodPlacement): Promise<LitePod> {
    const workload = this.podSource(placement);
    const spec = workload.template.spec as K8s;
    const labels = { ...(workload.template.metadata?.labels ?? {}) } as Record<string, string>;
    const podDir = join(this.opts.workDir, "pods", placement.podName);
    await mkdir(podDir, { recursive: true, mode: 0o755 });
    await chmod(podDir, 0o755);
    const podSecurity = (spec.securityContext ?? {}) as K8s;
    const fsGroup = podSecurity.fsGroup === undefined ? undefined : Number(podSecurity.fsGroup);

    // Volumes.
    const volumes = new Map<string, string>();
    const giveToFsGroup = async (dir: string): Promise<void> => {
      if (fsGroup === undefined) return;
      await chown(dir, 0, fsGroup);
      await chmod(dir, 0o2775);
    };
    const claimDir = async (claim: string): Promise<string> => {
      const dir = join(this.opts.workDir, "pv", claim);
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await chmod(join(this.opts.workDir, "pv"), 0o755);
      await chmod(dir, 0o755);
      await giveToFsGroup(dir);
      return dir;
    };
    for (const v of asList(spec.volumes)) {
      let dir: string;
      if (v.configMap) {
        const cm = this.find("ConfigMap", v.configMap.name as string);
        dir = join(podDir, "volumes", v.name as string);
        await mkdir(dir, { recursive: true, mode: 0o755 });
        const items = asList<{ key: string; path: string }>(v.configMap.items);
        const data = (cm.data ?? {}) as Record<string, string>;
        const files = items.length > 0 ? items.map((i) => [i.path, data[i.key] ?? ""]) : Object.entries(data);
        for (const [file, content] of files)
          await writeFile(join(dir, file as string), content as string, { mode: 0o644 });
      } else if (v.hostPath) {
        const path = String(v.hostPath.path);
        dir = join(placement.nodeRoot, path);
        // DirectoryOrCreate: the kubelet creates it root-owned, 0755.
        await mkdir(dir, { recursive: true, mode: 0o755 });
      } else if (v.persistentVolumeClaim) {
        const claimName = String(v.persistentVolumeClaim.claimName);
        this.find("PersistentVolumeClaim", claimName);
        dir = await claimDir(claimName);
      } else if (v.emptyDir) {
        dir = join(podDir, "volumes", v.name as string);
        await mkdir(dir, { recursive: true });
        await chmod(dir, 0o777);
      } else {
        throw new Error(`${placement.podName}: volume ${v.name} of an unsupported type: ${JSON.stringify(v)}`);
      }
      volumes.set(v.name as string, dir);
    }
    for (const t of workload.volumeClaimTemplates) {
      const name = String(t.metadata?.name);
      if (!volumes.has(name)) volumes.set(name, await claimDir(`${name}-${placement.podName}`));
    }
    await chmod(join(podDir, "volumes"), 0o755).catch(() => undefined);

    // Process specs.
    const specs = new Map<string, ProcessSpec>();
    const makeSpec = (c: K8s): ProcessSpec => {
      const env: Record<string, string> = {};
      for (const e of asList(c.env)) {
        if (e.value !== undefined) env[e.name] = expandVars(String(e.value), env);
        else if (e.valueFrom?.fieldRef) {
          const field = String(e.valueFrom.fieldRef.fieldPath);
          const value: Record<string, string> = {
            "status.podIP": placement.podIp,
            "status.hostIP": placement.hostIp ?? placement.podIp,
            "metadata.name": placement.podName,
            "metadata.namespace": this.namespace,
            "spec.nodeName": placement.nodeName,
          };
          if (value[field] === undefined)
            throw new Error(`${placement.podName}/${c.name}: fieldRef ${field} not supported`);
          env[e.name] = value[field];
        } else {
          throw new Error(`${placement.podName}/${c.name}: env ${e.name} has an unsupported source`);
        }
      }
      const mounts = asList(c.volumeMounts).map((m) => {
        const dir = volumes.get(m.name as string);
        if (dir === undefined) throw new Error(`${placement.podName}/${c.name}: volumeMount ${m.name} has no volume`);
        return { mountPath: String(m.mountPath), dir: m.subPath ? join(dir, String(m.subPath)) : dir };
      });
      const raw = [...asList<string>(c.command), ...asList<string>(c.args)].map(String);
      if (raw.length === 0) throw new Error(`${placement.podName}/${c.name}: no command (the image has no entrypoint)`);
      const containerArgv = raw.map((a) => remapMounts(expandVars(a, env), mounts));
      const program = containerArgv[0]!;
      let exec: string[];
      if (this.opts.bins[program]) exec = [process.execPath, this.opts.bins[program]!, ...containerArgv.slice(1)];
      else if (program === "sh") exec = ["/bin/sh", ...containerArgv.slice(1)];
      else if (program.startsWith("/")) exec = containerArgv;
      else throw new Error(`${placement.podName}/${c.name}: program ${program} is not in the image`);

      const sc = { ...podSecurity, ...(c.securityContext ?? {}) } as K8s;
      const uid = sc.runAsUser === undefined ? IMAGE_UID : Number(sc.runAsUser);
      const gid = sc.runAsGroup === undefined ? (uid === 0 ? 0 : IMAGE_GID) : Number(sc.runAsGroup);
      if (sc.runAsNonRoot === true && uid === 0) {
        throw new Error(`${placement.podName}/${c.name}: runAsNonRoot with runAsUser 0 (the kubelet refuses it)`);
      }
      const drop = asList<string>(sc.capabilities?.drop).map((x) => x.toLowerCase());
      const addCaps = asList<string>(sc.capabilities?.add).map((x) => x.toLowerCase().replace(/^cap_/, ""));
      const caps = drop.includes("all")
        ? addCaps
        : [...new Set([...DEFAULT_CAPS.filter((x) => !drop.includes(x) && !drop.includes(`cap_${x}`)), ...addCaps])];
      const setpriv = [
        "setpriv",
        "--reuid",
        String(uid),
        "--regid",
        String(gid),
        ...(fsGroup === undefined ? ["--clear-groups"] : ["--groups", String(fsGroup)]),
        "--inh-caps",
        "-all",
        "--bounding-set",
        ["-all", ...caps.map((x) => `+${x}`)].join(","),
        ...(sc.allowPrivilegeEscalation === false ? ["--no-new-privs"] : []),
        "--",
      ];
      const tmp = mounts.find((m) => m.mountPath === "/tmp");
      const processEnv: Record<string, string> = {
        ...IMAGE_ENV,
        HOSTNAME: placement.podName,
        HOME: "/",
        ...(tmp ? { TMPDIR: tmp.dir } : {}),
        // Remapped once, here: `$(VAR)` in the arguments expands to the rendered value, then is remapped.
        ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, remapMounts(v, mounts)])),
      };
      return {
        argv: ["ip", "netns", "exec", placement.netns, ...setpriv, ...exec],
        containerArgv,
        env: processEnv,
        uid,
        gid,
      };
    };
    const initContainers = asList(spec.initContainers);
    const containers = asList(spec.containers);
    for (const c of [...initContainers, ...containers]) specs.set(c.name as string, makeSpec(c));

    const hostPorts: HostPort[] = containers.flatMap((c) =>
      asList(c.ports)
        .filter((p) => p.hostPort !== undefined && Number(p.hostPort) > 0)
        .map((p) => ({
          container: String(c.name),
          name: String(p.name ?? ""),
          containerPort: Number(p.containerPort),
          hostPort: Number(p.hostPort),
          protocol: String(p.protocol ?? "TCP"),
        })),
    );
    const initResults: InitResult[] = [];
    const processes = new Map<string, TrackedProcess>();
    const opts = this.opts;
    const name = placement.podName;
    const describe = (): string =>
      [
        ...initResults.map((r) => `--- ${name}/${r.name} (init, exit ${r.code}) ---\n${r.output.slice(-4000)}`),
        ...[...processes.entries()].map(
          ([c, p]) => `--- ${name}/${c} (${p.isRunning() ? "running" : "exited"}) ---\n${p.output().slice(-6000)}`,
        ),
      ].join("\n");

    const probeOnce = async (c: K8s): Promise<boolean> => {
      const probe = c.readinessProbe as K8s | undefined;
      if (!probe) return true;
      const portOf = (port: unknown): number => {
        if (typeof port === "number") return port;
        const found = asList(c.ports).find((p) => p.name === port);
        if (!found) throw new Error(`${name}/${c.name}: probe port ${String(port)} is not a container port`);
        return Number(found.containerPort);
      };
      const host = placement.podIp;
      if (probe.httpGet) {
        const scheme = String(probe.httpGet.scheme ?? "HTTP").toLowerCase();
        const url = `${scheme}://${host}:${portOf(probe.httpGet.port)}${probe.httpGet.path ?? "/"}`;
        // The kubelet counts 200-399 as success.
        const r = await run(
          "ip",
          [
            "netns",
            "exec",
            placement.netns,
            "curl",
            "-s",
            "-k",
            "-o",
            "/dev/null",
            "-m",
            "2",
            "-w",
            "%{http_code}",
            url,
          ],
          { timeoutMs: 5000 },
        );
        const status = Number(r.stdout.trim());
        return status >= 200 && status < 400;
      }
      if (probe.tcpSocket) {
        const port = portOf(probe.tcpSocket.port);
        const r = await run(
          "ip",
          ["netns", "exec", placement.netns, "timeout", "2", "bash", "-c", `exec 3<>/dev/tcp/${host}/${port}`],
          { timeoutMs: 5000 },
        );
        return r.code === 0;
      }
      throw new Error(`${name}/${c.name}: unsupported readinessProbe ${JSON.stringify(probe)}`);
    };

    const pod: LitePod = {
      placement,
      labels,
      volumes,
      specs,
      initResults,
      processes,
      hostPorts,
      runInitContainers: async (deadline) => {
        for (const c of initContainers) {
          const s = specs.get(c.name as string)!;
          const limit = opts.initTimeoutMs ?? 60_000;
          const timeoutMs = deadline === undefined ? limit : Math.max(1, Math.min(limit, deadline - Date.now()));
          const r = await run(s.argv[0]!, s.argv.slice(1), { env: s.env, timeoutMs });
          const result: InitResult = {
            name: c.name as string,
            argv: s.containerArgv,
            code: r.code,
            output: `${r.stdout}${r.stderr}`,
          };
          initResults.push(result);
          if (opts.echo) process.stderr.write(`[${name}/${result.name}] ${result.output}`);
          if (r.code !== 0) {
            throw new Error(
              `${name}: init container ${result.name} exited ${r.code ?? r.signal}\nargv: ${JSON.stringify(s.containerArgv)}\n${result.output}`,
            );
          }
        }
        return initResults;
      },
      startContainers: () => {
        for (const c of containers) {
          const s = specs.get(c.name as string)!;
          processes.set(
            c.name as string,
            spawnTracked(s.argv[0]!, s.argv.slice(1), { env: s.env, name: `${name}/${c.name}`, echo: opts.echo }),
          );
        }
      },
      waitReady: async (timeoutMs = 60_000) => {
        const started = Date.now();
        try {
          await waitFor(
            async () => {
              for (const [c, p] of processes) {
                if (!p.isRunning()) throw new Error(`container ${c} exited (${JSON.stringify(await p.exited)})`);
              }
              for (const c of containers) if (!(await probeOnce(c))) return false;
              return true;
            },
            { what: `pod ${name} to be ready`, timeoutMs, intervalMs: 250 },
          );
        } catch (err) {
          throw new Error(`${(err as Error).message}\n${describe()}`);
        }
        return Date.now() - started;
      },
      output: (container) => {
        if (container === undefined) return describe();
        const p = processes.get(container);
        if (p) return p.output();
        return initResults.find((r) => r.name === container)?.output ?? "";
      },
      stop: async () => {
        await Promise.allSettled([...processes.values()].map((p) => p.stop("SIGTERM", 5000)));
      },
    };
    return pod;
  }

  /** The created pod named `podName`. */
  pod(podName: string): LitePod {
    const found = this.pods.find((p) => p.placement.podName === podName);
    if (!found) throw new Error(`no pod ${podName}`);
    return found;
  }

  /** Stops every container of every pod (SIGTERM, then SIGKILL after 5 s). */
  async stopAll(): Promise<void> {
    await Promise.allSettled(this.pods.map((p) => p.stop()));
  }
}
