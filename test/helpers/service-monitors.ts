/**
 * A minimal Prometheus operator for tests: turns rendered ServiceMonitors (monitoring.coreos.com/v1) into
 * Prometheus scrape jobs with static targets, the way the operator's generated config would discover them
 * through the Kubernetes API.
 *
 * For each ServiceMonitor: the Services its `spec.selector.matchLabels` selects, in the namespaces of
 * `spec.namespaceSelector.matchNames` (its own namespace when there is none); the pods each Service's
 * `spec.selector` selects (the pods that run, with their template labels); and for each endpoint, the
 * Service port named `endpoint.port`, its `targetPort` (a name resolved against the pod's container ports,
 * or a number; absent means the Service port's number), giving the target `<pod IP>:<container port>`.
 *
 * Labels: the scrape job is named after the ServiceMonitor (`job`); each target carries `namespace`, `pod`,
 * `service`, `container` and `endpoint` (the port name), like the operator's relabelling. The operator itself
 * sets `job` to the Service's name (or `jobLabel`); the chart names each ServiceMonitor after its Service,
 * so the two agree here.
 *
 * Not supported (throws): matchExpressions, `namespaceSelector.any`, endpoint `targetPort`, relabelings,
 * TLS/auth settings. Readiness is not considered (every given pod is an endpoint).
 */

// biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects are checked at run time.
type K8s = Record<string, any>;

/** A pod as it runs: what the Endpoints controller would see. */
export interface RunningPod {
  name: string;
  namespace: string;
  ip: string;
  /** The pod's labels (its workload's pod template labels). */
  labels: Record<string, string>;
  /** The pod template's containers (their `ports` resolve named target ports). */
  containers: K8s[];
}

export interface ScrapeTarget {
  /** `<pod IP>:<port>`. */
  address: string;
  labels: { namespace: string; pod: string; service: string; container: string; endpoint: string };
}

export interface ScrapeJob {
  /** The ServiceMonitor's name (suffixed `-<i>` for its endpoints after the first). */
  name: string;
  serviceMonitor: string;
  namespace: string;
  path: string;
  scheme: string;
  /** The endpoint's rendered interval, when it has one. */
  interval?: string;
  targets: ScrapeTarget[];
}

function asList<T = K8s>(v: unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : [];
}

function matches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** The scrape jobs the ServiceMonitors among `objects` describe, over the running `pods`. */
export function scrapeJobs(objects: readonly K8s[], pods: readonly RunningPod[]): ScrapeJob[] {
  const services = objects.filter((o) => o.kind === "Service");
  const jobs: ScrapeJob[] = [];
  for (const sm of objects.filter((o) => o.kind === "ServiceMonitor")) {
    const smName = String(sm.metadata?.name);
    const smNamespace = String(sm.metadata?.namespace ?? "default");
    const selector = (sm.spec?.selector ?? {}) as K8s;
    if (selector.matchExpressions !== undefined) throw new Error(`ServiceMonitor ${smName}: matchExpressions`);
    const matchLabels = (selector.matchLabels ?? {}) as Record<string, string>;
    if (sm.spec?.namespaceSelector?.any) throw new Error(`ServiceMonitor ${smName}: namespaceSelector.any`);
    const namespaces = asList<string>(sm.spec?.namespaceSelector?.matchNames);
    const inNamespaces = namespaces.length > 0 ? namespaces : [smNamespace];
    const selected = services.filter(
      (s) =>
        inNamespaces.includes(String(s.metadata?.namespace ?? "default")) && matches(matchLabels, s.metadata?.labels),
    );
    for (const [i, endpoint] of asList(sm.spec?.endpoints).entries()) {
      if (endpoint.targetPort !== undefined || endpoint.relabelings !== undefined || endpoint.tlsConfig !== undefined) {
        throw new Error(`ServiceMonitor ${smName}: endpoint ${i} uses an unsupported field`);
      }
      const targets: ScrapeTarget[] = [];
      for (const svc of selected) {
        const svcName = String(svc.metadata.name);
        const svcNamespace = String(svc.metadata?.namespace ?? "default");
        const port = asList(svc.spec?.ports).find((p) => p.name === endpoint.port);
        if (!port) continue;
        const podSelector = (svc.spec?.selector ?? {}) as Record<string, string>;
        if (Object.keys(podSelector).length === 0) continue;
        for (const pod of pods.filter((p) => p.namespace === svcNamespace && matches(podSelector, p.labels))) {
          const targetPort = port.targetPort ?? port.port;
          let number: number | undefined;
          let container = "";
          if (typeof targetPort === "number") {
            number = targetPort;
            container =
              pod.containers.find((c) => asList(c.ports).some((p) => Number(p.containerPort) === targetPort))?.name ??
              "";
          } else {
            for (const c of pod.containers) {
              const found = asList(c.ports).find((p) => p.name === targetPort);
              if (found) {
                number = Number(found.containerPort);
                container = String(c.name);
                break;
              }
            }
          }
          // A named targetPort that the pod does not declare gives no endpoint (as in Kubernetes).
          if (number === undefined) continue;
          targets.push({
            address: `${pod.ip}:${number}`,
            labels: { namespace: svcNamespace, pod: pod.name, service: svcName, container, endpoint: endpoint.port },
          });
        }
      }
      jobs.push({
        name: i === 0 ? smName : `${smName}-${i}`,
        serviceMonitor: smName,
        namespace: smNamespace,
        path: String(endpoint.path ?? "/metrics"),
        scheme: String(endpoint.scheme ?? "http"),
        interval: endpoint.interval === undefined ? undefined : String(endpoint.interval),
        targets,
      });
    }
  }
  return jobs;
}

/**
 * A Prometheus configuration (JSON, which Prometheus reads as YAML): one scrape job per ScrapeJob, its
 * targets as static_configs with their labels. `interval` replaces every job's rendered interval (a test
 * cannot wait 30 s); `scrape_timeout` follows it.
 */
export function prometheusConfig(jobs: readonly ScrapeJob[], opts: { interval?: string } = {}): string {
  const config = {
    global: { scrape_interval: opts.interval ?? "30s", evaluation_interval: opts.interval ?? "30s" },
    scrape_configs: jobs.map((job) => {
      const interval = opts.interval ?? job.interval;
      return {
        job_name: job.name,
        metrics_path: job.path,
        scheme: job.scheme,
        ...(interval ? { scrape_interval: interval, scrape_timeout: interval } : {}),
        static_configs: job.targets.map((t) => ({ targets: [t.address], labels: t.labels })),
      };
    }),
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}
