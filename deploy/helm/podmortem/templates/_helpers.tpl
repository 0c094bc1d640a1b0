{{/* Names. */}}
{{- define "podmortem.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "podmortem.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "podmortem.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "podmortem.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "podmortem.watcher.fullname" -}}
{{- printf "%s-watcher" (include "podmortem.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "podmortem.workflows.fullname" -}}
{{- printf "%s-workflows" (include "podmortem.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* A release's own name for its workflows version: workflows.version, else the image's tag, or
the digest's first 12 hex digits; a DNS label part. */}}
{{- define "podmortem.workflows.version" -}}
{{- $version := .Values.workflows.version -}}
{{- if not $version -}}
{{- if .Values.image.digest -}}
{{- $version = printf "d%s" (.Values.image.digest | trimPrefix "sha256:" | trunc 12) -}}
{{- else -}}
{{- $version = default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}
{{- end -}}
{{- regexReplaceAll "[^a-z0-9-]" (lower $version) "-" | trunc 20 | trimAll "-" -}}
{{- end -}}

{{/* The workflows Deployment and Service of this version: each release has its own. */}}
{{- define "podmortem.workflows.versionedName" -}}
{{- printf "%s-%s" (include "podmortem.workflows.fullname" .) (include "podmortem.workflows.version" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "podmortem.watcher.serviceAccountName" -}}
{{- if .Values.serviceAccount.watcher.create -}}
{{- default (include "podmortem.watcher.fullname" .) .Values.serviceAccount.watcher.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.watcher.name -}}
{{- end -}}
{{- end -}}

{{- define "podmortem.workflows.serviceAccountName" -}}
{{- if .Values.serviceAccount.workflows.create -}}
{{- default (include "podmortem.workflows.fullname" .) .Values.serviceAccount.workflows.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.workflows.name -}}
{{- end -}}
{{- end -}}

{{/* Labels: helm.sh/chart and managed-by are the only ones deploy/manifests leaves out. */}}
{{- define "podmortem.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "podmortem.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: podmortem
{{- end -}}

{{- define "podmortem.watcher.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podmortem.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: watcher
{{- end -}}

{{- define "podmortem.workflows.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podmortem.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: workflows
{{- end -}}

{{- define "podmortem.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* This release's endpoint URL: a new version is a new URL, so Restate keeps in-flight invocations
on the deployment they started on. */}}
{{- define "podmortem.workflows.endpoint" -}}
{{- printf "http://%s.%s.svc:%d" (include "podmortem.workflows.versionedName" .) .Release.Namespace (int .Values.workflows.endpointPort) -}}
{{- end -}}

{{/* The pod-level and container-level hardening every podmortem pod shares. */}}
{{- define "podmortem.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "podmortem.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Fails the render on combinations the schema cannot express. */}}
{{- define "podmortem.validate" -}}
{{- $_ := required "clusterName is required: the name this cluster is enrolled under in Restate (a DNS label, unique per cluster), e.g. --set clusterName=prod-eu-1" .Values.clusterName -}}
{{- if ge (int .Values.watcher.leaderElection.renewDeadlineS) (int .Values.watcher.leaderElection.leaseDurationS) -}}
{{- fail "watcher.leaderElection.renewDeadlineS must be shorter than watcher.leaderElection.leaseDurationS" -}}
{{- end -}}
{{- if and (eq .Values.rbac.scope "namespaces") (not .Values.rbac.namespaces) -}}
{{- fail "rbac.scope=namespaces needs rbac.namespaces: the namespaces the watcher may watch and capture in" -}}
{{- end -}}
{{- if eq .Values.restate.registration.mode "restateDeployment" -}}
{{- $r := .Values.restate.registration.restateDeployment -}}
{{- if not (or $r.cluster $r.cloud $r.url) -}}
{{- fail "restate.registration.mode=restateDeployment needs one of restate.registration.restateDeployment.cluster, .cloud or .url" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The workflows pod, shared by the Deployment and the RestateDeployment. */}}
{{- define "podmortem.workflows.podTemplate" -}}
metadata:
  labels:
    {{- include "podmortem.workflows.selectorLabels" . | nindent 4 }}
    podmortem.io/version: {{ include "podmortem.workflows.version" . | quote }}
    {{- with .Values.workflows.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print .Template.BasePath "/workflows-configmap.yaml") . | sha256sum }}
    {{- with .Values.workflows.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "podmortem.workflows.serviceAccountName" . }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- include "podmortem.podSecurityContext" . | nindent 4 }}
  # In-flight invocations are suspended by Restate and resumed on another replica.
  terminationGracePeriodSeconds: 30
  {{- with .Values.workflows.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  containers:
    - name: workflows
      image: {{ include "podmortem.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["workflows"]
      envFrom:
        - configMapRef:
            name: {{ include "podmortem.workflows.fullname" . }}
        {{- with .Values.s3.credentialsSecret }}
        - secretRef:
            name: {{ . }}
        {{- end }}
      env:
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        {{- with .Values.workflows.secretsKey.existingSecret }}
        - name: PODMORTEM_SECRETS_KEY
          valueFrom:
            secretKeyRef:
              name: {{ . }}
              key: {{ $.Values.workflows.secretsKey.key }}
        {{- end }}
        {{- with .Values.workflows.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: restate
          containerPort: {{ .Values.workflows.endpointPort }}
          protocol: TCP
        - name: http
          containerPort: {{ .Values.workflows.httpPort }}
          protocol: TCP
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: 10
        failureThreshold: 3
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        periodSeconds: 5
        failureThreshold: 3
      resources:
        {{- toYaml .Values.workflows.resources | nindent 8 }}
      securityContext:
        {{- include "podmortem.containerSecurityContext" . | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: evidence
          mountPath: {{ .Values.evidence.dir }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 256Mi
    - name: evidence
      {{- if .Values.evidence.existingClaim }}
      persistentVolumeClaim:
        claimName: {{ .Values.evidence.existingClaim }}
      {{- else }}
      emptyDir: {}
      {{- end }}
  {{- with .Values.workflows.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.workflows.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.workflows.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.workflows.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
