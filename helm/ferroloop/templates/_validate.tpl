{{/*
Rules that involve more than one value, which values.schema.json cannot say clearly. Each fails
the render with a message that names the values to change.
*/}}
{{- define "ferroloop.validate" -}}
{{- $v := .Values -}}
{{- $facts := include "ferroloop.facts" . | fromYaml -}}
{{- $needsDatabase := $v.migrations.enabled -}}
{{- $needsKafka := false -}}
{{- range $name, $svc := $v.services -}}
{{- if $svc.enabled -}}
{{- $fact := get $facts $name -}}
{{- $needsDatabase = or $needsDatabase $fact.database -}}
{{- $needsKafka = or $needsKafka $fact.kafka -}}
{{- if and $svc.hpa.enabled (gt (int $svc.hpa.minReplicas) (int $svc.hpa.maxReplicas)) -}}
{{- fail (printf "services.%s.hpa: minReplicas (%v) is above maxReplicas (%v)" $name $svc.hpa.minReplicas $svc.hpa.maxReplicas) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- $p := $v.ports -}}
{{- if or (eq (int $p.ops) (int $p.fspiop)) (eq (int $p.ops) (int $p.admin)) -}}
{{- fail (printf "ports: ops (%v) must differ from fspiop (%v) and admin (%v)" $p.ops $p.fspiop $p.admin) -}}
{{- end -}}

{{- $c := $v.credentials -}}
{{- if and (not $c.existingSecret) $needsDatabase (not $c.databaseUrl) -}}
{{- fail "credentials: set existingSecret (a Secret with key DATABASE_URL) or databaseUrl" -}}
{{- end -}}
{{- if and (not $c.existingSecret) $needsKafka $v.kafka.sasl.enabled (or (not $c.kafkaSaslUsername) (not $c.kafkaSaslPassword)) -}}
{{- fail "kafka.sasl.enabled: set credentials.existingSecret or both credentials.kafkaSaslUsername and credentials.kafkaSaslPassword" -}}
{{- end -}}
{{- if and (not $c.existingSecret) $v.kafka.sasl.enabled (or (contains "," $c.kafkaSaslUsername) (contains "," $c.kafkaSaslPassword)) -}}
{{- fail "credentials: KAFKA_EXTRA_CONFIG is split on commas, so the Kafka SASL username and password cannot contain one" -}}
{{- end -}}

{{- $api := get $v.services "api-adapter" -}}
{{- $notify := get $v.services "notification-handler" -}}
{{- if and $v.jws.validate $api.enabled (not $v.jws.verificationKeys.existingSecret) (empty $v.jws.verificationKeys.keys) -}}
{{- fail "jws.validate: set jws.verificationKeys.existingSecret or jws.verificationKeys.keys (one PEM public key per DFSP)" -}}
{{- end -}}
{{- if and $v.jws.sign $notify.enabled (not $v.jws.signingKey.existingSecret) (not $v.jws.signingKey.pem) -}}
{{- fail "jws.sign: set jws.signingKey.existingSecret or jws.signingKey.pem (the hub's private key), or jws.sign false (values-dev.yaml)" -}}
{{- end -}}
{{- if and $v.jws.sign (not $v.jws.signingKey.existingSecret) $v.jws.signingKey.pem (not $v.jws.signingKey.publicPem) -}}
{{- fail "jws.sign: set jws.signingKey.publicPem too (the public key admin-api publishes for the DFSPs)" -}}
{{- end -}}
{{- $admin := get $v.services "admin-api" -}}
{{- $a := $v.adminAuth -}}
{{- if and $admin.enabled (eq $a.mode "on") -}}
{{- if and (not $a.verificationKeys.existingSecret) (empty $a.verificationKeys.keys) -}}
{{- fail "adminAuth.mode on: set adminAuth.verificationKeys.existingSecret or adminAuth.verificationKeys.keys (the token issuer's public keys), or adminAuth.mode off" -}}
{{- end -}}
{{- if and (not $a.issuer) (not $a.verificationKeys.existingSecret) -}}
{{- fail "adminAuth.mode on: set adminAuth.issuer (the tokens' iss)" -}}
{{- end -}}
{{- end -}}
{{- range $bundle := list "fspiop" "callbacks" -}}
{{- $t := get $v.tls $bundle -}}
{{- if and $t.enabled (not $t.existingSecret) (or (not $t.cert) (not $t.key)) -}}
{{- fail (printf "tls.%s.enabled: set tls.%s.existingSecret or both tls.%s.cert and tls.%s.key" $bundle $bundle $bundle $bundle) -}}
{{- end -}}
{{- end -}}
{{- $kt := $v.kafka.tls -}}
{{- if and $kt.enabled (not $kt.existingSecret) (or $kt.clientCertificate $kt.cert $kt.key) (or (not $kt.cert) (not $kt.key)) -}}
{{- fail "kafka.tls: a client certificate needs both kafka.tls.cert and kafka.tls.key (or kafka.tls.existingSecret)" -}}
{{- end -}}

{{- $senders := include "ferroloop.senderAuthentication" . -}}
{{- if and $api.enabled (not $senders) -}}
{{- if $v.ingress.fspiop.enabled -}}
{{- fail "ingress.fspiop exposes api-adapter without sender authentication: anyone could act for any DFSP. Require client certificates (tls.fspiop with ca.crt), signatures (jws.validate) or a gateway (senderAuthentication.gateway)" -}}
{{- end -}}
{{- if not $v.senderAuthentication.allowNone -}}
{{- fail "api-adapter would take FSPIOP-Source as written (no client CA in tls.fspiop, jws.validate false, no senderAuthentication.gateway): require one, or for development set senderAuthentication.allowNone (values-dev.yaml)" -}}
{{- end -}}
{{- end -}}

{{- $ing := $v.ingress.fspiop -}}
{{- if $ing.enabled -}}
{{- if not $api.enabled -}}
{{- fail "ingress.fspiop.enabled needs services.api-adapter.enabled" -}}
{{- end -}}
{{- if and $ing.tlsPassthrough (not $v.tls.fspiop.enabled) -}}
{{- fail "ingress.fspiop.tlsPassthrough hands the TLS connection to api-adapter: enable tls.fspiop, or set tlsPassthrough to false" -}}
{{- end -}}
{{- if and $ing.tlsPassthrough $ing.tls -}}
{{- fail "ingress.fspiop.tls is for TLS terminated at the ingress; with tlsPassthrough the certificate is tls.fspiop's" -}}
{{- end -}}
{{- end -}}
{{- if and $v.ingress.admin.enabled (not (get $v.services "admin-api").enabled) -}}
{{- fail "ingress.admin.enabled needs services.admin-api.enabled" -}}
{{- end -}}
{{- end -}}
