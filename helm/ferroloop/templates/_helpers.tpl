{{/*
Naming. The longest object name is "<fullname>-notification-handler-metrics" (29 characters of
suffix), so fullname is limited to 34 characters: truncating instead would silently give two
objects the same name.
*/}}
{{- define "ferroloop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ferroloop.fullname" -}}
{{- $name := "" -}}
{{- if .Values.fullnameOverride -}}
{{- $name = .Values.fullnameOverride -}}
{{- else -}}
{{- $base := default .Chart.Name .Values.nameOverride -}}
{{- $name = ternary .Release.Name (printf "%s-%s" .Release.Name $base) (contains $base .Release.Name) -}}
{{- end -}}
{{- $name = trimSuffix "-" $name -}}
{{- if gt (len $name) 34 -}}
{{- fail (printf "the full name %q is longer than 34 characters; set fullnameOverride to a shorter name" $name) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{/* "<fullname>-<component>"; call with (dict "root" $ "name" "api-adapter"). */}}
{{- define "ferroloop.componentName" -}}
{{- printf "%s-%s" (include "ferroloop.fullname" .root) .name -}}
{{- end -}}

{{- define "ferroloop.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferroloop.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Labels of every object; call with (dict "root" $ "name" <component or "">). */}}
{{- define "ferroloop.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "ferroloop.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: ferroloop
{{- with .name }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{/*
What each binary is, read from its clap `Config` (src/lib.rs of each service crate): which shared argument
groups it flattens (DatabaseArgs, KafkaArgs), whether it reads HUB_NAME, its own listener, and the
topic it consumes (so replica counts can be checked against partitions). The map keys are the
binary names; the chart runs /usr/local/bin/<key>.
*/}}
{{- define "ferroloop.facts" -}}
api-adapter:          { database: false, kafka: true,  hubName: true,  listener: fspiop, consumes: "" }
admin-api:            { database: true,  kafka: true,  hubName: true,  listener: admin,  consumes: "" }
prepare-handler:      { database: true,  kafka: true,  hubName: true,  listener: "",     consumes: topic-transfer-prepare }
position-handler:     { database: true,  kafka: true,  hubName: true,  listener: "",     consumes: topic-transfer-position }
fulfil-handler:       { database: true,  kafka: true,  hubName: true,  listener: "",     consumes: topic-transfer-fulfil }
timeout-handler:      { database: true,  kafka: true,  hubName: true,  listener: "",     consumes: "" }
notification-handler: { database: true,  kafka: true,  hubName: true,  listener: "",     consumes: topic-notification-event }
get-handler:          { database: true,  kafka: true,  hubName: true,  listener: "",     consumes: topic-transfer-get }
{{- end -}}

{{- define "ferroloop.fact" -}}
{{- $facts := include "ferroloop.facts" .root | fromYaml -}}
{{- toYaml (get $facts .name) -}}
{{- end -}}

{{/* "repository:tag@digest" from the global image, overridden per service. */}}
{{- define "ferroloop.image" -}}
{{- $img := mergeOverwrite (deepCopy .root.Values.image) (default (dict) .image) -}}
{{- $tag := default .root.Chart.AppVersion $img.tag -}}
{{- if $img.digest -}}
{{- printf "%s:%s@%s" $img.repository $tag $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "ferroloop.imagePullPolicy" -}}
{{- $img := mergeOverwrite (deepCopy .root.Values.image) (default (dict) .image) -}}
{{- $img.pullPolicy -}}
{{- end -}}

{{/*
An environment value as a string. Helm decodes numbers as float64, and `quote` prints 1000000 as
"1e+06"; whole numbers are printed as integers instead.
*/}}
{{- define "ferroloop.envValue" -}}
{{- if kindIs "float64" . -}}
{{- if eq (float64 (int64 .)) . -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* ------------------------------------------------------------------------- secrets */}}

{{/* Name of the Secret holding DATABASE_URL and the Kafka SASL credentials. */}}
{{- define "ferroloop.credentialsSecret" -}}
{{- default (printf "%s-credentials" (include "ferroloop.fullname" .)) .Values.credentials.existingSecret -}}
{{- end -}}

{{/*
A file bundle (JWS keys, certificates) comes from an existing Secret or from PEM text in the
values; call with (dict "root" $ "bundle" <values> "suffix" "tls-fspiop").
*/}}
{{- define "ferroloop.bundleSecret" -}}
{{- default (printf "%s-%s" (include "ferroloop.fullname" .root) .suffix) .bundle.existingSecret -}}
{{- end -}}

{{/* data: of the chart-created credentials Secret ("" when an existing Secret is used). */}}
{{- define "ferroloop.credentialsData" -}}
{{- $c := .Values.credentials -}}
{{- if not $c.existingSecret -}}
{{- with $c.databaseUrl }}
DATABASE_URL: {{ . | b64enc }}
{{- end }}
{{- if .Values.kafka.sasl.enabled }}
KAFKA_SASL_USERNAME: {{ $c.kafkaSaslUsername | b64enc }}
KAFKA_SASL_PASSWORD: {{ $c.kafkaSaslPassword | b64enc }}
{{- end }}
{{- end -}}
{{- end -}}

{{- define "ferroloop.jwsVerificationData" -}}
{{- range $fsp, $pem := .Values.jws.verificationKeys.keys }}
{{ printf "%s.pem" $fsp }}: {{ $pem | b64enc }}
{{- end -}}
{{- end -}}

{{- define "ferroloop.adminAuthKeysData" -}}
{{- range $kid, $pem := .Values.adminAuth.verificationKeys.keys }}
{{ printf "%s.pem" $kid }}: {{ $pem | b64enc }}
{{- end -}}
{{- end -}}

{{- define "ferroloop.jwsSigningData" -}}
signing-key.pem: {{ .Values.jws.signingKey.pem | b64enc }}
public-key.pem: {{ .Values.jws.signingKey.publicPem | b64enc }}
{{- end -}}

{{/* tls.crt / tls.key / ca.crt of a chart-created certificate bundle. */}}
{{- define "ferroloop.tlsData" -}}
{{- with .cert }}
tls.crt: {{ . | b64enc }}
{{- end }}
{{- with .key }}
tls.key: {{ . | b64enc }}
{{- end }}
{{- with .ca }}
ca.crt: {{ . | b64enc }}
{{- end }}
{{- end -}}

{{/*
The file bundles a component mounts, as a list of
{name, secret, mountPath, chartData, items}. One list drives the volumes, the mounts and the
checksum, so they cannot disagree.
*/}}
{{- define "ferroloop.mounts" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $fact := include "ferroloop.fact" . | fromYaml -}}
{{- $mounts := list -}}
{{- if and (eq .name "api-adapter") $v.jws.validate -}}
{{- $b := $v.jws.verificationKeys -}}
{{- $mounts = append $mounts (dict "name" "jws-verification" "mountPath" "/etc/ferroloop/jws/verification"
      "secret" (include "ferroloop.bundleSecret" (dict "root" $root "bundle" $b "suffix" "jws-verification"))
      "chartData" (ternary "" (include "ferroloop.jwsVerificationData" $root) (not (empty $b.existingSecret)))) -}}
{{- end -}}
{{- if and (eq .name "notification-handler") $v.jws.sign -}}
{{- $b := $v.jws.signingKey -}}
{{- $items := list (dict "key" (ternary $b.existingSecretKey "signing-key.pem" (not (empty $b.existingSecret))) "path" "signing-key.pem") -}}
{{- $mounts = append $mounts (dict "name" "jws-signing" "mountPath" "/etc/ferroloop/jws/signing" "items" $items
      "secret" (include "ferroloop.bundleSecret" (dict "root" $root "bundle" $b "suffix" "jws-signing"))
      "chartData" (ternary "" (include "ferroloop.jwsSigningData" $root) (not (empty $b.existingSecret)))) -}}
{{- end -}}
{{- if and (eq .name "admin-api") $v.jws.sign -}}
{{- /* Only the public key of the signing bundle is projected into admin-api's pod. */ -}}
{{- $b := $v.jws.signingKey -}}
{{- $items := list (dict "key" (ternary $b.existingSecretPublicKey "public-key.pem" (not (empty $b.existingSecret))) "path" "public-key.pem") -}}
{{- $mounts = append $mounts (dict "name" "jws-signing" "mountPath" "/etc/ferroloop/jws/hub" "items" $items
      "secret" (include "ferroloop.bundleSecret" (dict "root" $root "bundle" $b "suffix" "jws-signing"))
      "chartData" (ternary "" (include "ferroloop.jwsSigningData" $root) (not (empty $b.existingSecret)))) -}}
{{- end -}}
{{- if and (eq .name "admin-api") (eq $v.adminAuth.mode "on") -}}
{{- $b := $v.adminAuth.verificationKeys -}}
{{- $mounts = append $mounts (dict "name" "admin-auth-keys" "mountPath" "/etc/ferroloop/admin-auth/keys"
      "secret" (include "ferroloop.bundleSecret" (dict "root" $root "bundle" $b "suffix" "admin-auth-keys"))
      "chartData" (ternary "" (include "ferroloop.adminAuthKeysData" $root) (not (empty $b.existingSecret)))) -}}
{{- end -}}
{{- if and (eq .name "api-adapter") $v.tls.fspiop.enabled -}}
{{- $b := $v.tls.fspiop -}}
{{- $mounts = append $mounts (dict "name" "tls-fspiop" "mountPath" "/etc/ferroloop/tls/fspiop"
      "secret" (include "ferroloop.bundleSecret" (dict "root" $root "bundle" $b "suffix" "tls-fspiop"))
      "chartData" (ternary "" (include "ferroloop.tlsData" $b) (not (empty $b.existingSecret)))) -}}
{{- end -}}
{{- if and (eq .name "notification-handler") $v.tls.callbacks.enabled -}}
{{- $b := $v.tls.callbacks -}}
{{- $mounts = append $mounts (dict "name" "tls-callbacks" "mountPath" "/etc/ferroloop/tls/callbacks"
      "secret" (include "ferroloop.bundleSecret" (dict "root" $root "bundle" $b "suffix" "tls-callbacks"))
      "chartData" (ternary "" (include "ferroloop.tlsData" $b) (not (empty $b.existingSecret)))) -}}
{{- end -}}
{{- if and $fact.kafka (include "ferroloop.kafkaTlsSecretUsed" $root) -}}
{{- $b := $v.kafka.tls -}}
{{- $mounts = append $mounts (dict "name" "tls-kafka" "mountPath" "/etc/ferroloop/tls/kafka"
      "secret" (include "ferroloop.bundleSecret" (dict "root" $root "bundle" $b "suffix" "tls-kafka"))
      "chartData" (ternary "" (include "ferroloop.tlsData" $b) (not (empty $b.existingSecret)))) -}}
{{- end -}}
{{- toYaml (dict "mounts" $mounts) -}}
{{- end -}}

{{/* Non-empty when Kafka TLS needs files (a CA or a client certificate), not only system roots. */}}
{{- define "ferroloop.kafkaTlsSecretUsed" -}}
{{- $t := .Values.kafka.tls -}}
{{- if and $t.enabled (or $t.existingSecret $t.ca $t.cert) -}}true{{- end -}}
{{- end -}}

{{/* ---------------------------------------------------------------------- environment */}}

{{/*
The ConfigMap data of one component: only the variables its binary reads (see the facts above),
then the service's own `env`, which may override any of them. Secrets and the variables that the
chart's ports and mounts depend on are not in here (values.schema.json refuses them in `env`).
*/}}
{{- define "ferroloop.configData" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $svc := get $v.services .name -}}
{{- $fact := include "ferroloop.fact" . | fromYaml -}}
{{- $env := dict
      "LOG_LEVEL" $v.log.level
      "LOG_FORMAT" $v.log.format
      "OPS_ADDR" (printf "0.0.0.0:%v" (include "ferroloop.envValue" $v.ports.ops)) -}}
{{- if $fact.hubName -}}
{{- $_ := set $env "HUB_NAME" $v.hubName -}}
{{- end -}}
{{- if $fact.database -}}
{{- $_ := set $env "DATABASE_MAX_CONNECTIONS" $v.database.maxConnections -}}
{{- $_ := set $env "DATABASE_ACQUIRE_TIMEOUT_MS" $v.database.acquireTimeoutMs -}}
{{- end -}}
{{- if $fact.kafka -}}
{{- $k := $v.kafka -}}
{{- $_ := set $env "KAFKA_BROKERS" $k.brokers -}}
{{- $_ := set $env "KAFKA_TOPIC_PREFIX" $k.topicPrefix -}}
{{- $_ := set $env "KAFKA_BATCH_MAX_MESSAGES" $k.batchMaxMessages -}}
{{- $_ := set $env "KAFKA_BATCH_MAX_WAIT_MS" $k.batchMaxWaitMs -}}
{{- $_ := set $env "KAFKA_FETCH_WAIT_MAX_MS" $k.fetchWaitMaxMs -}}
{{- $_ := set $env "KAFKA_SESSION_TIMEOUT_MS" $k.sessionTimeoutMs -}}
{{- $_ := set $env "KAFKA_HEARTBEAT_INTERVAL_MS" $k.heartbeatIntervalMs -}}
{{- $_ := set $env "KAFKA_LINGER_MS" $k.lingerMs -}}
{{- $_ := set $env "KAFKA_MESSAGE_TIMEOUT_MS" $k.messageTimeoutMs -}}
{{- $_ := set $env "KAFKA_IDEMPOTENCE" $k.idempotence -}}
{{- end -}}
{{- if eq $fact.listener "fspiop" -}}
{{- $_ := set $env "FSPIOP_API_ADDR" (printf "0.0.0.0:%v" (include "ferroloop.envValue" $v.ports.fspiop)) -}}
{{- end -}}
{{- if eq $fact.listener "admin" -}}
{{- $_ := set $env "ADMIN_API_ADDR" (printf "0.0.0.0:%v" (include "ferroloop.envValue" $v.ports.admin)) -}}
{{- end -}}
{{- if eq .name "api-adapter" -}}
{{- $_ := set $env "JWS_VALIDATE" $v.jws.validate -}}
{{- if $v.senderAuthentication.gateway -}}
{{- $_ := set $env "FSPIOP_GATEWAY_AUTHENTICATION" true -}}
{{- end -}}
{{- if $v.jws.validate -}}
{{- $_ := set $env "JWS_VERIFICATION_KEYS_DIRECTORY" "/etc/ferroloop/jws/verification" -}}
{{- $_ := set $env "JWS_KEYS_RELOAD_INTERVAL_MS" $v.jws.verificationKeys.reloadIntervalMs -}}
{{- end -}}
{{- if $v.tls.fspiop.enabled -}}
{{- /* mTLS listener: ca.crt makes api-adapter require client certificates (README, "TLS"). */ -}}
{{- $_ := set $env "FSPIOP_TLS_CERT_PATH" "/etc/ferroloop/tls/fspiop/tls.crt" -}}
{{- $_ := set $env "FSPIOP_TLS_KEY_PATH" "/etc/ferroloop/tls/fspiop/tls.key" -}}
{{- if or $v.tls.fspiop.existingSecret $v.tls.fspiop.ca -}}
{{- $_ := set $env "FSPIOP_TLS_CLIENT_CA_PATH" "/etc/ferroloop/tls/fspiop/ca.crt" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if or (eq .name "admin-api") (eq .name "notification-handler") -}}
{{- $_ := set $env "CALLBACK_ADDRESS_ALLOW_LIST" $v.callbacks.addressAllowList -}}
{{- end -}}
{{- if and (eq .name "admin-api") $v.jws.sign -}}
{{- $_ := set $env "HUB_JWS_PUBLIC_KEY_PATH" "/etc/ferroloop/jws/hub/public-key.pem" -}}
{{- end -}}
{{- if eq .name "admin-api" -}}
{{- $a := $v.adminAuth -}}
{{- $_ := set $env "ADMIN_AUTH" $a.mode -}}
{{- if eq $a.mode "on" -}}
{{- if $a.issuer -}}
{{- $_ := set $env "ADMIN_AUTH_ISSUER" $a.issuer -}}
{{- end -}}
{{- $_ := set $env "ADMIN_AUTH_AUDIENCE" $a.audience -}}
{{- $_ := set $env "ADMIN_AUTH_KEYS_DIRECTORY" "/etc/ferroloop/admin-auth/keys" -}}
{{- $_ := set $env "ADMIN_AUTH_KEYS_RELOAD_INTERVAL_MS" $a.verificationKeys.reloadIntervalMs -}}
{{- $_ := set $env "ADMIN_AUTH_ALGORITHMS" $a.algorithms -}}
{{- $_ := set $env "ADMIN_AUTH_LEEWAY_SECONDS" $a.leewaySeconds -}}
{{- $_ := set $env "ADMIN_AUTH_ROLES_CLAIM" $a.rolesClaim -}}
{{- if $a.roles -}}
{{- $_ := set $env "ADMIN_AUTH_ROLES" (toJson $a.roles) -}}
{{- end -}}
{{- $_ := set $env "ADMIN_APPROVAL_TTL_SECONDS" $a.approvalTtlSeconds -}}
{{- end -}}
{{- end -}}
{{- if eq .name "notification-handler" -}}
{{- $_ := set $env "JWS_SIGN" $v.jws.sign -}}
{{- if $v.jws.sign -}}
{{- $_ := set $env "JWS_SIGNING_KEY_PATH" "/etc/ferroloop/jws/signing/signing-key.pem" -}}
{{- with $v.jws.signingKey.algorithm -}}
{{- $_ := set $env "JWS_SIGNING_ALGORITHM" . -}}
{{- end -}}
{{- end -}}
{{- if $v.tls.callbacks.enabled -}}
{{- /* https callbacks: the hub's client certificate; ca.crt verifies the DFSPs (README, "TLS"). */ -}}
{{- $_ := set $env "CALLBACK_TLS_CERT_PATH" "/etc/ferroloop/tls/callbacks/tls.crt" -}}
{{- $_ := set $env "CALLBACK_TLS_KEY_PATH" "/etc/ferroloop/tls/callbacks/tls.key" -}}
{{- if or $v.tls.callbacks.existingSecret $v.tls.callbacks.ca -}}
{{- $_ := set $env "CALLBACK_TLS_CA_PATH" "/etc/ferroloop/tls/callbacks/ca.crt" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $env = mergeOverwrite $env (default (dict) $svc.env) -}}
{{- range $key := keys $env | sortAlpha }}
{{ $key }}: {{ include "ferroloop.envValue" (get $env $key) | quote }}
{{- end -}}
{{- end -}}

{{/*
KAFKA_EXTRA_CONFIG: the values' extraConfig plus the TLS and SASL properties. It is set inline in
the pod (not in the ConfigMap) so that $(KAFKA_SASL_USERNAME) and $(KAFKA_SASL_PASSWORD), defined
just before it from the Secret, are expanded by the kubelet and never stored in a ConfigMap.
librdkafka splits this list on commas: credentials must not contain one.
*/}}
{{- define "ferroloop.kafkaExtraConfig" -}}
{{- $k := .Values.kafka -}}
{{- $parts := list -}}
{{- with $k.extraConfig }}{{ $parts = append $parts . }}{{ end -}}
{{- if or $k.tls.enabled $k.sasl.enabled -}}
{{- $protocol := ternary (ternary "sasl_ssl" "ssl" $k.sasl.enabled) "sasl_plaintext" $k.tls.enabled -}}
{{- $parts = append $parts (printf "security.protocol=%s" $protocol) -}}
{{- end -}}
{{- if include "ferroloop.kafkaTlsSecretUsed" . -}}
{{- if or $k.tls.existingSecret $k.tls.ca -}}
{{- $parts = append $parts "ssl.ca.location=/etc/ferroloop/tls/kafka/ca.crt" -}}
{{- end -}}
{{- if or $k.tls.clientCertificate $k.tls.cert -}}
{{- $parts = append $parts "ssl.certificate.location=/etc/ferroloop/tls/kafka/tls.crt" -}}
{{- $parts = append $parts "ssl.key.location=/etc/ferroloop/tls/kafka/tls.key" -}}
{{- end -}}
{{- end -}}
{{- if $k.sasl.enabled -}}
{{- $parts = append $parts (printf "sasl.mechanisms=%s" $k.sasl.mechanism) -}}
{{- $parts = append $parts "sasl.username=$(KAFKA_SASL_USERNAME)" -}}
{{- $parts = append $parts "sasl.password=$(KAFKA_SASL_PASSWORD)" -}}
{{- end -}}
{{- join "," $parts -}}
{{- end -}}

{{/* Secret-backed variables and KAFKA_EXTRA_CONFIG of one component (env: entries). */}}
{{- define "ferroloop.secretEnv" -}}
{{- $root := .root -}}
{{- $fact := include "ferroloop.fact" . | fromYaml -}}
{{- $secret := include "ferroloop.credentialsSecret" $root -}}
{{- if $fact.database }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: { name: {{ $secret }}, key: DATABASE_URL }
{{- end }}
{{- if $fact.kafka }}
{{- if $root.Values.kafka.sasl.enabled }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef: { name: {{ $secret }}, key: KAFKA_SASL_USERNAME }
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ $secret }}, key: KAFKA_SASL_PASSWORD }
{{- end }}
- name: KAFKA_EXTRA_CONFIG
  value: {{ include "ferroloop.kafkaExtraConfig" $root | quote }}
{{- end }}
{{- $a := $root.Values.adminAuth }}
{{- if and (eq .name "admin-api") (eq $a.mode "on") (not $a.issuer) }}
- name: ADMIN_AUTH_ISSUER
  valueFrom:
    secretKeyRef: { name: {{ $a.verificationKeys.existingSecret }}, key: issuer }
{{- end }}
{{- end -}}

{{/*
What the checksum/secrets annotation hashes: the data of the chart-created Secrets the component
uses, or the names of existing ones (their content is not visible to Helm; see README).
*/}}
{{- define "ferroloop.secretsFingerprint" -}}
{{- $root := .root -}}
{{- $fact := include "ferroloop.fact" . | fromYaml -}}
{{- if or $fact.database (and $fact.kafka $root.Values.kafka.sasl.enabled) -}}
credentials: {{ $root.Values.credentials.existingSecret | default (include "ferroloop.credentialsData" $root) }}
{{- end }}
{{- range (include "ferroloop.mounts" . | fromYaml).mounts }}
{{ .name }}: {{ .chartData | default .secret }}
{{- end -}}
{{- end -}}

{{/* ------------------------------------------------------------------- network policy */}}
{{- define "ferroloop.egressDns" -}}
- ports: [{ port: 53, protocol: UDP }, { port: 53, protocol: TCP }]
  {{- with .Values.networkPolicy.egress.dns.to }}
  to: {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* {to, ports} as one egress rule: empty ports = every port, empty to = every destination. */}}
{{- define "ferroloop.egressRule" -}}
{{- $rule := dict -}}
{{- with .ports -}}
{{- $ports := list -}}
{{- range . }}{{ $ports = append $ports (dict "port" . "protocol" "TCP") }}{{ end -}}
{{- $_ := set $rule "ports" $ports -}}
{{- end -}}
{{- with .to }}{{ $_ := set $rule "to" . }}{{ end -}}
{{- toYaml (list $rule) -}}
{{- end -}}

{{/* ------------------------------------------------------------------------- pod parts */}}

{{/* The restricted Pod Security Standard, not overridable: only the ids are values. */}}
{{- define "ferroloop.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "ferroloop.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* One probe: the chart's path and port, timings from values (global, then per service). */}}
{{- define "ferroloop.probe" -}}
httpGet:
  path: {{ .path }}
  port: ops
{{ toYaml .timing }}
{{- end -}}

{{/*
How api-adapter authenticates senders, as a comma-separated list (empty: not at all): client
certificates (TLS with a client CA), required signatures, an authenticating gateway.
*/}}
{{- define "ferroloop.senderAuthentication" -}}
{{- $v := .Values -}}
{{- $methods := list -}}
{{- if and $v.tls.fspiop.enabled (or $v.tls.fspiop.existingSecret $v.tls.fspiop.ca) -}}
{{- $methods = append $methods "client certificates" -}}
{{- end -}}
{{- /* JWS_MODE verify-if-present (services.api-adapter.env) lets unsigned requests through. */ -}}
{{- $jwsMode := toString (get (get $v.services "api-adapter").env "JWS_MODE" | default "required") -}}
{{- if and $v.jws.validate (eq $jwsMode "required") -}}
{{- $methods = append $methods "signatures" -}}
{{- end -}}
{{- if $v.senderAuthentication.gateway -}}
{{- $methods = append $methods "gateway X-Client-Id" -}}
{{- end -}}
{{- join ", " $methods -}}
{{- end -}}
