{{/* Names, labels and the wiring shared by every template. */}}

{{- define "d7y.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The resource name prefix: the release name, plus the chart name unless the release name contains it. */}}
{{- define "d7y.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>", for a dict {root, component}. */}}
{{- define "d7y.componentName" -}}
{{- printf "%s-%s" (include "d7y.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "d7y.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of a component, for a dict {root, component}. */}}
{{- define "d7y.selectorLabels" -}}
app.kubernetes.io/name: {{ include "d7y.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* All labels of a component's objects, for a dict {root, component}. */}}
{{- define "d7y.labels" -}}
helm.sh/chart: {{ include "d7y.chart" .root }}
{{ include "d7y.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: d7y
{{- end -}}

{{/* The image reference. */}}
{{- define "d7y.image" -}}
{{- $image := .Values.image -}}
{{- $repo := ternary (printf "%s/%s" $image.registry $image.repository) $image.repository (ne $image.registry "") -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repo $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The pod's imagePullSecrets block, or nothing. */}}
{{- define "d7y.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets -}}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The manager's Connect (gRPC) address, or "" without a manager. */}}
{{- define "d7y.managerRpcAddress" -}}
{{- if .Values.manager.enable -}}
{{- printf "http://%s.%s.svc:%d" (include "d7y.componentName" (dict "root" . "component" "manager")) .Release.Namespace (int .Values.manager.rpcPort) -}}
{{- end -}}
{{- end -}}

{{/* The scheduler Service address; daemons use it only when the manager gives them no schedulers. */}}
{{- define "d7y.schedulerAddress" -}}
{{- if .Values.scheduler.enable -}}
{{- printf "http://%s.%s.svc:%d" (include "d7y.componentName" (dict "root" . "component" "scheduler")) .Release.Namespace (int .Values.scheduler.port) -}}
{{- end -}}
{{- end -}}

{{/* Where every component sends its traces, or "" for none. */}}
{{- define "d7y.tracingEndpoint" -}}
{{- if .Values.tracing.endpoint -}}
{{- .Values.tracing.endpoint -}}
{{- else if .Values.jaeger.enable -}}
{{- printf "http://%s.%s.svc:4318/v1/traces" (include "d7y.componentName" (dict "root" . "component" "jaeger")) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* Flags every component takes for tracing. */}}
{{- define "d7y.tracingArgs" -}}
{{- $endpoint := include "d7y.tracingEndpoint" . -}}
{{- if $endpoint -}}
- --tracing-endpoint={{ $endpoint }}
- --tracing-sample-ratio={{ .Values.tracing.sampleRatio }}
{{- end }}
{{- end -}}

{{/* True ("true") when a component's ServiceMonitor is rendered, for a dict {root, metrics}. */}}
{{- define "d7y.serviceMonitorEnabled" -}}
{{- $sm := .metrics.serviceMonitor.enable -}}
{{- if and .metrics.enable (or (eq (toString $sm) "true") (and (eq (toString $sm) "auto") (.root.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor"))) -}}
true
{{- end -}}
{{- end -}}

{{/* A component's pprof port from its config (0 or -1 = off). */}}
{{- define "d7y.pprofPort" -}}
{{- $port := int (default -1 .pprofPort) -}}
{{- if gt $port 0 }}{{ $port }}{{ end -}}
{{- end -}}

{{/* Security context of every long-running container: non-root, read-only root filesystem. */}}
{{- define "d7y.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Downward-API env every component uses to advertise itself. */}}
{{- define "d7y.podEnv" -}}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
{{- end -}}

{{/* The daemon's config file (seed peers and the DaemonSet), for a dict {root, config}. Registries containerd
is pointed at are added to the mirror's allow-list. */}}
{{- define "d7y.daemonConfig" -}}
{{- $config := deepCopy .config -}}
{{- $proxy := default (dict) (get $config "proxy") -}}
{{- $registries := default (list) (get $proxy "registries") -}}
{{- if .root.Values.containerRuntime.containerd.enable -}}
{{- $registries = concat $registries .root.Values.containerRuntime.containerd.registries | uniq -}}
{{- end -}}
{{- if $registries -}}
{{- $_ := set $proxy "registries" $registries -}}
{{- end -}}
{{- if and .root.Values.containerRuntime.containerd.enable .root.Values.containerRuntime.containerd.proxyAllRegistries -}}
{{- /* _default/hosts.toml sends every registry here: the mirror must be able to reach them. */ -}}
{{- $_ := set $proxy "allowAllRegistries" true -}}
{{- end -}}
{{- if $proxy -}}
{{- $_ := set $config "proxy" $proxy -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}
