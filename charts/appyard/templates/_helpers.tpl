{{/*
Names, labels and images shared by every template (the chart contract: other templates and helpers rely on these).
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "appyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's base name: fullnameOverride, or release name (+ chart name unless the release already says it). */}}
{{- define "appyard.fullname" -}}
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

{{- define "appyard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Helm's standard labels; every object carries them (pods and selectors add appyard.selectorLabels). */}}
{{- define "appyard.labels" -}}
{{ include "appyard.commonLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "appyard.commonLabels" -}}
helm.sh/chart: {{ include "appyard.chart" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: appyard
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/*
Labels that select one component's pods: (dict "ctx" $ "component" "api"); "name" overrides
app.kubernetes.io/name (bundled NATS is "nats": runners' NetworkPolicy allows egress to that label).
*/}}
{{- define "appyard.selectorLabels" -}}
app.kubernetes.io/name: {{ .name | default (include "appyard.name" .ctx) }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The standard labels plus one component's selector labels (same argument as appyard.selectorLabels). */}}
{{- define "appyard.componentLabels" -}}
{{ include "appyard.commonLabels" .ctx }}
{{ include "appyard.selectorLabels" . }}
{{- end -}}

{{- define "appyard.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (printf "%s-operator" (include "appyard.fullname" .)) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "appyard.api.serviceAccountName" -}}
{{- if .Values.api.serviceAccount.create -}}
{{- default (printf "%s-api" (include "appyard.fullname" .)) .Values.api.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.api.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
An image reference: (dict "ctx" $ "image" .Values.api.image). imageRegistry (when set) replaces the registry part
of the repository; a digest wins over the tag; the tag defaults to the chart's appVersion.
*/}}
{{- define "appyard.image" -}}
{{- $repository := .image.repository -}}
{{- with .ctx.Values.imageRegistry -}}
{{- $parts := splitList "/" $repository -}}
{{- if and (gt (len $parts) 1) (or (contains "." (first $parts)) (contains ":" (first $parts)) (eq (first $parts) "localhost")) -}}
{{- $repository = join "/" (rest $parts) -}}
{{- end -}}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default .ctx.Chart.AppVersion .image.tag | toString) -}}
{{- end -}}
{{- end -}}

{{/* The NATS URL the operator, the API and (by default) runners use. */}}
{{- define "appyard.nats.url" -}}
{{- if eq .Values.nats.mode "bundled" -}}
{{- printf "nats://%s-nats.%s.svc:4222" (include "appyard.fullname" .) .Release.Namespace -}}
{{- else -}}
{{- required "nats.url is required when nats.mode=external (e.g. nats://nats.messaging.svc:4222)" .Values.nats.url -}}
{{- end -}}
{{- end -}}

{{/* The Secret with the NATS keys; refuses to render without it and says how to make one. */}}
{{- define "appyard.nats.secret" -}}
{{- if not .Values.nats.auth.existingSecret -}}
{{- fail (printf "nats.auth.existingSecret is required: make the NATS keys with `appyard broker-keys keys --namespace %s`, then `kubectl -n %s create secret generic appyard-nats --from-file=keys/` and set --set nats.auth.existingSecret=appyard-nats" .Release.Namespace .Release.Namespace) -}}
{{- end -}}
{{- .Values.nats.auth.existingSecret -}}
{{- end -}}

{{/* Name of the Secret holding the session key (generated unless api.auth.sessionSecret.existingSecret). */}}
{{- define "appyard.sessionSecretName" -}}
{{- default (printf "%s-session" (include "appyard.fullname" .)) .Values.api.auth.sessionSecret.existingSecret -}}
{{- end -}}

{{/* The restricted-profile container securityContext (Pod Security Standards, restricted). */}}
{{- define "appyard.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The restricted-profile pod securityContext for one UID: (dict "uid" 10001). */}}
{{- define "appyard.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}
