{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "vpnwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart unless the release name already contains the chart name. */}}
{{- define "vpnwatch.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "vpnwatch.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vpnwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vpnwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "vpnwatch.labels" -}}
helm.sh/chart: {{ include "vpnwatch.chart" . }}
{{ include "vpnwatch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: watchdog
{{- end }}

{{- define "vpnwatch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vpnwatch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "vpnwatch.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The lock backend named in config, "none" when unset. */}}
{{- define "vpnwatch.lockBackend" -}}
{{- $lock := .Values.config.lock | default dict }}
{{- $lock.backend | default "none" }}
{{- end }}

{{/* Replicas: replicaCount if set, else 2 (an active/standby pair) with the dynamodb lock
     and 1 without. More than one replica without a shared lock is refused: each pod would
     act on the same routers. */}}
{{- define "vpnwatch.replicas" -}}
{{- $backend := include "vpnwatch.lockBackend" . }}
{{- $replicas := ternary 2 1 (eq $backend "dynamodb") }}
{{- if not (kindIs "invalid" .Values.replicaCount) }}
{{- $replicas = int .Values.replicaCount }}
{{- end }}
{{- if and (gt $replicas 1) (ne $backend "dynamodb") }}
{{- fail "replicaCount > 1 needs config.lock.backend dynamodb (an active/standby pair sharing a lease); with lock none every pod would act on the same routers" }}
{{- end }}
{{- $replicas }}
{{- end }}

{{/* A pair: more than one replica, sharing the dynamodb lease. */}}
{{- define "vpnwatch.pair" -}}
{{- if gt (int (include "vpnwatch.replicas" .)) 1 }}true{{ end }}
{{- end }}

{{/* config.yaml: the user's config with the paths and listener the pod provides. */}}
{{- define "vpnwatch.config" -}}
{{- $forced := dict
      "ssh" (dict "key_file" "/etc/vpnwatch/ssh/id_ed25519" "known_hosts" "/etc/vpnwatch/ssh/known_hosts")
      "metrics" (dict "listen" (printf "0.0.0.0:%d" (int .Values.metrics.port)))
      "state_dir" "/var/lib/vpnwatch" }}
{{- $config := mustMergeOverwrite (deepCopy .Values.config) $forced }}
{{- toYaml $config }}
{{- end }}
