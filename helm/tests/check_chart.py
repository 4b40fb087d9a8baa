#!/usr/bin/env python3
"""Checks the ferroloop Helm chart without a helm binary or a cluster.

Uses Helm's own Go library (helm-python-sdk) to lint and render, kubernetes-validate for the
Kubernetes API schemas, and asserts what the chart promises: one restricted, probed,
checksummed Deployment per enabled component, the migration hook, Secrets kept out of
ConfigMaps, every variable set being one its binary reads, NetworkPolicies per component, and a
values.schema.json that refuses bad values. Exits non-zero and lists every failure.

    helm/tests/run.sh                  # what `make helm-check` runs (sets up the venv)
    helm/tests/run.sh --write-readme   # regenerate the values table in helm/ferroloop/README.md
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "ferroloop"
VALUES_DIR = ROOT / "helm" / "tests" / "values"
README = CHART / "README.md"
RELEASE = "ferroloop"
NAMESPACE = "ferroloop"
# The oldest version Chart.yaml's kubeVersion admits and the newest whose schemas are shipped.
K8S_VERSIONS = ("1.30.0", "1.37.0")

SERVICES = [
    "api-adapter", "admin-api", "prepare-handler", "position-handler", "fulfil-handler",
    "timeout-handler", "notification-handler", "get-handler",
]
# Where api-adapter's FSPIOP listener certificates are mounted.
TLS_FSPIOP = "/etc/ferroloop/tls/fspiop"
# What NOTES.txt says when api-adapter takes FSPIOP-Source as written.
NO_SENDER_AUTHENTICATION = "NO SENDER AUTHENTICATION"
# Variables the chart sets for security features the binaries are gaining (README, "TLS").
PROPOSED_ENV: dict[str, set[str]] = {}

# ServiceMonitor is a CRD of the Prometheus Operator, not in the Kubernetes schemas: it is checked
# against this subset of monitoring.coreos.com/v1 instead, strict about the fields the chart uses.
SERVICEMONITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}, "namespace": {"type": "string"},
                           "labels": {"type": "object", "additionalProperties": {"type": "string"}}},
        },
        "spec": {
            "type": "object", "required": ["selector", "endpoints"], "additionalProperties": False,
            "properties": {
                "jobLabel": {"type": "string"},
                "namespaceSelector": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"any": {"type": "boolean"},
                                   "matchNames": {"type": "array", "items": {"type": "string"}}},
                },
                "selector": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
                                   "matchExpressions": {"type": "array"}},
                },
                "endpoints": {
                    "type": "array", "minItems": 1,
                    "items": {
                        "type": "object", "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"}, "path": {"type": "string"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"},
                            "scrapeTimeout": {"type": "string", "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"},
                        },
                    },
                },
            },
        },
    },
}


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failures: list[str] = []

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
        else:
            self.failures.append(f"{what}{': ' + detail if detail else ''}")
            print(f"FAIL {what}{': ' + detail if detail else ''}", flush=True)
        return ok

    def run(self, what: str, fn: Callable[[], None]) -> None:
        """Runs a group of checks; an exception is one failure, not the end of the run."""
        try:
            fn()
        except Exception as error:  # noqa: BLE001 - report and go on
            self.check(False, what, f"{type(error).__name__}: {error}")


C = Checks()


# ----------------------------------------------------------------------------------- rendering

def load_values(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def expectation(path: Path, key: str) -> str:
    match = re.search(rf"^# {key}: (.+)$", path.read_text(), re.M)
    if not match:
        raise ValueError(f"{path} has no '# {key}:' line")
    return match.group(1).strip()


class Rendered:
    """The manifests of one render, parsed, plus NOTES.txt."""

    def __init__(self, values: dict[str, Any] | None, release: str = RELEASE) -> None:
        with helm.Chart.load(str(CHART)) as chart:
            self.values = chart.merge_values(values or {})
            out = chart.render(values, name=release, namespace=NAMESPACE, is_install=True)
        self.notes = out.pop("ferroloop/templates/NOTES.txt", "")
        self.raw = out
        self.docs: list[dict[str, Any]] = []
        for template, text in sorted(out.items()):
            for doc in yaml.safe_load_all(text):
                if doc:
                    doc["__template"] = template
                    self.docs.append(doc)

    def of(self, kind: str) -> dict[str, dict[str, Any]]:
        return {d["metadata"]["name"]: d for d in self.docs if d["kind"] == kind}

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.of(kind).get(name)


def name(component: str) -> str:
    return f"{RELEASE}-{component}"


def strip(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "__template"}


# ------------------------------------------------------------------- what the binaries read

def binary_env() -> dict[str, set[str]]:
    """Each binary's environment variables, read from its clap `env = "…"` attributes and those
    of the shared argument groups its Config flattens."""
    env_re = re.compile(r'env\s*=\s*"([A-Z0-9_]+)"')

    def names(*files: Path) -> set[str]:
        found: set[str] = set()
        for f in files:
            found |= set(env_re.findall(f.read_text()))
        return found

    groups = {
        "DatabaseArgs": ROOT / "shared/store/src/lib.rs",
        "KafkaArgs": ROOT / "shared/messaging/src/config.rs",
        "TelemetryArgs": ROOT / "shared/telemetry/src/lib.rs",
    }
    result = {}
    for svc in SERVICES:
        sources = sorted((ROOT / "services" / svc / "src").rglob("*.rs"))
        text = "".join(p.read_text() for p in sources)
        config = re.search(r"pub struct Config \{(.*?)\n\}", text, re.S)
        body = config.group(1) if config else ""
        env = names(*sources)
        for group, path in groups.items():
            if re.search(rf":\s*(\w+::)*{group}\b", body):
                env |= names(path)
        result[svc] = env
    return result


BINARY_ENV = binary_env()


# -------------------------------------------------------------------------------- the checks

def validate_kubernetes(r: Rendered, label: str) -> None:
    for doc in r.docs:
        ident = f"{label}: {doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "ServiceMonitor":
            errors = list(jsonschema.Draft202012Validator(SERVICEMONITOR_SCHEMA).iter_errors(strip(doc)))
            C.check(not errors, f"{ident} matches the ServiceMonitor schema",
                    "; ".join(e.message for e in errors[:3]))
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(strip(doc), version, strict=True)
                C.check(True, ident)
            except kubernetes_validate.ValidationError as e:
                C.check(False, f"{ident} is valid for Kubernetes {version}",
                        f"{'.'.join(str(p) for p in e.path)}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError as e:
                C.check(False, f"{ident} has a Kubernetes {version} schema", e.message)


def check_common(r: Rendered, label: str) -> None:
    """What holds for every render."""
    for template, text in r.raw.items():
        C.check("<no value>" not in text, f"{label}: {template} has no <no value>")
    C.check("<no value>" not in r.notes, f"{label}: NOTES.txt has no <no value>")
    seen: set[tuple[str, str]] = set()
    for doc in r.docs:
        key = (doc["kind"], doc["metadata"]["name"])
        C.check(key not in seen, f"{label}: {key} is rendered once")
        seen.add(key)
        labels = doc["metadata"].get("labels", {})
        C.check(labels.get("app.kubernetes.io/instance") == RELEASE
                and labels.get("app.kubernetes.io/managed-by") == "Helm",
                f"{label}: {key} carries the release labels")
    values = r.values
    enabled = {s for s in SERVICES if values["services"][s]["enabled"]}
    deployments = r.of("Deployment")
    C.check(set(deployments) == {name(s) for s in enabled},
            f"{label}: one Deployment per enabled service", f"{sorted(deployments)} vs {sorted(enabled)}")
    configmaps = r.of("ConfigMap")
    for svc in enabled:
        dep = deployments.get(name(svc))
        if not dep:
            continue
        check_deployment(r, svc, dep, label)
        cm = configmaps.get(name(svc))
        if C.check(cm is not None, f"{label}: {svc} has its ConfigMap"):
            check_config(r, svc, cm["data"], label)
        C.check(name(svc) + "-metrics" in r.of("Service"), f"{label}: {svc} has a metrics Service")
        if values["podDisruptionBudget"]["enabled"]:
            pdb = r.get("PodDisruptionBudget", name(svc))
            C.check(pdb is not None and pdb["spec"]["selector"]["matchLabels"]
                    == dep["spec"]["selector"]["matchLabels"], f"{label}: {svc} has a matching PodDisruptionBudget")
        hpa = r.get("HorizontalPodAutoscaler", name(svc))
        if values["services"][svc]["hpa"]["enabled"]:
            C.check(hpa is not None and hpa["spec"]["scaleTargetRef"]["name"] == name(svc),
                    f"{label}: {svc} has its HorizontalPodAutoscaler")
            C.check("replicas" not in dep["spec"], f"{label}: {svc} leaves replicas to the HPA")
        else:
            C.check(hpa is None and dep["spec"]["replicas"] == values["services"][svc]["replicas"],
                    f"{label}: {svc} has a fixed replica count")
    selectors = [json.dumps(d["spec"]["selector"], sort_keys=True) for d in deployments.values()]
    C.check(len(set(selectors)) == len(selectors), f"{label}: Deployment selectors are distinct")
    for doc in configmaps.values():
        text = json.dumps(doc.get("data", {}))
        C.check("mysql://" not in text and "PASSWORD" not in text and "BEGIN" not in text,
                f"{label}: ConfigMap {doc['metadata']['name']} holds no secret")
    if values["services"]["api-adapter"]["enabled"]:
        C.check(name("api-adapter") in r.of("Service"), f"{label}: FSPIOP API Service")
    if values["services"]["admin-api"]["enabled"]:
        C.check(name("admin-api") in r.of("Service"), f"{label}: admin API Service")
    check_migrations(r, label)
    if values["networkPolicy"]["enabled"]:
        check_network_policies(r, enabled, label)
    else:
        C.check(not r.of("NetworkPolicy"), f"{label}: no NetworkPolicy when disabled")
    C.check(bool(r.of("ServiceMonitor")) == values["serviceMonitor"]["enabled"],
            f"{label}: ServiceMonitor exactly when enabled")


def check_pod_security(spec: dict[str, Any], what: str) -> None:
    pod = spec.get("securityContext", {})
    C.check(pod.get("runAsNonRoot") is True and pod.get("runAsUser") == 65532
            and pod.get("seccompProfile") == {"type": "RuntimeDefault"},
            f"{what}: restricted pod securityContext", json.dumps(pod))
    C.check(spec.get("automountServiceAccountToken") is False, f"{what}: no service account token")
    for c in spec["containers"]:
        sc = c.get("securityContext", {})
        C.check(sc.get("allowPrivilegeEscalation") is False and sc.get("readOnlyRootFilesystem") is True
                and sc.get("capabilities") == {"drop": ["ALL"]} and sc.get("runAsNonRoot") is True
                and not sc.get("privileged"), f"{what}: restricted container securityContext", json.dumps(sc))
        tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
        C.check(len(tmp) == 1, f"{what}: writable /tmp mounted")
        for m in c.get("volumeMounts", []):
            if m["mountPath"] != "/tmp":
                C.check(m.get("readOnly") is True, f"{what}: {m['mountPath']} mounted read-only")
                C.check("subPath" not in m, f"{what}: {m['mountPath']} mounted without subPath")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    C.check(volumes.get("tmp", {}).get("emptyDir") is not None, f"{what}: /tmp is an emptyDir")


def check_deployment(r: Rendered, svc: str, dep: dict[str, Any], label: str) -> None:
    what = f"{label}: Deployment {svc}"
    spec = dep["spec"]["template"]["spec"]
    check_pod_security(spec, what)
    (c,) = spec["containers"]
    C.check(c["command"] == [f"/usr/local/bin/{svc}"], f"{what}: runs its own binary", str(c["command"]))
    image = r.values["image"]
    C.check(c["image"].startswith(image["repository"] + ":")
            or bool(r.values["services"][svc]["image"].get("repository")), f"{what}: uses the chart's image")
    for probe, path in (("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready"),
                        ("startupProbe", "/health/live")):
        get = c.get(probe, {}).get("httpGet", {})
        C.check(get.get("path") == path and get.get("port") == "ops", f"{what}: {probe} on {path}")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    C.check(ports.get("ops") == r.values["ports"]["ops"], f"{what}: ops port")
    annotations = dep["spec"]["template"]["metadata"].get("annotations", {})
    for key in ("checksum/config", "checksum/secrets"):
        C.check(bool(re.fullmatch(r"[0-9a-f]{64}", annotations.get(key, ""))), f"{what}: {key} annotation")
    C.check(c.get("resources", {}).get("requests") is not None, f"{what}: resource requests")
    env = {e["name"]: e for e in c.get("env", [])}
    for var, e in env.items():
        if var in ("DATABASE_URL", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"):
            C.check("secretKeyRef" in e.get("valueFrom", {}), f"{what}: {var} comes from a Secret")
    C.check(("DATABASE_URL" in env) == (svc != "api-adapter"), f"{what}: DATABASE_URL exactly where the binary needs it")
    # Every binary reaches the broker (admin-api only to report it in GET /health).
    C.check("KAFKA_EXTRA_CONFIG" in env, f"{what}: Kafka settings where the binary needs them")


def check_config(r: Rendered, svc: str, data: dict[str, str], label: str) -> None:
    """Every variable the chart sets is one the binary reads (or a documented proposed one)."""
    user = set(r.values["services"][svc].get("env", {}))
    chart_set = set(data) - user
    unknown = chart_set - BINARY_ENV[svc] - PROPOSED_ENV.get(svc, set())
    C.check(not unknown, f"{label}: {svc} gets only variables it reads", ", ".join(sorted(unknown)))
    C.check(all(isinstance(v, str) for v in data.values()), f"{label}: {svc} ConfigMap values are strings")
    C.check(all("e+" not in v for k, v in data.items() if k.endswith(("_MS", "_MESSAGES"))),
            f"{label}: {svc} numbers are printed as integers")


def check_migrations(r: Rendered, label: str) -> None:
    job = r.get("Job", name("db-migrate"))
    if not r.values["migrations"]["enabled"]:
        C.check(job is None, f"{label}: no migration Job when disabled")
        return
    if not C.check(job is not None, f"{label}: migration Job rendered"):
        return
    annotations = job["metadata"].get("annotations", {})
    hooks = set(annotations.get("helm.sh/hook", "").split(","))
    C.check({"pre-install", "pre-upgrade"} <= hooks, f"{label}: migration Job is a pre-install/pre-upgrade hook")
    C.check("before-hook-creation" in annotations.get("helm.sh/hook-delete-policy", ""),
            f"{label}: migration Job is replaced on the next run")
    spec = job["spec"]["template"]["spec"]
    check_pod_security(spec, f"{label}: Job db-migrate")
    (c,) = spec["containers"]
    C.check(c["command"] == ["/usr/local/bin/db-migrate"], f"{label}: Job runs db-migrate")
    ref = next(e for e in c["env"] if e["name"] == "DATABASE_URL")["valueFrom"]["secretKeyRef"]
    secret = r.get("Secret", ref["name"])
    if r.values["credentials"]["existingSecret"]:
        C.check(ref["name"] == r.values["credentials"]["existingSecret"], f"{label}: Job reads the existing Secret")
    else:
        # A chart-created Secret of the release does not exist yet when a pre-install hook runs.
        hook_weight = lambda d: int(d["metadata"].get("annotations", {}).get("helm.sh/hook-weight", "0"))  # noqa: E731
        C.check(secret is not None and "helm.sh/hook" in secret["metadata"].get("annotations", {})
                and hook_weight(secret) < hook_weight(job), f"{label}: Job's Secret is an earlier hook")


def check_network_policies(r: Rendered, enabled: set[str], label: str) -> None:
    policies = r.of("NetworkPolicy")
    for svc in enabled:
        np = policies.get(name(svc))
        if not C.check(np is not None, f"{label}: {svc} has a NetworkPolicy"):
            continue
        spec = np["spec"]
        C.check(set(spec["policyTypes"]) == {"Ingress", "Egress"}, f"{label}: {svc} policy covers both directions")
        in_ports = {p["port"] for rule in spec["ingress"] for p in rule.get("ports", [])}
        listener = {"api-adapter": "fspiop", "admin-api": "admin"}.get(svc)
        C.check(in_ports == {"ops"} | ({listener} if listener else set()),
                f"{label}: {svc} accepts only its own ports", str(in_ports))
        egress = r.values["networkPolicy"]["egress"]
        out_ports = {p["port"] for rule in spec["egress"] for p in rule.get("ports", [])}
        C.check(53 in out_ports, f"{label}: {svc} may resolve names")
        kafka = set(egress["kafka"]["ports"])
        mysql = set(egress["mysql"]["ports"])
        if kafka - mysql and mysql - kafka:
            C.check(bool(kafka & out_ports), f"{label}: {svc} may reach Kafka")
            C.check(bool(mysql & out_ports) == (svc != "api-adapter"), f"{label}: {svc} reaches MySQL only if it uses it")
        callbacks = set(egress["callbacks"]["ports"])
        if callbacks and not callbacks & (kafka | mysql | {53}):
            C.check(bool(callbacks & out_ports) == (svc == "notification-handler"),
                    f"{label}: only notification-handler reaches DFSP endpoints")
    if r.values["migrations"]["enabled"]:
        np = policies.get(name("db-migrate"))
        C.check(np is not None and "helm.sh/hook" in np["metadata"].get("annotations", {}),
                f"{label}: migration Job's NetworkPolicy exists before it (hook)")


def check_lint(values: dict[str, Any] | None, label: str) -> None:
    for version in K8S_VERSIONS:
        report = helm.lint(str(CHART), values, strict=True, kube_version=f"v{version}")
        problems = [m for m in report["messages"] if m["severity"] >= 2] + [{"error": e} for e in report["errors"]]
        C.check(not problems, f"{label}: helm lint --strict (Kubernetes {version})",
                "; ".join(str(p.get("error")) for p in problems))


# ------------------------------------------------------------------------------ the scenarios

def scenario_defaults() -> None:
    r = Rendered(None)
    validate_kubernetes(r, "defaults")
    check_common(r, "defaults")
    C.check(not r.of("Secret"), "defaults: no Secret created (the credentials Secret is an existing one)")
    C.check(not r.of("Ingress") and not r.of("HorizontalPodAutoscaler"), "defaults: no Ingress, no HPA")
    for svc in ("prepare-handler", "position-handler", "fulfil-handler"):
        C.check(name(svc) in r.of("Deployment"), f"defaults: {svc} is a Deployment of its own")
    check_lint(None, "defaults")
    admin = r.get("ConfigMap", name("admin-api"))["data"]
    C.check(admin.get("ADMIN_AUTH") == "on" and admin.get("ADMIN_AUTH_KEYS_DIRECTORY") == "/etc/ferroloop/admin-auth/keys",
            "defaults: the admin API requires tokens (secure by default)")
    admin_pod = r.get("Deployment", name("admin-api"))["spec"]["template"]["spec"]["containers"][0]
    C.check(any(m["mountPath"] == admin["ADMIN_AUTH_KEYS_DIRECTORY"] for m in admin_pod.get("volumeMounts", [])),
            "defaults: the admin API mounts the issuer keys where its variable points")
    C.check(any(e["name"] == "ADMIN_AUTH_ISSUER" and "secretKeyRef" in e.get("valueFrom", {}) for e in admin_pod.get("env", [])),
            "defaults: the admin API takes the issuer from the keys Secret")
    off = Rendered({"adminAuth": {"mode": "off"}}).get("ConfigMap", name("admin-api"))["data"]
    C.check(off.get("ADMIN_AUTH") == "off" and "ADMIN_AUTH_AUDIENCE" not in off, "adminAuth.mode off: only ADMIN_AUTH=off")
    C.check("WARNING" not in r.notes, "defaults: NOTES.txt has no replica warning")
    api = r.get("ConfigMap", name("api-adapter"))["data"]
    C.check(api.get("JWS_VALIDATE") == "true" and api.get("FSPIOP_TLS_CLIENT_CA_PATH") == f"{TLS_FSPIOP}/ca.crt",
            "defaults: api-adapter requires signatures and client certificates (secure by default)", json.dumps(api))
    api_pod = r.get("Deployment", name("api-adapter"))["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["mountPath"] for m in api_pod.get("volumeMounts", [])}
    C.check({api.get("JWS_VERIFICATION_KEYS_DIRECTORY"), TLS_FSPIOP} <= mounts,
            "defaults: api-adapter mounts the DFSPs' keys and its certificates where its variables point", str(mounts))
    C.check(api.get("HUB_NAME") == r.values["hubName"], "defaults: api-adapter knows the hub's name (no DFSP sends as the hub)")
    C.check(NO_SENDER_AUTHENTICATION not in r.notes, "defaults: NOTES.txt does not warn about sender authentication")
    over = Rendered({"services": {"prepare-handler": {"replicas": 9}}})
    C.check("prepare-handler may run 9 replicas but topic-transfer-prepare has 6 partitions" in over.notes,
            "NOTES.txt warns about consumer replicas beyond the partitions", over.notes)


def scenario_production() -> None:
    values = load_values(CHART / "values-production.yaml")
    r = Rendered(values)
    validate_kubernetes(r, "production")
    check_common(r, "production")
    check_lint(values, "production")
    hpas = r.of("HorizontalPodAutoscaler")
    C.check(len(hpas) >= 4, "production: HPAs on", str(sorted(hpas)))
    C.check(len(r.of("PodDisruptionBudget")) == len(SERVICES), "production: a PDB per component")
    C.check(len(r.of("ServiceMonitor")) == 1, "production: ServiceMonitor on")
    C.check(len(r.of("NetworkPolicy")) == len(SERVICES) + 1, "production: NetworkPolicies on")
    ing = r.get("Ingress", name("api-adapter"))
    C.check(ing is not None and ing["metadata"]["annotations"].get("nginx.ingress.kubernetes.io/ssl-passthrough") == "true",
            "production: FSPIOP Ingress passes TLS through")
    api = r.get("ConfigMap", name("api-adapter"))["data"]
    C.check(api.get("JWS_VALIDATE") == "true" and api.get("FSPIOP_TLS_CLIENT_CA_PATH", "").endswith("/ca.crt"),
            "production: JWS verification and mTLS configured")
    mounts = {m["mountPath"] for m in r.get("Deployment", name("api-adapter"))["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    C.check({api["JWS_VERIFICATION_KEYS_DIRECTORY"], "/etc/ferroloop/tls/fspiop"} <= mounts,
            "production: api-adapter mounts its keys where its variables point")
    notify = r.get("ConfigMap", name("notification-handler"))["data"]
    C.check(notify.get("JWS_SIGN") == "true" and notify.get("JWS_SIGNING_KEY_PATH") == "/etc/ferroloop/jws/signing/signing-key.pem",
            "production: callbacks signed")
    C.check(r.get("ConfigMap", name("position-handler"))["data"]["DATABASE_MAX_CONNECTIONS"] == "24",
            "production: per-service env overrides the common setting")
    C.check("WARNING" not in r.notes, "production: no consumer has more replicas than partitions", r.notes)


def scenario_sender_authentication() -> None:
    """api-adapter renders only with a sender authentication (client certificates with a CA,
    required signatures, or an authenticating gateway) unless a values file explicitly allows
    none for development (values-dev.yaml) - and never with none behind an exposed ingress."""
    dev = load_values(CHART / "values-dev.yaml")
    r = Rendered(dev)
    validate_kubernetes(r, "dev")
    check_common(r, "dev")
    check_lint(dev, "dev")
    api = r.get("ConfigMap", name("api-adapter"))["data"]
    C.check(api.get("JWS_VALIDATE") == "false" and not any(k.startswith("FSPIOP_TLS_") for k in api)
            and api.get("FSPIOP_GATEWAY_AUTHENTICATION", "false") == "false",
            "dev: api-adapter runs without sender authentication", json.dumps(api))
    C.check(NO_SENDER_AUTHENTICATION in r.notes, "dev: NOTES.txt warns that senders are not authenticated", r.notes)
    off = {"jws": {"validate": False}, "tls": {"fspiop": {"enabled": False}}}
    for label, values, var, expected in [
        ("client certificates", {"jws": {"validate": False}}, "FSPIOP_TLS_CLIENT_CA_PATH", f"{TLS_FSPIOP}/ca.crt"),
        ("signatures", {"tls": {"fspiop": {"enabled": False}}}, "JWS_VALIDATE", "true"),
        ("a gateway", {**off, "senderAuthentication": {"gateway": True}}, "FSPIOP_GATEWAY_AUTHENTICATION", "true"),
    ]:
        r = Rendered(values)
        api = r.get("ConfigMap", name("api-adapter"))["data"]
        C.check(api.get(var) == expected and NO_SENDER_AUTHENTICATION not in r.notes,
                f"sender authentication by {label} alone is enough", json.dumps(api))
    gateway = Rendered({**off, "senderAuthentication": {"gateway": True}})
    C.check("FSPIOP_GATEWAY_AUTHENTICATION" in gateway.get("ConfigMap", name("api-adapter"))["data"]
            and "X-Client-Id" in gateway.notes, "gateway mode: set, and NOTES.txt says what it relies on", gateway.notes)
    # Without api-adapter there is nobody to authenticate.
    none = Rendered({**off, "services": {"api-adapter": {"enabled": False}}})
    C.check(NO_SENDER_AUTHENTICATION not in none.notes, "no api-adapter: no sender authentication needed")


def scenario_hub_signatures() -> None:
    """Hub-originated callbacks are signed by default with the key of a named Secret, whose public
    key admin-api publishes (GET /hub/jwsKey) - the private key is mounted into
    notification-handler only; values-dev.yaml turns signing off."""
    r = Rendered(None)

    def pod(svc: str, rendered: Rendered = r) -> dict[str, Any]:
        return rendered.get("Deployment", name(svc))["spec"]["template"]["spec"]

    notify = r.get("ConfigMap", name("notification-handler"))["data"]
    C.check(notify.get("JWS_SIGN") == "true"
            and notify.get("JWS_SIGNING_KEY_PATH") == "/etc/ferroloop/jws/signing/signing-key.pem",
            "defaults: hub callbacks signed", json.dumps(notify))
    admin = r.get("ConfigMap", name("admin-api"))["data"]
    C.check(admin.get("HUB_JWS_PUBLIC_KEY_PATH") == "/etc/ferroloop/jws/hub/public-key.pem",
            "defaults: admin-api publishes the hub's public key", json.dumps(admin))
    C.check(admin.get("KAFKA_BROKERS") == r.values["kafka"]["brokers"],
            "admin-api knows the broker (GET /health reports it)", json.dumps(admin))
    projected = {
        svc: [(v["secret"]["secretName"], [i["key"] for i in v["secret"].get("items", [])])
              for v in pod(svc).get("volumes", []) if v.get("name") == "jws-signing"]
        for svc in ("notification-handler", "admin-api")
    }
    C.check(projected == {"notification-handler": [("ferroloop-jws-signing", ["signing-key.pem"])],
                          "admin-api": [("ferroloop-jws-signing", ["public-key.pem"])]},
            "defaults: the private key reaches notification-handler only, admin-api gets the public key",
            json.dumps(projected))
    dev = Rendered(load_values(CHART / "values-dev.yaml"))
    C.check(dev.get("ConfigMap", name("notification-handler"))["data"].get("JWS_SIGN") == "false"
            and "HUB_JWS_PUBLIC_KEY_PATH" not in dev.get("ConfigMap", name("admin-api"))["data"]
            and not any(v.get("name") == "jws-signing" for s in SERVICES for v in pod(s, dev).get("volumes", [])),
            "dev: callbacks unsigned, no signing Secret needed")


def scenario_good_files() -> None:
    for path in sorted((VALUES_DIR / "good").glob("*.yaml")):
        label = f"good/{path.name}"
        values = load_values(path)
        r = Rendered(values)
        validate_kubernetes(r, label)
        check_common(r, label)
        check_lint(values, label)
        if path.name == "everything-from-values.yaml":
            secrets = r.of("Secret")
            expected = {name(s) for s in ("credentials", "jws-verification", "jws-signing", "tls-fspiop",
                                          "tls-callbacks", "tls-kafka", "db-migrate")}
            C.check(set(secrets) == expected, f"{label}: every Secret created", str(sorted(secrets)))
            prep = r.get("Deployment", name("prepare-handler"))["spec"]["template"]["spec"]["containers"][0]
            extra = next(e["value"] for e in prep["env"] if e["name"] == "KAFKA_EXTRA_CONFIG")
            C.check(extra.startswith("client.id=ferroloop,security.protocol=sasl_ssl,ssl.ca.location=")
                    and "sasl.password=$(KAFKA_SASL_PASSWORD)" in extra, f"{label}: KAFKA_EXTRA_CONFIG composed", extra)
            names = [e["name"] for e in prep["env"]]
            C.check(names.index("KAFKA_SASL_PASSWORD") < names.index("KAFKA_EXTRA_CONFIG"),
                    f"{label}: SASL variables precede their $(…) use")
            data = r.get("ConfigMap", name("prepare-handler"))["data"]
            C.check(data.get("KAFKA_MESSAGE_TIMEOUT_MS") == "1000000", f"{label}: 1000000 is not printed as 1e+06",
                    data.get("KAFKA_MESSAGE_TIMEOUT_MS", ""))
            C.check(prep["image"].endswith("@sha256:" + "0123456789abcdef" * 4), f"{label}: per-service image digest")
            C.check(prep["args"] == ["--log-format", "json"], f"{label}: per-service args")


def scenario_toggles() -> None:
    """Disabling one component removes exactly its objects."""
    full = Rendered(None)
    for svc in SERVICES:
        r = Rendered({"services": {svc: {"enabled": False}}, "networkPolicy": {"enabled": True}})
        objects = {(d["kind"], d["metadata"]["name"]) for d in r.docs}
        C.check(("Deployment", name(svc)) not in objects, f"disable {svc}: its Deployment is gone")
        leftovers = [o for o in objects if o[1] in (name(svc), name(svc) + "-metrics")]
        C.check(not leftovers, f"disable {svc}: none of its objects remain", str(leftovers))
        C.check(set(r.of("Deployment")) == set(full.of("Deployment")) - {name(svc)},
                f"disable {svc}: the other Deployments stay")


def scenario_dashboard() -> None:
    """The Grafana dashboard ConfigMap: off by default; on, labelled for the sidecar, holding the
    dashboard file as valid JSON that queries only ferroloop's metrics."""
    C.check(Rendered(None).get("ConfigMap", name("dashboard")) is None, "dashboard: off by default")
    on = Rendered({"grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "Payments"}}})
    cm = on.get("ConfigMap", name("dashboard"))
    if not C.check(cm is not None, "dashboard: enabled renders its ConfigMap"):
        return
    C.check(cm["metadata"]["labels"].get("grafana_dashboard") == "1", "dashboard: sidecar label grafana_dashboard=1")
    C.check(cm["metadata"].get("annotations", {}).get("grafana_folder") == "Payments", "dashboard: annotations pass through")
    shipped = json.loads(cm["data"]["ferroloop.json"])
    on_disk = json.loads((CHART / "dashboards" / "ferroloop.json").read_text())
    C.check(shipped == on_disk, "dashboard: the ConfigMap holds dashboards/ferroloop.json unchanged")
    exprs = [t["expr"] for p in shipped["panels"] for t in p.get("targets", [])]
    C.check(len(exprs) >= 10 and all("ferroloop_" in e for e in exprs), "dashboard: every query reads ferroloop metrics")
    relabelled = Rendered({"grafanaDashboard": {"enabled": True, "label": "dashboards", "labelValue": "ferroloop"}})
    cm = relabelled.get("ConfigMap", name("dashboard"))
    C.check(cm is not None and cm["metadata"]["labels"].get("dashboards") == "ferroloop", "dashboard: label is configurable")


def scenario_checksums() -> None:
    """A change rolls exactly the pods whose configuration or Secrets it touches."""
    base_values = {"credentials": {"existingSecret": "", "databaseUrl": "mysql://a:b@db:3306/ferroloop"}}

    def annotations(values: dict[str, Any]) -> dict[str, dict[str, str]]:
        r = Rendered(values)
        return {n: d["spec"]["template"]["metadata"]["annotations"] for n, d in r.of("Deployment").items()}

    base = annotations(base_values)
    kafka = annotations({**base_values, "kafka": {"brokers": "other:9092"}})
    C.check(kafka[name("prepare-handler")]["checksum/config"] != base[name("prepare-handler")]["checksum/config"],
            "a Kafka change rolls prepare-handler")
    C.check(kafka[name("admin-api")]["checksum/config"] != base[name("admin-api")]["checksum/config"],
            "a Kafka change rolls admin-api (its GET /health probes the broker)")
    db = annotations({"credentials": {"existingSecret": "", "databaseUrl": "mysql://a:c@db:3306/ferroloop"}})
    C.check(db[name("admin-api")]["checksum/secrets"] != base[name("admin-api")]["checksum/secrets"],
            "a new DATABASE_URL rolls admin-api")
    C.check(db[name("api-adapter")] == base[name("api-adapter")], "a new DATABASE_URL leaves api-adapter alone")
    env = annotations({**base_values, "services": {"get-handler": {"env": {"KAFKA_BATCH_MAX_MESSAGES": 7}}}})
    C.check(env[name("get-handler")]["checksum/config"] != base[name("get-handler")]["checksum/config"],
            "a service env change rolls that service")
    C.check(env[name("fulfil-handler")] == base[name("fulfil-handler")], "a service env change leaves the others alone")


def scenario_bad_values() -> None:
    with helm.Chart.load(str(CHART)) as chart:
        for path in sorted((VALUES_DIR / "bad").glob("*.yaml")):
            expect = expectation(path, "expect")
            try:
                chart.validate_schema(load_values(path))
                C.check(False, f"bad/{path.name} is refused by values.schema.json", "it was accepted")
            except helm.HelmValuesError as e:
                C.check(expect in str(e), f"bad/{path.name} is refused for the expected reason",
                        f"wanted {expect!r} in: {e}")


def scenario_render_failures() -> None:
    cases = [(p.name, load_values(p), expectation(p, "expect-error"), RELEASE)
             for p in sorted((VALUES_DIR / "fail").glob("*.yaml"))]
    cases.append(("a 40-character release name", None, "set fullnameOverride", "r" * 40))
    for label, values, expect, release in cases:
        try:
            Rendered(values, release=release)
            C.check(False, f"fail/{label} fails to render", "it rendered")
        except (helm.HelmRenderError, helm.HelmValuesError) as e:
            C.check(expect in str(e), f"fail/{label} fails for the expected reason", f"wanted {expect!r} in: {e}")


# --------------------------------------------------------------------------- the README table

def values_table() -> str:
    """Markdown rows for every value, from values.yaml (defaults) and values.schema.json
    (types and descriptions). Service keys are listed once as services.<name>.*."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target = schema
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def kind(node: dict[str, Any]) -> str:
        if "enum" in node:
            return " \\| ".join(f"`{v}`" if v != "" else '`""`' for v in node["enum"])
        t = node.get("type", "")
        return "/".join(t) if isinstance(t, list) else t

    rows: list[str] = []

    def walk(path: str, node: dict[str, Any], variants: list[Any]) -> None:
        """variants: the defaults of this path (one per service under services.<name>)."""
        node = resolve(node)
        props = node.get("properties")
        first = variants[0]
        if props and "description" not in node and isinstance(first, dict) and first:
            for key, sub in props.items():
                # Optional keys that values.yaml leaves out are listed as "unset".
                walk(f"{path}.{key}", sub, [v.get(key, UNSET) for v in variants])
            return
        if first is UNSET:
            shown = "unset"
        elif len({json.dumps(v, sort_keys=True) for v in variants}) > 1:
            shown = "per service, below"
        else:
            shown = json.dumps(first, ensure_ascii=False)
            shown = "see values.yaml" if len(shown) > 60 else shown
        desc = node.get("description", "").replace("|", "\\|")
        rows.append(f"| `{path}` | {kind(node)} | `{shown}` | {desc} |")

    for key, sub in schema["properties"].items():
        if key != "services":
            walk(key, sub, [defaults[key]])
    for key, sub in schema["$defs"]["service"]["properties"].items():
        walk(f"services.<name>.{key}", sub, [defaults["services"][s][key] for s in SERVICES])
    rows.sort(key=lambda row: row.split("|")[1])
    per_service = ["", "| service | replicas | requests | memory limit | HPA min–max | preStop sleep |",
                   "|---|---|---|---|---|---|"]
    for s in SERVICES:
        v = defaults["services"][s]
        req = v["resources"]["requests"]
        per_service.append(f"| `{s}` | {v['replicas']} | {req['cpu']} CPU, {req['memory']} | "
                           f"{v['resources']['limits']['memory']} | {v['hpa']['minReplicas']}–{v['hpa']['maxReplicas']} | "
                           f"{v['preStopSleepSeconds']} s |")
    header = ["| value | type | default | description |", "|---|---|---|---|"]
    return "\n".join(header + rows + per_service) + "\n"


# Where the chart takes each variable from; the others are set with services.<name>.env.
CHART_SET = {
    "LOG_LEVEL": "`log.level`", "LOG_FORMAT": "`log.format`", "OPS_ADDR": "`ports.ops`",
    "HUB_NAME": "`hubName`",
    "DATABASE_URL": "Secret (`credentials`); not given to api-adapter (its JWS_KEYS_SOURCE=database only)",
    "DATABASE_MAX_CONNECTIONS": "`database.maxConnections`", "DATABASE_ACQUIRE_TIMEOUT_MS": "`database.acquireTimeoutMs`",
    "DATABASE_MIGRATE": "not set (false): the hook Job migrates",
    "KAFKA_BROKERS": "`kafka.brokers`", "KAFKA_TOPIC_PREFIX": "`kafka.topicPrefix`",
    "KAFKA_BATCH_MAX_MESSAGES": "`kafka.batchMaxMessages`", "KAFKA_BATCH_MAX_WAIT_MS": "`kafka.batchMaxWaitMs`",
    "KAFKA_FETCH_WAIT_MAX_MS": "`kafka.fetchWaitMaxMs`", "KAFKA_SESSION_TIMEOUT_MS": "`kafka.sessionTimeoutMs`",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "`kafka.heartbeatIntervalMs`", "KAFKA_LINGER_MS": "`kafka.lingerMs`",
    "KAFKA_MESSAGE_TIMEOUT_MS": "`kafka.messageTimeoutMs`", "KAFKA_IDEMPOTENCE": "`kafka.idempotence`",
    "KAFKA_EXTRA_CONFIG": "`kafka.extraConfig`, `kafka.tls`, `kafka.sasl`",
    "FSPIOP_API_ADDR": "`ports.fspiop`", "ADMIN_API_ADDR": "`ports.admin`",
    "FSPIOP_TLS_CERT_PATH": "`tls.fspiop` (mounted)", "FSPIOP_TLS_KEY_PATH": "`tls.fspiop` (mounted)",
    "FSPIOP_TLS_CLIENT_CA_PATH": "`tls.fspiop` ca.crt (mounted)",
    "CALLBACK_TLS_CERT_PATH": "`tls.callbacks` (mounted)", "CALLBACK_TLS_KEY_PATH": "`tls.callbacks` (mounted)",
    "CALLBACK_TLS_CA_PATH": "`tls.callbacks` ca.crt (mounted)",
    "JWS_VALIDATE": "`jws.validate`",
    "FSPIOP_GATEWAY_AUTHENTICATION": "`senderAuthentication.gateway`", "JWS_VERIFICATION_KEYS_DIRECTORY": "`jws.verificationKeys` (mounted)",
    "JWS_KEYS_RELOAD_INTERVAL_MS": "`jws.verificationKeys.reloadIntervalMs`",
    "JWS_SIGN": "`jws.sign`", "JWS_SIGNING_KEY_PATH": "`jws.signingKey` (mounted)",
    "HUB_JWS_PUBLIC_KEY_PATH": "`jws.signingKey` public key (mounted)",
    "JWS_SIGNING_ALGORITHM": "`jws.signingKey.algorithm`",
    "ADMIN_AUTH": "`adminAuth.mode`", "ADMIN_AUTH_ISSUER": "`adminAuth.issuer`, else key `issuer` of the keys Secret",
    "ADMIN_AUTH_AUDIENCE": "`adminAuth.audience`",
    "ADMIN_AUTH_KEYS_DIRECTORY": "`adminAuth.verificationKeys` (mounted)",
    "ADMIN_AUTH_KEYS_RELOAD_INTERVAL_MS": "`adminAuth.verificationKeys.reloadIntervalMs`",
    "ADMIN_AUTH_ALGORITHMS": "`adminAuth.algorithms`", "ADMIN_AUTH_LEEWAY_SECONDS": "`adminAuth.leewaySeconds`",
    "ADMIN_AUTH_ROLES_CLAIM": "`adminAuth.rolesClaim`", "ADMIN_AUTH_ROLES": "`adminAuth.roles`",
    "ADMIN_APPROVAL_TTL_SECONDS": "`adminAuth.approvalTtlSeconds`",
}


def settings_table() -> str:
    """Every variable the binaries read (from their sources), who reads it, where it comes from."""
    readers: dict[str, list[str]] = {}
    for svc in SERVICES:
        for var in BINARY_ENV[svc]:
            readers.setdefault(var, []).append(svc)
    rows = ["| variable | read by | set from |", "|---|---|---|"]
    for var in sorted(readers):
        missing = [s for s in SERVICES if s not in readers[var]]
        if not missing:
            who = "all"
        elif len(missing) == 1:
            who = f"all but `{missing[0]}`"
        else:
            who = ", ".join(f"`{s}`" for s in readers[var])
        rows.append(f"| `{var}` | {who} | {CHART_SET.get(var, '`services.<name>.env`')} |")
    return "\n".join(rows) + "\n"


UNSET = object()
GENERATED = {"values-table": values_table, "settings-table": settings_table}


def readme_with_table() -> tuple[str, str]:
    """The README as it is, and with its generated sections regenerated."""
    text = current = README.read_text()
    for section, make in GENERATED.items():
        begin = f"<!-- {section}:begin (generated by helm/tests/run.sh --write-readme) -->"
        end = f"<!-- {section}:end -->"
        start, stop = text.index(begin) + len(begin), text.index(end)
        text = text[:start] + "\n" + make() + text[stop:]
    return current, text


def scenario_readme() -> None:
    current, wanted = readme_with_table()
    values_part = lambda t: t.split("<!-- values-table:end -->")[0]  # noqa: E731
    C.check(values_part(current) == values_part(wanted), "README.md values table is up to date",
            "run helm/tests/run.sh --write-readme")
    # The settings table follows the binaries' sources, which change in parallel: a variable that
    # no binary reads any more is an error (the README would mislead), a new one only a notice.
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", current, re.M))
    read = set().union(*BINARY_ENV.values())
    C.check(documented <= read, "README.md documents only variables the binaries read",
            ", ".join(sorted(documented - read)))
    if read - documented:
        print(f"  notice: not yet in README.md (run --write-readme): {', '.join(sorted(read - documented))}")
    schema = json.loads((CHART / "values.schema.json").read_text())
    missing = [row.split("|")[1].strip() for row in values_table().splitlines()
               if row.startswith("| `") and row.rstrip().endswith("|  |")]
    C.check(not missing, "every value has a description in values.schema.json", ", ".join(missing))
    C.check(schema.get("additionalProperties") is False, "values.schema.json refuses unknown top-level keys")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-readme", action="store_true", help="regenerate the README values table")
    args = parser.parse_args()
    if args.write_readme:
        _, wanted = readme_with_table()
        README.write_text(wanted)
        print(f"wrote the generated tables of {README.relative_to(ROOT)}")
        return 0
    print(f"helm-check: Helm SDK {helm.helm_sdk_version()}, kubernetes-validate {kubernetes_validate.__version__}, "
          f"Kubernetes schemas {', '.join(K8S_VERSIONS)}")
    for what, fn in [
        ("default values", scenario_defaults),
        ("production values", scenario_production),
        ("sender authentication", scenario_sender_authentication),
        ("hub signatures", scenario_hub_signatures),
        ("good values files", scenario_good_files),
        ("disabling services", scenario_toggles),
        ("checksum annotations", scenario_checksums),
        ("grafana dashboard", scenario_dashboard),
        ("values.schema.json refusals", scenario_bad_values),
        ("render-time refusals", scenario_render_failures),
        ("README", scenario_readme),
    ]:
        before = (C.passed, len(C.failures))
        C.run(what, fn)
        print(f"  {what}: {C.passed - before[0]} passed, {len(C.failures) - before[1]} failed", flush=True)
    if C.failures:
        print(f"\n{len(C.failures)} check(s) failed:")
        for f in C.failures:
            print(f"  - {f}")
    print(f"helm-check: {C.passed} passed, {len(C.failures)} failed")
    return 1 if C.failures else 0


if __name__ == "__main__":
    sys.exit(main())
