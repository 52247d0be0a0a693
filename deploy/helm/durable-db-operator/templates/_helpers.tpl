{{/* Chart name, at most 63 characters. */}}
{{- define "durable-db-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; the release name alone when it already contains the chart name. */}}
{{- define "durable-db-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of a component's objects: <fullname>-worker, <fullname>-watcher. Takes (list . "worker"). */}}
{{- define "durable-db-operator.componentName" -}}
{{- $ctx := index . 0 }}
{{- printf "%s-%s" (include "durable-db-operator.fullname" $ctx) (index . 1) }}
{{- end }}

{{- define "durable-db-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "durable-db-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: durable-db-operator
{{- end }}

{{/* Labels of a component's objects. Takes (list . "worker"). */}}
{{- define "durable-db-operator.componentLabels" -}}
{{ include "durable-db-operator.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Selector of a component's pods. Takes (list . "worker"). */}}
{{- define "durable-db-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "durable-db-operator.name" (index . 0) }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "durable-db-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the leader-election Lease; fixed in the code (watcher/leader-election.ts). */}}
{{- define "durable-db-operator.leaseName" -}}
durable-db-operator-watcher
{{- end }}

{{/*
RBAC rules, derived from every Kubernetes API call of the code (README, "Install into a cluster").
Namespaced rules of the worker (activities/):
*/}}
{{- define "durable-db-operator.workerNamespacedRules" -}}
# Reads this incarnation of a Database; adds and removes durable.dev/finalizer (JSON patch).
- apiGroups: [durable.dev]
  resources: [databases]
  verbs: [get, patch]
# Writes the status the workflow computed (merge patch on the status subresource).
- apiGroups: [durable.dev]
  resources: [databases/status]
  verbs: [patch]
# Owned objects carry ownerReferences with blockOwnerDeletion: true, which the
# OwnerReferencesPermissionEnforcement admission plugin allows only with this.
- apiGroups: [durable.dev]
  resources: [databases/finalizers]
  verbs: [update]
# Server-side apply (PATCH; creating an object that way also needs create) after a read.
- apiGroups: ['']
  resources: [configmaps, services]
  verbs: [get, create, patch]
# The role record <db>-roles (which member is the primary): created with POST, moved by a
# failover with PUT on the resourceVersion it read, so two writers can never both win.
- apiGroups: ['']
  resources: [configmaps]
  verbs: [update]
# Secrets: read by name, created with POST, metadata applied, orphaned by merge patch (Retain).
# delete: the OwnerReferencesPermissionEnforcement admission plugin lets only a user who may delete
# an object change its ownerReferences (orphaning on Retain); the operator never deletes a Secret.
- apiGroups: ['']
  resources: [secrets]
  verbs: [get, create, patch, delete]
# watch: the readiness wait watches the one StatefulSet it waits for (field selector on its name).
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, watch, create, patch]
# Deletion of a Database: lists its data volumes, deletes them (Delete) or orphans them (Retain).
# Backups: creates the default backup volume <db>-backups (POST; an existing one is kept).
- apiGroups: ['']
  resources: [persistentvolumeclaims]
  verbs: [list, delete, patch, create]
# core/v1 Events on the Database and on DatabaseBackups (kubectl describe db / dbb); listed
# (field selector on the involved object) to say why a StatefulSet or a claim is stuck.
- apiGroups: ['']
  resources: [events]
  verbs: [create, list]
# Backup runs: read or create the DatabaseBackup of a run (and label one made by kubectl create,
# merge patch), list a Database's backups and delete the expired ones (retention), write their
# status (merge patch).
- apiGroups: [durable.dev]
  resources: [databasebackups]
  verbs: [get, list, create, patch, delete]
- apiGroups: [durable.dev]
  resources: [databasebackups/status]
  verbs: [patch]
# Backup, restore and delete-data Jobs: created once under a deterministic name, then read.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, create]
# The result of a finished Job is in its pod's termination message (no pods/log needed).
# Upgrades: a member's pod is read for its revision and readiness (health gate); a rollback
# deletes the pods created from the failed revision (a StatefulSet does not replace a pod that
# never became Ready). Each replication pass labels the members with their role (merge patch).
- apiGroups: ['']
  resources: [pods]
  verbs: [get, list, delete, patch]
# A PostgreSQL replica that stays "not connected" has its engine's log read for the message that
# says it diverged from the primary's timeline (activities/rejoin.ts), before it is re-cloned.
- apiGroups: ['']
  resources: [pods/log]
  verbs: [get]
{{- end }}

{{/* Cluster-scoped rules of the worker: the prerequisite check of spec.storage.storageClassName. */}}
{{- define "durable-db-operator.workerClusterRules" -}}
- apiGroups: [storage.k8s.io]
  resources: [storageclasses]
  verbs: [get]
{{- end }}

{{/* Namespaced rules of the watcher (watcher/): one informer (list + watch) per kind. */}}
{{- define "durable-db-operator.watcherNamespacedRules" -}}
# The Database informer (signals) and the DatabaseBackup informer (on-demand runs and retries).
- apiGroups: [durable.dev]
  resources: [databases, databasebackups]
  verbs: [list, watch]
# Drift informers on the owned objects. Not on Secrets: list and watch cannot be limited to the
# operator's own, and would expose every Secret in reach; the worker reads its Secret by name.
- apiGroups: ['']
  resources: [configmaps, services]
  verbs: [list, watch]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [list, watch]
{{- end }}

{{/* Environment both containers share. Takes (list . "worker"). */}}
{{- define "durable-db-operator.commonEnv" -}}
{{- $ctx := index . 0 }}
{{- $v := $ctx.Values -}}
- name: TEMPORAL_ADDRESS
  value: {{ $v.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ $v.temporal.namespace | quote }}
- name: TEMPORAL_TASK_QUEUE
  value: {{ $v.temporal.taskQueue | quote }}
{{- with $v.temporal.uiUrl }}
- name: TEMPORAL_UI_URL
  value: {{ . | quote }}
{{- end }}
{{- if $v.temporal.tls.enabled }}
{{- if and $v.temporal.tls.certKey $v.temporal.tls.keyKey }}
- name: TEMPORAL_TLS_CERT
  value: /etc/temporal/tls/{{ $v.temporal.tls.certKey }}
- name: TEMPORAL_TLS_KEY
  value: /etc/temporal/tls/{{ $v.temporal.tls.keyKey }}
{{- end }}
{{- with $v.temporal.tls.caKey }}
- name: TEMPORAL_TLS_CA
  value: /etc/temporal/tls/{{ . }}
{{- end }}
{{- with $v.temporal.tls.serverName }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if $v.temporal.apiKey.secretName }}
- name: TEMPORAL_API_KEY_FILE
  value: /etc/temporal/api-key/api-key
{{- end }}
- name: WATCH_NAMESPACES
  value: {{ join "," $v.watchNamespaces | quote }}
- name: LOG_LEVEL
  value: {{ $v.logLevel | quote }}
- name: HTTP_PORT
  value: {{ $v.httpPort | quote }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Everything of a pod but its container's args and env. Takes (list . "worker" $containerEnv). */}}
{{- define "durable-db-operator.podTemplate" -}}
{{- $ctx := index . 0 }}
{{- $component := index . 1 }}
{{- $env := index . 2 }}
{{- $v := $ctx.Values }}
{{- $c := index $v $component -}}
metadata:
  labels:
    {{- include "durable-db-operator.componentLabels" (list $ctx $component) | nindent 4 }}
  {{- if or $v.metrics.podAnnotations $c.podAnnotations }}
  annotations:
    {{- if $v.metrics.podAnnotations }}
    prometheus.io/scrape: 'true'
    prometheus.io/port: {{ $v.httpPort | quote }}
    prometheus.io/path: /metrics
    {{- end }}
    {{- with $c.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
spec:
  serviceAccountName: {{ include "durable-db-operator.componentName" (list $ctx $component) }}
  automountServiceAccountToken: true
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ $c.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  containers:
    - name: {{ $component }}
      image: {{ include "durable-db-operator.image" $ctx | quote }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args: [{{ $component }}]
      ports:
        - name: http
          containerPort: {{ $v.httpPort }}
          protocol: TCP
      env:
        {{- $env | nindent 8 }}
      startupProbe:
        httpGet: { path: /healthz, port: http }
        {{- toYaml $v.probes.startup | nindent 8 }}
      livenessProbe:
        httpGet: { path: /healthz, port: http }
        {{- toYaml $v.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet: { path: /readyz, port: http }
        {{- toYaml $v.probes.readiness | nindent 8 }}
      resources:
        {{- toYaml $c.resources | nindent 8 }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if $v.temporal.tls.enabled }}
        - name: temporal-tls
          mountPath: /etc/temporal/tls
          readOnly: true
        {{- end }}
        {{- if $v.temporal.apiKey.secretName }}
        - name: temporal-api-key
          mountPath: /etc/temporal/api-key
          readOnly: true
        {{- end }}
  volumes:
    # The root filesystem is read-only; Node and the Temporal SDK may write temporary files.
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if $v.temporal.tls.enabled }}
    - name: temporal-tls
      secret:
        secretName: {{ required "temporal.tls.secretName is required when temporal.tls.enabled" $v.temporal.tls.secretName }}
        defaultMode: 288 # 0440
    {{- end }}
    {{- if $v.temporal.apiKey.secretName }}
    - name: temporal-api-key
      secret:
        secretName: {{ $v.temporal.apiKey.secretName }}
        defaultMode: 288 # 0440
        items:
          - key: {{ $v.temporal.apiKey.key }}
            path: api-key
    {{- end }}
  {{- with $c.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $v.spreadOverNodes }}
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "durable-db-operator.selectorLabels" (list $ctx $component) | nindent 10 }}
  {{- end }}
{{- end }}

{{/* Environment of the worker alone. */}}
{{- define "durable-db-operator.workerEnv" -}}
# Built into the image at build time: the worker does not bundle the workflows at start.
- name: WORKFLOW_BUNDLE_PATH
  value: /app/dist/workflow-bundle.js
{{- with .Values.worker.footprint }}
- name: WORKER_MAX_CACHED_WORKFLOWS
  value: {{ .maxCachedWorkflows | quote }}
- name: WORKER_MAX_CONCURRENT_WORKFLOW_TASKS
  value: {{ .maxConcurrentWorkflowTasks | quote }}
- name: WORKER_MAX_CONCURRENT_ACTIVITIES
  value: {{ .maxConcurrentActivities | quote }}
{{- end }}
{{- with .Values.worker.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Environment of the watcher alone. */}}
{{- define "durable-db-operator.watcherEnv" -}}
- name: LEADER_ELECTION_ENABLED
  value: 'true'
- name: LEADER_ELECTION_NAMESPACE
  value: {{ .Release.Namespace | quote }}
{{- with .Values.watcher.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
