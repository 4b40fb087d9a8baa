{{- define "ferroloop.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ferroloop.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Environment every process gets. */}}
{{- define "ferroloop.commonEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.common.database.existingSecret }}
      key: DATABASE_URL
- name: DATABASE_MAX_CONNECTIONS
  value: {{ .Values.common.database.maxConnections | quote }}
- name: KAFKA_BROKERS
  value: {{ .Values.common.kafka.brokers | quote }}
- name: KAFKA_TOPIC_PREFIX
  value: {{ .Values.common.kafka.topicPrefix | quote }}
- name: KAFKA_FETCH_WAIT_MAX_MS
  value: {{ .Values.common.kafka.fetchWaitMaxMs | quote }}
- name: KAFKA_BATCH_MAX_MESSAGES
  value: {{ .Values.common.kafka.batchMaxMessages | quote }}
- name: KAFKA_BATCH_MAX_WAIT_MS
  value: {{ .Values.common.kafka.batchMaxWaitMs | quote }}
- name: KAFKA_LINGER_MS
  value: {{ .Values.common.kafka.lingerMs | quote }}
- name: KAFKA_EXTRA_CONFIG
  value: {{ .Values.common.kafka.extraConfig | quote }}
- name: HUB_NAME
  value: {{ .Values.common.hubName | quote }}
- name: LOG_LEVEL
  value: {{ .Values.common.logLevel | quote }}
- name: LOG_FORMAT
  value: json
- name: OPS_ADDR
  value: {{ printf "0.0.0.0:%v" .Values.opsPort | quote }}
{{- range $name, $value := .Values.common.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}
