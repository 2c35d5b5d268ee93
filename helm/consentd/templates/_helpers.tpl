{{/*
Names, labels and the small pieces every template shares.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "consentd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The fully qualified name of the release's objects. Kept at 50 characters so
that suffixed names ("-migrate", "-data") stay within the 63 characters of a
DNS label.
*/}}
{{- define "consentd.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "name-version" for the helm.sh/chart label. */}}
{{- define "consentd.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The image tag: image.tag, or the chart's appVersion. */}}
{{- define "consentd.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{/* The image reference: repository:tag, or repository@digest when a digest is set. */}}
{{- define "consentd.image" -}}
{{- $repository := required "image.repository is required" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (include "consentd.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{/*
Selector labels. These two never change across upgrades (a Deployment's
selector is immutable): never add a label here that depends on a value.
*/}}
{{- define "consentd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "consentd.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{/*
The server's selector: the selector labels plus the component, so that the
migration Job's pods are never selected by the Service, the PodDisruptionBudget,
the HorizontalPodAutoscaler or the NetworkPolicy.
*/}}
{{- define "consentd.serverSelectorLabels" -}}
{{ include "consentd.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end -}}

{{/* Standard labels for every object. */}}
{{- define "consentd.labels" -}}
helm.sh/chart: {{ include "consentd.chart" . | quote }}
{{ include "consentd.selectorLabels" . }}
app.kubernetes.io/version: {{ include "consentd.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: consentd
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end -}}

{{/* Standard labels plus the server component. */}}
{{- define "consentd.serverLabels" -}}
{{ include "consentd.labels" . }}
app.kubernetes.io/component: server
{{- end -}}

{{/* Standard labels plus the migration component. */}}
{{- define "consentd.migrationLabels" -}}
{{ include "consentd.labels" . }}
app.kubernetes.io/component: migration
{{- end -}}

{{/*
Labels for a pod template: the given labels plus podLabels; on a clash the
chart's label wins (merge keeps the first dict's keys), so podLabels can never
break the selector.
Call with (dict "ctx" $ "labels" (include "consentd.serverLabels" $)).
*/}}
{{- define "consentd.podLabels" -}}
{{- $labels := fromYaml .labels -}}
{{- toYaml (merge $labels (.ctx.Values.podLabels | default dict)) -}}
{{- end -}}

{{/* The ServiceAccount the server runs as. */}}
{{- define "consentd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "consentd.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The ServiceAccount the migration Job runs as. On a first install the Job runs
before the chart's own ServiceAccount exists (it is a pre-install hook), so
when the chart creates that account the Job gets its own hook copy
("<fullname>-migrate", see migration-prerequisites.yaml); an existing account
(serviceAccount.create=false) is used as it is.
*/}}
{{- define "consentd.migrationServiceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- printf "%s-migrate" (include "consentd.fullname" .) -}}
{{- else -}}
{{- include "consentd.serviceAccountName" . -}}
{{- end -}}
{{- end -}}

{{/* Name of the chart's Secret (database URL and key secret). */}}
{{- define "consentd.secretName" -}}
{{- include "consentd.fullname" . -}}
{{- end -}}

{{/* Whether the chart renders its own Secret: "true" or "". */}}
{{- define "consentd.createSecret" -}}
{{- if or .Values.auth.keySecret (and (eq .Values.database.type "postgresql") (or .Values.database.url .Values.database.readUrls)) -}}
true
{{- end -}}
{{- end -}}

{{/*
The Secret and key holding the PostgreSQL URL, as a dict with "name" and
"key". Call with (dict "ctx" $ "hook" true|false): a hook (the migration Job)
reads the hook copy of the chart's Secret, which exists before the Job.
*/}}
{{- define "consentd.databaseSecretRef" -}}
{{- $ctx := .ctx -}}
{{- if $ctx.Values.database.existingSecret -}}
name: {{ $ctx.Values.database.existingSecret | quote }}
key: {{ $ctx.Values.database.existingSecretKey | quote }}
{{- else if .hook -}}
name: {{ printf "%s-migrate" (include "consentd.fullname" $ctx) | quote }}
key: database-url
{{- else -}}
name: {{ include "consentd.secretName" $ctx | quote }}
key: database-url
{{- end -}}
{{- end -}}

{{/* The SQLite URL (the file on the data volume). */}}
{{- define "consentd.sqliteUrl" -}}
sqlite:///var/lib/consentd/consentd.db?mode=rwc
{{- end -}}

{{/* The PVC the SQLite file lives on. */}}
{{- define "consentd.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-data" (include "consentd.fullname" .)) -}}
{{- end -}}

{{/*
Whether more than one server pod may run at once: "true" or "". Decides the
PodDisruptionBudget's shape.
*/}}
{{- define "consentd.multiReplica" -}}
{{- if .Values.autoscaling.enabled -}}
{{- if gt (int .Values.autoscaling.minReplicas) 1 -}}true{{- end -}}
{{- else if gt (int .Values.replicaCount) 1 -}}
true
{{- end -}}
{{- end -}}

{{/*
Checks that the schema also makes, repeated here so that a render with schema
validation skipped still refuses them, and the ones a schema cannot express
clearly.
*/}}
{{- define "consentd.validate" -}}
{{- if eq .Values.database.type "sqlite" -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- fail "database.type=sqlite runs exactly one replica (a SQLite file cannot be shared between pods): set replicaCount to 1, or use database.type=postgresql" -}}
{{- end -}}
{{- if .Values.autoscaling.enabled -}}
{{- fail "database.type=sqlite cannot autoscale (a SQLite file cannot be shared between pods): set autoscaling.enabled=false, or use database.type=postgresql" -}}
{{- end -}}
{{- else if eq .Values.database.type "postgresql" -}}
{{- if and .Values.database.url .Values.database.existingSecret -}}
{{- fail "set either database.url or database.existingSecret, not both" -}}
{{- end -}}
{{- if not (or .Values.database.url .Values.database.existingSecret) -}}
{{- fail "database.type=postgresql needs the database URL: set database.url (postgres://user:pass@host:5432/db), or database.existingSecret and database.existingSecretKey naming a Secret that holds it" -}}
{{- end -}}
{{- else -}}
{{- fail (printf "database.type must be sqlite or postgresql, not %q" .Values.database.type) -}}
{{- end -}}
{{- if and (or .Values.database.readUrls .Values.database.existingSecretReadUrlsKey) (ne .Values.database.type "postgresql") -}}
{{- fail "database.readUrls (read standbys) need database.type=postgresql" -}}
{{- end -}}
{{- if and .Values.database.readUrls .Values.database.existingSecretReadUrlsKey -}}
{{- fail "set either database.readUrls or database.existingSecretReadUrlsKey, not both" -}}
{{- end -}}
{{- if and .Values.database.existingSecretReadUrlsKey (not .Values.database.existingSecret) -}}
{{- fail "database.existingSecretReadUrlsKey names a key of database.existingSecret: set database.existingSecret too" -}}
{{- end -}}
{{- if and .Values.auth.keySecret .Values.auth.existingSecret -}}
{{- fail "set either auth.keySecret or auth.existingSecret, not both" -}}
{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) -}}
{{- fail "tls.enabled=true needs tls.secretName: a Secret with tls.crt and tls.key (type kubernetes.io/tls)" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) -}}
{{- fail "autoscaling.maxReplicas must not be below autoscaling.minReplicas" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (not (or .Values.autoscaling.targetCPUUtilizationPercentage .Values.autoscaling.targetMemoryUtilizationPercentage)) -}}
{{- fail "autoscaling.enabled=true needs autoscaling.targetCPUUtilizationPercentage or autoscaling.targetMemoryUtilizationPercentage" -}}
{{- end -}}
{{- $managed := list "CONSENTD_DATABASE_URL" "CONSENTD_READ_DATABASE_URLS" "CONSENTD_KEY_SECRET" "CONSENTD_CONFIG" "CONSENTD_AUTH" "CONSENTD_NO_MIGRATE" "CONSENTD_LOG_FORMAT" "CONSENTD_SHUTDOWN_GRACE_MS" "CONSENTD_HEALTH_LISTEN" "CONSENTD_TLS_CERT" "CONSENTD_TLS_KEY" "CONSENTD_TLS_CLIENT_CA" "CONSENTD_GRPC_LISTEN" "CONSENTD_HTTP_LISTEN" "OTEL_EXPORTER_OTLP_ENDPOINT" "OTEL_SERVICE_NAME" "OTEL_RESOURCE_ATTRIBUTES" "CONSENTD_POD_NAME" "CONSENTD_POD_NAMESPACE" "CONSENTD_NODE_NAME" -}}
{{- range .Values.extraEnv -}}
{{- if has .name $managed -}}
{{- fail (printf "extraEnv must not set %s: the chart sets it from its own values (see the chart's README)" .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
TOML rendering of the `config` value (the consentd.toml file). Maps become
tables, strings/numbers/booleans become values, lists of strings, numbers or
booleans become arrays; a null value leaves its key out. Keys are sorted, so
the output (and the checksum that rolls the pods) is stable.
*/}}
{{- define "consentd.toml" -}}
{{- include "consentd.toml.table" (dict "table" (.Values.config | default dict) "path" "") -}}
{{- end -}}

{{/* The whole consentd.toml file: a header comment, then the tables. */}}
{{- define "consentd.configFile" -}}
# consentd configuration, rendered from the chart's `config` value. The environment
# variables the chart sets (database, auth, TLS, listeners) take precedence over it.
{{- with include "consentd.toml" . | trim }}

{{ . }}
{{- end }}
{{- end -}}

{{/* One TOML key: bare when it can be, else a quoted string. */}}
{{- define "consentd.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . -}}
{{- . -}}
{{- else -}}
{{- toJson . -}}
{{- end -}}
{{- end -}}

{{/*
One TOML scalar. A JSON string is a valid TOML basic string (the escapes
encoding/json emits — \" \\ \n \r \t \uXXXX — are all TOML escapes), and JSON
numbers and booleans are TOML numbers and booleans; toJson also prints large
integers in full where the template printer would use an exponent.
Call with (dict "value" V "path" "a.b").
*/}}
{{- define "consentd.toml.scalar" -}}
{{- $v := .value -}}
{{- if or (kindIs "string" $v) (kindIs "bool" $v) (kindIs "float64" $v) (kindIs "float32" $v) (kindIs "int" $v) (kindIs "int64" $v) (kindIs "int32" $v) (kindIs "uint64" $v) -}}
{{- toJson $v -}}
{{- else -}}
{{- fail (printf "config.%s: a TOML value here must be a string, number or boolean, not %s" .path (kindOf $v)) -}}
{{- end -}}
{{- end -}}

{{/*
One table: its own keys under a [header] (none at the root), then its
sub-tables. Call with (dict "table" MAP "path" "dotted.path").
*/}}
{{- define "consentd.toml.table" -}}
{{- $table := .table -}}
{{- $path := .path -}}
{{- $lines := list -}}
{{- range $key, $value := $table -}}
{{- $keyPath := ternary $key (printf "%s.%s" $path $key) (eq $path "") -}}
{{- if kindIs "invalid" $value -}}
{{- /* null: the key is left out */ -}}
{{- else if kindIs "map" $value -}}
{{- else if kindIs "slice" $value -}}
{{- $items := list -}}
{{- range $index, $item := $value -}}
{{- $items = append $items (include "consentd.toml.scalar" (dict "value" $item "path" (printf "%s[%d]" $keyPath $index))) -}}
{{- end -}}
{{- $lines = append $lines (printf "%s = [%s]" (include "consentd.toml.key" $key) (join ", " $items)) -}}
{{- else -}}
{{- $lines = append $lines (printf "%s = %s" (include "consentd.toml.key" $key) (include "consentd.toml.scalar" (dict "value" $value "path" $keyPath))) -}}
{{- end -}}
{{- end -}}
{{- if $lines }}
{{- if ne $path "" }}
[{{ $path }}]
{{- end }}
{{- range $lines }}
{{ . }}
{{- end }}
{{ end -}}
{{- range $key, $value := $table -}}
{{- if kindIs "map" $value -}}
{{- $header := ternary (include "consentd.toml.key" $key) (printf "%s.%s" $path (include "consentd.toml.key" $key)) (eq $path "") -}}
{{- include "consentd.toml.table" (dict "table" $value "path" $header) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The hook annotations of the migration's prerequisites and of the Job itself.
Helm runs hooks of one phase in ascending weight order and waits for each to
be ready (a Job: complete) before the next:
  -10  the prerequisites (ServiceAccount, ConfigMap and Secret copies) the Job
       needs, because on a first install the chart's own objects do not exist
       yet when pre-install hooks run;
    0  the migration Job.
"before-hook-creation" replaces a leftover from an earlier run;
"hook-succeeded" removes them once the phase succeeded. When the Job fails,
Helm also deletes the earlier hooks of that phase by their hook-succeeded
policy, so the Secret copy never lingers; the failed Job stays (its pod's log
is the diagnosis) until the next attempt replaces it.
Call with (dict "weight" "-10").
*/}}
{{- define "consentd.hookAnnotations" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end -}}

{{/* The pod securityContext of every workload (the image runs as 65532). */}}
{{- define "consentd.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The container securityContext of every workload. */}}
{{- define "consentd.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The CONSENTD_DATABASE_URL variable. Call with (dict "ctx" $ "hook" bool). */}}
{{- define "consentd.databaseUrlEnv" -}}
- name: CONSENTD_DATABASE_URL
{{- if eq .ctx.Values.database.type "sqlite" }}
  value: {{ include "consentd.sqliteUrl" .ctx | quote }}
{{- else }}
  valueFrom:
    secretKeyRef:
      {{- include "consentd.databaseSecretRef" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* The CONSENTD_READ_DATABASE_URLS variable of the server, when standbys are set. */}}
{{- define "consentd.readDatabaseUrlsEnv" -}}
{{- if .Values.database.existingSecretReadUrlsKey -}}
- name: CONSENTD_READ_DATABASE_URLS
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret | quote }}
      key: {{ .Values.database.existingSecretReadUrlsKey | quote }}
{{- else if .Values.database.readUrls -}}
- name: CONSENTD_READ_DATABASE_URLS
  valueFrom:
    secretKeyRef:
      name: {{ include "consentd.secretName" . | quote }}
      key: read-database-urls
{{- end -}}
{{- end -}}

{{/* Variables both containers (server and migration) get. */}}
{{- define "consentd.commonEnv" -}}
- name: CONSENTD_LOG_FORMAT
  value: json
- name: CONSENTD_CONFIG
  value: /etc/consentd/config/consentd.toml
{{- end -}}

{{/*
OTEL_RESOURCE_ATTRIBUTES: the service version and the pod's Kubernetes
identity (the CONSENTD_POD_* variables, expanded by the kubelet), then
otel.resourceAttributes in key order.
*/}}
{{- define "consentd.otelResourceAttributes" -}}
{{- $attributes := list
  (printf "service.version=%s" (include "consentd.imageTag" .))
  "k8s.namespace.name=$(CONSENTD_POD_NAMESPACE)"
  "k8s.pod.name=$(CONSENTD_POD_NAME)"
  "k8s.node.name=$(CONSENTD_NODE_NAME)"
  (printf "k8s.deployment.name=%s" (include "consentd.fullname" .)) -}}
{{- range $key, $value := .Values.otel.resourceAttributes -}}
{{- $attributes = append $attributes (printf "%s=%v" $key $value) -}}
{{- end -}}
{{- join "," $attributes -}}
{{- end -}}

{{/* The downward-API variables OTEL_RESOURCE_ATTRIBUTES refers to; they must come before it. */}}
{{- define "consentd.podIdentityEnv" -}}
- name: CONSENTD_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: CONSENTD_POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: CONSENTD_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
{{- end -}}

{{/*
Where the server pods run: nodeSelector, affinity (or the anti-affinity
preset), tolerations, topology spread.
*/}}
{{- define "consentd.scheduling" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .Values.affinity }}
affinity:
  {{- toYaml .Values.affinity | nindent 2 }}
{{- else if eq .Values.podAntiAffinityPreset "soft" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "consentd.serverSelectorLabels" . | nindent 14 }}
{{- else if eq .Values.podAntiAffinityPreset "hard" }}
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "consentd.serverSelectorLabels" . | nindent 12 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .Values.topologySpreadConstraints }}
{{- $constraints := list }}
{{- range .Values.topologySpreadConstraints }}
{{- $constraint := deepCopy . }}
{{- if not (hasKey $constraint "labelSelector") }}
{{- $_ := set $constraint "labelSelector" (dict "matchLabels" (fromYaml (include "consentd.serverSelectorLabels" $))) }}
{{- end }}
{{- $constraints = append $constraints $constraint }}
{{- end }}
topologySpreadConstraints:
  {{- toYaml $constraints | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The labels of each of the chart's alerts: its severity, the release's
namespace (the alerts' own expressions aggregate it away), then
prometheusRule.alertLabels. Call with (dict "ctx" $ "severity" "warning").
*/}}
{{- define "consentd.alertLabels" -}}
{{- $labels := dict "severity" .severity "namespace" .ctx.Release.Namespace -}}
{{- toYaml (merge $labels (.ctx.Values.prometheusRule.alertLabels | default dict)) -}}
{{- end -}}
