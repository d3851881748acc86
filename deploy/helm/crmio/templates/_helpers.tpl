{{/* Names and labels shared by every template. */}}

{{- define "crmio.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "crmio.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "crmio.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "crmio.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "crmio.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "crmio.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "crmio.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crmio.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "crmio.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "crmio.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "crmio.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "crmio.secretName" -}}
{{- if .Values.secrets.create }}
{{- include "crmio.fullname" . }}
{{- else }}
{{- required "secrets.existingSecret: name the Secret holding CRMIO_DATABASE_URL and CRMIO_SYSTEM_DATABASE_URL (or set secrets.create)" .Values.secrets.existingSecret }}
{{- end }}
{{- end }}

{{- define "crmio.storageClaim" -}}
{{- default (printf "%s-storage" (include "crmio.fullname" .)) .Values.storage.local.existingClaim }}
{{- end }}

{{- define "crmio.recordsTopic" -}}
{{- printf "%s.import.records" .Values.kafka.topicPrefix }}
{{- end }}

{{/* The settings every crmio container reads: the ConfigMap and the Secret, whole. */}}
{{- define "crmio.envFrom" -}}
- configMapRef:
    name: {{ include "crmio.fullname" . }}
- secretRef:
    name: {{ include "crmio.secretName" . }}
{{- end }}

{{/* Pod annotations that restart the pods when their settings change. */}}
{{- define "crmio.checksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if .Values.secrets.create }}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end }}

{{/* Writable places under a read-only root file system; the storage volume when files are local. */}}
{{- define "crmio.volumeMounts" -}}
- name: state
  mountPath: /data/state
- name: tmp
  mountPath: /tmp
{{- if eq .Values.storage.backend "local" }}
- name: storage
  mountPath: {{ .Values.storage.local.mountPath }}
{{- end }}
{{- include "crmio.kafkaTlsMount" . }}
{{- end }}

{{/* The Kafka TLS Secret (kafka.tls.secretName), read-only where CRMIO_KAFKA_SSL_* point. */}}
{{- define "crmio.kafkaTlsMount" -}}
{{- if .Values.kafka.tls.secretName }}
- name: kafka-tls
  mountPath: /etc/crmio/kafka-tls
  readOnly: true
{{- end }}
{{- end }}

{{- define "crmio.kafkaTlsVolume" -}}
{{- with .Values.kafka.tls.secretName }}
- name: kafka-tls
  secret:
    secretName: {{ . }}
{{- end }}
{{- end }}

{{- define "crmio.volumes" -}}
- name: state
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- if eq .Values.storage.backend "local" }}
- name: storage
  persistentVolumeClaim:
    claimName: {{ include "crmio.storageClaim" . }}
{{- end }}
{{- include "crmio.kafkaTlsVolume" . }}
{{- end }}

{{- define "crmio.podSpecCommon" -}}
serviceAccountName: {{ include "crmio.serviceAccountName" . }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}
