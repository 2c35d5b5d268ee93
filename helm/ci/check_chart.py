#!/usr/bin/env python3
"""Checks of the consentd Helm chart, offline.

For the default values and each ci/*.yaml of the chart:
  * Helm's own lint (strict: warnings count as failures);
  * a render (install and upgrade, so the hooks render too), every YAML document
    parsed and validated against the Kubernetes schemas of --kube-version in
    strict mode (unknown fields fail); a kind without a schema there
    (the ServiceMonitor CRD) is checked structurally, never skipped;
  * the chart's policies on every workload (Deployment and Job pod specs):
    non-root with the Dockerfile's uid/gid, read-only root filesystem, no
    privilege escalation, all capabilities dropped, seccomp RuntimeDefault,
    resources, probes; the database modes (sqlite: one replica, Recreate, the
    PVC; postgresql: the migration hook and CONSENTD_NO_MIGRATE) and the
    objects the hook needs existing before it runs;
  * the rendered consentd.toml parsed back (tomllib) and compared with `config`.
Then values that must be refused are refused (by the schema, and by the
templates' own guards), and a TOML renderer round trip of awkward strings.

One line per check; exit status 1 when any check failed.

Usage: python helm/ci/check_chart.py [--chart helm/consentd] [--kube-version 1.33]
Needs the PyPI packages helm-python-sdk and kubernetes-validate (and PyYAML).
"""

from __future__ import annotations

import argparse
import base64
import copy
import re
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any, Callable

import helm_python as helm
import kubernetes_validate
import yaml

RELEASE = "ci"
NAMESPACE = "consentd-ci"
# The longest release name Helm accepts: object names must still be valid.
LONG_RELEASE = "r" * 53
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume",
                  "StorageClass", "PriorityClass"}
WORKLOADS = ("Deployment", "Job")
# Where each kind that selects the server pods keeps its selector.
SELECTOR_PATHS = {
    "Deployment": ("spec", "selector", "matchLabels"),
    "Service": ("spec", "selector"),
    "PodDisruptionBudget": ("spec", "selector", "matchLabels"),
    "NetworkPolicy": ("spec", "podSelector", "matchLabels"),
    "ServiceMonitor": ("spec", "selector", "matchLabels"),
}


class Checks:
    """Prints one line per check and counts failures."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"PASS {name}")
        else:
            self.failed.append(name)
            print(f"FAIL {name}{': ' + detail if detail else ''}")
        return ok

    def problems(self, name: str, problems: list[str]) -> bool:
        return self.check(name, not problems, "; ".join(problems))


# --------------------------------------------------------------------------- helpers


def dig(obj: Any, *path: Any, default: Any = None) -> Any:
    for key in path:
        if isinstance(obj, dict) and key in obj:
            obj = obj[key]
        elif isinstance(obj, list) and isinstance(key, int) and -len(obj) <= key < len(obj):
            obj = obj[key]
        else:
            return default
    return obj


def dockerfile_final_stage(path: Path) -> list[tuple[str, str]]:
    """The (INSTRUCTION, arguments) of the Dockerfile's final stage, continuations joined."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") and not pending:
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    stage: list[tuple[str, str]] = []
    for line in lines:
        words = line.split(None, 1)
        if not words:
            continue
        if words[0].upper() == "FROM":
            stage = []
        stage.append((words[0].upper(), words[1].strip() if len(words) == 2 else ""))
    return stage


def check_dockerfile(path: Path, out: Checks) -> None:
    """The runtime stage: the binary as ENTRYPOINT, `serve` as CMD, both ports, no VOLUME."""
    stage = dockerfile_final_stage(path)
    problems = []
    found = {instruction: argument for instruction, argument in stage}
    if found.get("ENTRYPOINT") != '["/usr/local/bin/consentd"]':
        problems.append(f"ENTRYPOINT {found.get('ENTRYPOINT')!r}")
    if found.get("CMD") != '["serve"]':
        problems.append(f"CMD {found.get('CMD')!r}")
    if set((found.get("EXPOSE") or "").split()) != {"50051", "8080"}:
        problems.append(f"EXPOSE {found.get('EXPOSE')!r}")
    if "VOLUME" in found:
        problems.append("the image declares a VOLUME")
    # consentd builds its webhook HTTP client with the system's CA roots at
    # start; a runtime image without them cannot serve.
    copies = [argument for instruction, argument in stage if instruction == "COPY"]
    if not any(argument.endswith("/etc/ssl/certs/ca-certificates.crt") for argument in copies):
        problems.append("the runtime stage does not put a CA bundle at /etc/ssl/certs/ca-certificates.crt")
    out.problems("Dockerfile: runtime stage entrypoint, cmd, ports, CA bundle, no VOLUME", problems)


def dockerfile_user(path: Path) -> tuple[int, int]:
    """The numeric uid and gid of the final stage's USER (a stage starts as root)."""
    users = [argument for instruction, argument in dockerfile_final_stage(path) if instruction == "USER"]
    if not users:
        raise ValueError(f"{path}: the final stage has no USER")
    user = users[-1]
    match = re.fullmatch(r"(\d+)(?::(\d+))?", user)
    if not match:
        raise ValueError(f"{path}: USER {user!r} is not numeric (runAsNonRoot cannot verify a user name)")
    uid = int(match.group(1))
    gid = int(match.group(2)) if match.group(2) else uid
    return uid, gid


def parse_manifests(rendered: dict[str, str]) -> tuple[list[tuple[str, dict]], list[str]]:
    """(template, document) pairs of the rendered YAML, and parse problems."""
    docs: list[tuple[str, dict]] = []
    problems: list[str] = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt") or not text.strip():
            continue
        try:
            for doc in yaml.safe_load_all(text):
                if doc is None:
                    continue
                if not isinstance(doc, dict):
                    problems.append(f"{template}: a document is not a mapping")
                    continue
                docs.append((template, doc))
        except yaml.YAMLError as err:
            problems.append(f"{template}: {err}")
    return docs, problems


def kind_name(doc: dict) -> str:
    return f"{doc.get('kind')}/{dig(doc, 'metadata', 'name')}"


def hook_events(doc: dict) -> set[str]:
    value = dig(doc, "metadata", "annotations", "helm.sh/hook", default="") or ""
    return {event.strip() for event in value.split(",") if event.strip()}


def hook_weight(doc: dict) -> int:
    return int(dig(doc, "metadata", "annotations", "helm.sh/hook-weight", default="0") or 0)


def env_map(container: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in container.get("env") or []}


def labels_match(selector: dict, labels: dict) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    return value


# --------------------------------------------------------------------------- structural checks of CRD kinds

SERVICE_MONITOR_ENDPOINT_KEYS = {"port", "path", "scheme", "interval", "scrapeTimeout", "tlsConfig", "relabelings",
                                 "metricRelabelings", "honorLabels", "honorTimestamps", "bearerTokenSecret",
                                 "authorization", "basicAuth", "oauth2", "params", "followRedirects", "enableHttp2",
                                 "proxyUrl", "targetPort", "filterRunning", "trackTimestampsStaleness"}


def check_service_monitor(doc: dict, docs: list[dict]) -> list[str]:
    """apiVersion, kind, metadata, spec.selector and spec.endpoints, against the rendered Service."""
    problems = []
    if doc.get("apiVersion") != "monitoring.coreos.com/v1":
        problems.append(f"apiVersion {doc.get('apiVersion')!r}")
    unknown = set(doc) - {"apiVersion", "kind", "metadata", "spec"}
    if unknown:
        problems.append(f"unknown top-level fields {sorted(unknown)}")
    metadata = doc.get("metadata") or {}
    if not DNS_SUBDOMAIN.match(str(metadata.get("name", ""))):
        problems.append("metadata.name missing or invalid")
    for field in ("labels", "annotations"):
        value = metadata.get(field, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            problems.append(f"metadata.{field} must map strings to strings")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return problems + ["spec missing"]
    unknown = set(spec) - {"selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels", "podTargetLabels",
                           "sampleLimit", "attachMetadata"}
    if unknown:
        problems.append(f"unknown spec fields {sorted(unknown)}")
    selector = dig(spec, "selector", "matchLabels")
    services = [d for d in docs if d.get("kind") == "Service"]
    targets = [s for s in services if isinstance(selector, dict) and labels_match(selector, dig(s, "metadata", "labels", default={}))]
    if len(targets) != 1:
        problems.append(f"spec.selector.matchLabels selects {len(targets)} of the rendered Services (want 1)")
    names = dig(spec, "namespaceSelector", "matchNames")
    if names is not None and names != [metadata.get("namespace")]:
        problems.append(f"spec.namespaceSelector.matchNames {names} is not the release namespace")
    endpoints = spec.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        return problems + ["spec.endpoints must be a non-empty list"]
    service_ports = {p.get("name") for p in dig(targets[0], "spec", "ports", default=[])} if targets else set()
    for index, endpoint in enumerate(endpoints):
        where = f"spec.endpoints[{index}]"
        if not isinstance(endpoint, dict):
            problems.append(f"{where} is not a mapping")
            continue
        unknown = set(endpoint) - SERVICE_MONITOR_ENDPOINT_KEYS
        if unknown:
            problems.append(f"{where}: unknown fields {sorted(unknown)}")
        if endpoint.get("port") not in service_ports:
            problems.append(f"{where}.port {endpoint.get('port')!r} is not a port name of the Service")
        if endpoint.get("path") != "/metrics":
            problems.append(f"{where}.path is {endpoint.get('path')!r}, not /metrics")
        if endpoint.get("scheme", "http") not in ("http", "https"):
            problems.append(f"{where}.scheme {endpoint.get('scheme')!r}")
        for duration in ("interval", "scrapeTimeout"):
            if duration in endpoint and not re.fullmatch(r"([0-9]+(ms|s|m|h))+", str(endpoint[duration])):
                problems.append(f"{where}.{duration} {endpoint[duration]!r} is not a duration")
        for field in ("relabelings", "metricRelabelings"):
            if field in endpoint and not isinstance(endpoint[field], list):
                problems.append(f"{where}.{field} must be a list")
        if "tlsConfig" in endpoint and not isinstance(endpoint["tlsConfig"], dict):
            problems.append(f"{where}.tlsConfig must be a mapping")
    return problems


STRUCTURAL = {("monitoring.coreos.com/v1", "ServiceMonitor"): check_service_monitor}


# --------------------------------------------------------------------------- per-render checks


def effective_security(pod: dict, container: dict) -> dict:
    pod_ctx = pod.get("securityContext") or {}
    ctx = container.get("securityContext") or {}
    merged = {key: pod_ctx.get(key) for key in ("runAsNonRoot", "runAsUser", "runAsGroup", "seccompProfile")}
    merged.update({key: value for key, value in ctx.items() if value is not None})
    return merged


def workload_pod(doc: dict) -> dict:
    return dig(doc, "spec", "template", "spec", default={}) or {}


def check_workload_policies(doc: dict, uid: int, gid: int) -> list[str]:
    """The security and resource policies every workload must meet."""
    problems = []
    pod = workload_pod(doc)
    if pod.get("automountServiceAccountToken") is not False:
        problems.append("automountServiceAccountToken is not false")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            problems.append(f"{field} is set")
    pod_ctx = pod.get("securityContext") or {}
    if pod_ctx.get("fsGroup") != gid:
        problems.append(f"pod fsGroup {pod_ctx.get('fsGroup')} != Dockerfile gid {gid}")
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    containers = (pod.get("initContainers") or []) + (pod.get("containers") or [])
    if not pod.get("containers"):
        problems.append("no containers")
    for container in containers:
        name = container.get("name")
        sec = effective_security(pod, container)
        if sec.get("runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if sec.get("runAsUser") != uid:
            problems.append(f"{name}: runAsUser {sec.get('runAsUser')} != Dockerfile uid {uid}")
        if sec.get("runAsGroup") != gid:
            problems.append(f"{name}: runAsGroup {sec.get('runAsGroup')} != Dockerfile gid {gid}")
        if sec.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem is not true")
        if sec.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if sec.get("privileged"):
            problems.append(f"{name}: privileged")
        if "ALL" not in (dig(sec, "capabilities", "drop", default=[]) or []):
            problems.append(f"{name}: capabilities.drop lacks ALL")
        if dig(sec, "capabilities", "add"):
            problems.append(f"{name}: capabilities.add is set")
        if dig(sec, "seccompProfile", "type") != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile is not RuntimeDefault")
        resources = container.get("resources") or {}
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not dig(resources, kind, resource):
                    problems.append(f"{name}: resources.{kind}.{resource} not set")
        image = str(container.get("image", ""))
        if not image or image.endswith(":latest") or (":" not in image.rsplit("/", 1)[-1] and "@" not in image):
            problems.append(f"{name}: image {image!r} has no pinned tag or digest")
        mounts = {m.get("mountPath"): m for m in container.get("volumeMounts") or []}
        tmp = mounts.get("/tmp")
        if not tmp or "emptyDir" not in volumes.get(tmp.get("name"), {}):
            problems.append(f"{name}: no writable emptyDir at /tmp")
        env = env_map(container)
        if dig(env, "CONSENTD_LOG_FORMAT", "value") != "json":
            problems.append(f"{name}: CONSENTD_LOG_FORMAT is not json")
    return problems


def check_probes(deployment: dict, values: dict) -> list[str]:
    """Probes: gRPC readiness (and gRPC or /healthz liveness) without TLS; the plain health port with TLS."""
    problems = []
    container = dig(workload_pod(deployment), "containers", 0, default={})
    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
    env = env_map(container)
    probes = {kind: container.get(kind) for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    for kind, probe in probes.items():
        if not probe:
            problems.append(f"{kind} missing")
    if problems:
        return problems
    tls = "CONSENTD_TLS_CERT" in env
    if tls != bool(values["tls"]["enabled"]):
        problems.append(f"TLS env present={tls} but tls.enabled={values['tls']['enabled']}")
    if tls:
        listen = dig(env, "CONSENTD_HEALTH_LISTEN", "value", default="")
        if "health" not in ports or not listen.endswith(f":{ports['health']}"):
            problems.append(f"TLS: the health port ({ports.get('health')}) and CONSENTD_HEALTH_LISTEN ({listen!r}) disagree")
        expected = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
        for kind, path in expected.items():
            get = probes[kind].get("httpGet") or {}
            if get.get("path") != path or get.get("port") not in ("health", ports.get("health")) or "grpc" in probes[kind]:
                problems.append(f"TLS: {kind} must be httpGet {path} on the health port, is {probes[kind]}")
    else:
        readiness = probes["readinessProbe"].get("grpc") or {}
        if readiness != {"port": ports.get("grpc"), "service": "consent.v1.ConsentService"}:
            problems.append(f"readinessProbe must be gRPC consent.v1.ConsentService on {ports.get('grpc')}, is {probes['readinessProbe']}")
        for kind in ("startupProbe", "livenessProbe"):
            if values["probes"]["grpcLiveness"]:
                if (probes[kind].get("grpc") or {}) != {"port": ports.get("grpc"), "service": ""}:
                    problems.append(f"{kind} must be gRPC service \"\" (probes.grpcLiveness), is {probes[kind]}")
            else:
                get = probes[kind].get("httpGet") or {}
                if get.get("path") != "/healthz" or get.get("port") not in ("http", ports.get("http")):
                    problems.append(f"{kind} must be httpGet /healthz on the http port, is {probes[kind]}")
    grace_ms = int(dig(env, "CONSENTD_SHUTDOWN_GRACE_MS", "value", default="0"))
    pre_stop = int(dig(container, "lifecycle", "preStop", "sleep", "seconds", default=0))
    termination = dig(workload_pod(deployment), "terminationGracePeriodSeconds", default=30)
    if grace_ms != values["shutdownGraceSeconds"] * 1000:
        problems.append(f"CONSENTD_SHUTDOWN_GRACE_MS {grace_ms} != shutdownGraceSeconds*1000")
    if termination <= grace_ms / 1000 + pre_stop:
        problems.append(f"terminationGracePeriodSeconds {termination} is not above the shutdown grace {grace_ms} ms + preStop {pre_stop} s")
    return problems


def check_release(label: str, merged: dict, docs: list[dict], uid: int, gid: int, out: Checks) -> None:
    """Checks of one rendered release (values already merged with the defaults)."""
    by_kind: dict[str, list[dict]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    deployments = by_kind.get("Deployment", [])
    if not out.check(f"{label}: exactly one Deployment", len(deployments) == 1, f"found {len(deployments)}"):
        return
    deployment = deployments[0]
    pod = workload_pod(deployment)
    container = dig(pod, "containers", 0, default={})
    env = env_map(container)
    selector = dig(deployment, "spec", "selector", "matchLabels", default={})
    sqlite = merged["database"]["type"] == "sqlite"
    rendered_names = {(d["kind"], dig(d, "metadata", "name")): d for d in docs}

    for workload in [d for d in docs if d["kind"] in WORKLOADS]:
        out.problems(f"{label}: {kind_name(workload)} security/resources policy", check_workload_policies(workload, uid, gid))
    out.problems(f"{label}: Deployment probes and shutdown grace", check_probes(deployment, merged))

    # Labels and selectors.
    problems = []
    template_labels = dig(deployment, "spec", "template", "metadata", "labels", default={})
    if not labels_match(selector, template_labels):
        problems.append("the pod template's labels do not match the selector")
    for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"):
        if key not in selector:
            problems.append(f"selector lacks {key}")
    if any(key in selector for key in ("app.kubernetes.io/version", "helm.sh/chart")):
        problems.append("the selector holds a label that changes across upgrades")
    for doc in docs:
        if doc["kind"] in SELECTOR_PATHS:
            sel = dig(doc, *SELECTOR_PATHS[doc["kind"]])
            if sel != selector:
                problems.append(f"{kind_name(doc)} selector {sel} != the Deployment's {selector}")
        if doc["kind"] == "Job" and labels_match(selector, dig(doc, "spec", "template", "metadata", "labels", default={})):
            problems.append(f"{kind_name(doc)} pods match the server selector (the Service would route to them)")
        labels = dig(doc, "metadata", "labels", default={})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "helm.sh/chart"):
            if key not in labels:
                problems.append(f"{kind_name(doc)} lacks label {key}")
    annotations = dig(deployment, "spec", "template", "metadata", "annotations", default={})
    if not re.fullmatch(r"[0-9a-f]{64}", str(annotations.get("checksum/config", ""))):
        problems.append("the pod template has no checksum/config annotation")
    out.problems(f"{label}: labels, selectors and config checksum", problems)

    # Secret references resolve to a rendered Secret's key (or to a Secret the values name).
    problems = []
    external = {merged["database"]["existingSecret"], merged["auth"]["existingSecret"], merged["tls"]["secretName"],
                merged["tls"]["clientCA"]["secretName"]} - {""}
    if not merged["serviceAccount"]["create"] and merged["serviceAccount"]["name"]:
        external.add(merged["serviceAccount"]["name"])  # an existing ServiceAccount
    for workload in [d for d in docs if d["kind"] in WORKLOADS]:
        for c in workload_pod(workload).get("containers") or []:
            for entry in c.get("env") or []:
                ref = dig(entry, "valueFrom", "secretKeyRef")
                if not ref:
                    continue
                secret = rendered_names.get(("Secret", ref["name"]))
                if secret is None:
                    if ref["name"] not in external:
                        problems.append(f"{kind_name(workload)} {entry['name']}: Secret {ref['name']} is neither rendered nor named in the values")
                elif ref["key"] not in (secret.get("data") or {}) and ref["key"] not in (secret.get("stringData") or {}):
                    problems.append(f"{kind_name(workload)} {entry['name']}: Secret {ref['name']} has no key {ref['key']}")
    out.problems(f"{label}: secretKeyRefs resolve", problems)

    # The rendered consentd.toml is the `config` value.
    configmap = rendered_names.get(("ConfigMap", dig(next((v for v in pod.get("volumes") or [] if v.get("name") == "config"), {}), "configMap", "name")))
    problems = []
    if configmap is None:
        problems.append("the Deployment's config volume names no rendered ConfigMap")
    else:
        try:
            parsed = tomllib.loads(configmap["data"]["consentd.toml"])
            if parsed != without_nulls(merged.get("config") or {}):
                problems.append(f"TOML {parsed} != config {merged.get('config')}")
        except (tomllib.TOMLDecodeError, KeyError) as err:
            problems.append(f"consentd.toml does not parse: {err}")
    if dig(env, "CONSENTD_CONFIG", "value") != "/etc/consentd/config/consentd.toml":
        problems.append("CONSENTD_CONFIG does not point at the mounted file")
    out.problems(f"{label}: consentd.toml round-trips the config value", problems)

    # Database modes.
    jobs = by_kind.get("Job", [])
    hpas = by_kind.get("HorizontalPodAutoscaler", [])
    problems = []
    if sqlite:
        if dig(deployment, "spec", "replicas") != 1:
            problems.append(f"replicas {dig(deployment, 'spec', 'replicas')} != 1")
        if dig(deployment, "spec", "strategy", "type") != "Recreate":
            problems.append("strategy is not Recreate")
        if hpas:
            problems.append("an HPA is rendered")
        if jobs:
            problems.append("a migration Job is rendered (the server migrates SQLite itself)")
        if "CONSENTD_NO_MIGRATE" in env:
            problems.append("CONSENTD_NO_MIGRATE is set")
        url = dig(env, "CONSENTD_DATABASE_URL", "value", default="")
        if not url.startswith("sqlite:///var/lib/consentd/"):
            problems.append(f"CONSENTD_DATABASE_URL {url!r} is not on /var/lib/consentd")
        mount = next((m for m in container.get("volumeMounts") or [] if m.get("mountPath") == "/var/lib/consentd"), None)
        volume = next((v for v in pod.get("volumes") or [] if mount and v.get("name") == mount.get("name")), None)
        if volume is None:
            problems.append("nothing is mounted at /var/lib/consentd")
        elif merged["persistence"]["enabled"]:
            claim = dig(volume, "persistentVolumeClaim", "claimName")
            if not claim:
                problems.append("/var/lib/consentd is not a PVC")
            elif not merged["persistence"]["existingClaim"] and ("PersistentVolumeClaim", claim) not in rendered_names:
                problems.append(f"PVC {claim} is not rendered")
            elif merged["persistence"]["existingClaim"] and claim != merged["persistence"]["existingClaim"]:
                problems.append(f"PVC {claim} is not persistence.existingClaim")
        out.problems(f"{label}: sqlite mode (1 replica, Recreate, PVC, server migrates)", problems)
    else:
        if dig(env, "CONSENTD_NO_MIGRATE", "value") != "true":
            problems.append("CONSENTD_NO_MIGRATE is not \"true\" on the Deployment")
        if not dig(env, "CONSENTD_DATABASE_URL", "valueFrom", "secretKeyRef"):
            problems.append("CONSENTD_DATABASE_URL does not come from a Secret")
        standbys = merged["database"].get("readUrls") or []
        standbys_ref = dig(env, "CONSENTD_READ_DATABASE_URLS", "valueFrom", "secretKeyRef")
        if standbys and not standbys_ref:
            problems.append("database.readUrls are set but CONSENTD_READ_DATABASE_URLS does not come from a Secret")
        if standbys_ref and not merged["database"].get("existingSecretReadUrlsKey"):
            secret = rendered_names.get(("Secret", standbys_ref["name"]))
            stored = base64.b64decode(dig(secret, "data", standbys_ref["key"], default="")).decode()
            if stored.split(",") != standbys:
                problems.append(f"the Secret's standby URLs {stored!r} are not database.readUrls")
        if not standbys and "CONSENTD_READ_DATABASE_URLS" in env:
            problems.append("CONSENTD_READ_DATABASE_URLS is set without database.readUrls")
        migrations = [j for j in jobs if {"pre-install", "pre-upgrade"} <= hook_events(j)]
        if len(migrations) != 1:
            problems.append(f"{len(migrations)} pre-install,pre-upgrade Jobs (want 1)")
        for job in migrations:
            problems += check_migration_hook(job, docs, rendered_names, external)
        if merged["autoscaling"]["enabled"]:
            if len(hpas) != 1:
                problems.append(f"{len(hpas)} HPAs with autoscaling.enabled")
            elif dig(hpas[0], "spec", "scaleTargetRef", "name") != dig(deployment, "metadata", "name"):
                problems.append("the HPA does not target the Deployment")
            if "replicas" in deployment["spec"]:
                problems.append("the Deployment sets replicas although the HPA owns them")
        elif dig(deployment, "spec", "replicas") != merged["replicaCount"]:
            problems.append("replicas != replicaCount")
        out.problems(f"{label}: postgresql mode (migration hook, CONSENTD_NO_MIGRATE)", problems)

    # The PodDisruptionBudget never blocks a drain of a single replica.
    pdbs = by_kind.get("PodDisruptionBudget", [])
    problems = []
    if merged["podDisruptionBudget"]["enabled"] and len(pdbs) != 1:
        problems.append(f"{len(pdbs)} PDBs although enabled")
    for pdb in pdbs:
        spec = pdb["spec"]
        if merged["autoscaling"]["enabled"] and not sqlite:
            least = merged["autoscaling"]["minReplicas"]
        else:
            least = dig(deployment, "spec", "replicas", default=1)
        if "minAvailable" in spec and (not isinstance(spec["minAvailable"], int) or spec["minAvailable"] >= least):
            problems.append(f"minAvailable {spec['minAvailable']} with as few as {least} replicas blocks drains")
        if "maxUnavailable" in spec and spec["maxUnavailable"] in (0, "0", "0%"):
            problems.append("maxUnavailable 0 blocks drains")
        if least > 1 and spec.get("minAvailable") != 1:
            problems.append("several replicas but minAvailable is not 1")
    out.problems(f"{label}: PodDisruptionBudget shape", problems)


def check_migration_hook(job: dict, docs: list[dict], rendered: dict, external: set[str]) -> list[str]:
    """The Job: consentd migrate, bounded, cleaned up, and everything it uses exists before it runs."""
    problems = []
    annotations = dig(job, "metadata", "annotations", default={})
    policies = set((annotations.get("helm.sh/hook-delete-policy") or "").split(","))
    if not {"before-hook-creation", "hook-succeeded"} <= policies:
        problems.append(f"delete policy {annotations.get('helm.sh/hook-delete-policy')!r}")
    if "helm.sh/hook-weight" not in annotations:
        problems.append("no hook-weight")
    spec = job.get("spec") or {}
    for field in ("backoffLimit", "activeDeadlineSeconds"):
        if not isinstance(spec.get(field), int):
            problems.append(f"spec.{field} not set")
    pod = workload_pod(job)
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        problems.append("restartPolicy")
    container = dig(pod, "containers", 0, default={})
    if container.get("args") != ["migrate"]:
        problems.append(f"args {container.get('args')} != ['migrate']")
    if not dig(env_map(container), "CONSENTD_DATABASE_URL", "valueFrom", "secretKeyRef"):
        problems.append("the Job's CONSENTD_DATABASE_URL does not come from a Secret")
    # Everything the Job uses must exist when a pre-install hook runs: a hook of the
    # same events with a lower weight, or an object the values name (existing).
    needed: list[tuple[str, str]] = []
    account = pod.get("serviceAccountName")
    if account and account != "default":
        needed.append(("ServiceAccount", account))
    for volume in pod.get("volumes") or []:
        if "configMap" in volume:
            needed.append(("ConfigMap", volume["configMap"]["name"]))
        if "secret" in volume:
            needed.append(("Secret", volume["secret"]["secretName"]))
    for c in pod.get("containers") or []:
        for entry in c.get("env") or []:
            for kind, ref in (("Secret", dig(entry, "valueFrom", "secretKeyRef")), ("ConfigMap", dig(entry, "valueFrom", "configMapKeyRef"))):
                if ref:
                    needed.append((kind, ref["name"]))
    for kind, name in needed:
        doc = rendered.get((kind, name))
        if doc is None:
            if name not in external:
                problems.append(f"the Job uses {kind}/{name}, which is neither rendered nor named in the values")
            continue
        if not {"pre-install", "pre-upgrade"} <= hook_events(doc):
            problems.append(f"the Job uses {kind}/{name}, which is not a pre-install,pre-upgrade hook (it does not exist yet on a first install)")
        elif hook_weight(doc) >= hook_weight(job):
            problems.append(f"{kind}/{name} has hook-weight {hook_weight(doc)}, not below the Job's {hook_weight(job)}")
    return problems


# --------------------------------------------------------------------------- documentation


def check_documentation(chart_dir: Path, out: Checks) -> None:
    """Every value has a comment in values.yaml and a row in README.md."""
    text = (chart_dir / "values.yaml").read_text()
    values = yaml.safe_load(text) or {}
    undocumented: list[str] = []
    stack: list[tuple[int, str]] = []
    previous = ""
    for line in text.splitlines():
        match = re.match(r"^(\s*)([A-Za-z0-9_]+):", line)
        if match:
            indent, key = len(match.group(1)), match.group(2)
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, key))
            node = dig(values, *[k for _, k in stack])
            is_section = isinstance(node, dict) and bool(node) and [k for _, k in stack] != ["resources"]
            if not is_section and not previous.lstrip().startswith("#") and not any(k == "resources" for _, k in stack[:-1]):
                undocumented.append(".".join(k for _, k in stack))
        if line.strip():
            previous = line
    out.problems("values.yaml: a comment on every value", [f"{path} has no comment" for path in undocumented])

    readme = (chart_dir / "README.md").read_text()
    listed = set(re.findall(r"^\| `([A-Za-z0-9_.]+)` \|", readme, re.MULTILINE))
    missing = []

    def walk(node: Any, path: list[str]) -> None:
        if isinstance(node, dict) and node and ".".join(path) not in listed:
            for key, value in node.items():
                walk(value, path + [key])
        elif ".".join(path) not in listed:
            missing.append(".".join(path))

    walk(values, [])
    out.problems("README.md: a row for every value", [f"{path} is not listed" for path in missing])


# --------------------------------------------------------------------------- the run


def validate_documents(label: str, docs: list[dict], kube_version: str, out: Checks) -> None:
    for doc in docs:
        name = f"{label}: {kind_name(doc)} validates against Kubernetes {kube_version} (strict)"
        problems = []
        metadata = doc.get("metadata") or {}
        if doc.get("kind") not in CLUSTER_SCOPED and metadata.get("namespace") != NAMESPACE:
            problems.append(f"namespace {metadata.get('namespace')!r}, not the release namespace {NAMESPACE!r}")
        pattern = DNS_LABEL if doc.get("kind") in ("Service", "Namespace") else DNS_SUBDOMAIN
        if not pattern.match(str(metadata.get("name", ""))) or len(str(metadata.get("name", ""))) > 63:
            problems.append(f"name {metadata.get('name')!r} is not a valid object name")
        for key, value in (metadata.get("labels") or {}).items():
            if not isinstance(value, str) or len(value) > 63:
                problems.append(f"label {key}={value!r} is not a string of at most 63 characters")
        structural = STRUCTURAL.get((doc.get("apiVersion"), doc.get("kind")))
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.ValidationError as err:
            path = ".".join(str(part) for part in err.path)
            problems.append(f"{path}: {err.message}")
        except kubernetes_validate.SchemaNotFoundError as err:
            if structural is None:
                problems.append(f"no schema and no structural check: {err.message}")
            else:
                name = f"{label}: {kind_name(doc)} structural check (no schema for this CRD in kubernetes-validate)"
                problems += structural(doc, docs)
        out.problems(name, problems)


def render(chart: helm.Chart, values: dict, *, name: str = RELEASE, upgrade: bool = False) -> dict[str, str]:
    return chart.render(values, name=name, namespace=NAMESPACE, is_install=not upgrade, is_upgrade=upgrade)


# Paths of the templates that neither the defaults nor ci/*.yaml take.
EXTRA_SETS = [
    ("extra: postgresql, existing Secrets and ServiceAccount, gRPC liveness", {
        "database": {"type": "postgresql", "existingSecret": "consentd-db", "existingSecretKey": "url"},
        "auth": {"existingSecret": "consentd-keys"},
        "serviceAccount": {"create": False, "name": "consentd-runtime"},
        "probes": {"grpcLiveness": True},
        "podDisruptionBudget": {"enabled": True},
        "networkPolicy": {"enabled": True, "egress": {"restrict": True, "webhooks": {"ports": []}}},
        "preStopSleepSeconds": 0,
        "image": {"digest": "sha256:" + "ab" * 32},
    }),
    ("extra: sqlite, existing claim, TLS with a separate client CA, auth disabled", {
        "persistence": {"existingClaim": "consentd-data"},
        "auth": {"mode": "disabled"},
        "tls": {"enabled": True, "secretName": "consentd-tls", "clientCA": {"enabled": True, "secretName": "clients-ca"}},
        "podAntiAffinityPreset": "hard",
        "service": {"type": "LoadBalancer"},
    }),
    ("extra: sqlite without persistence", {"persistence": {"enabled": False}, "podDisruptionBudget": {"enabled": False}}),
]


def value_sets(chart_dir: Path) -> list[tuple[str, dict]]:
    sets = [("defaults", {})]
    for path in sorted((chart_dir / "ci").glob("*.yaml")):
        sets.append((f"ci/{path.name}", yaml.safe_load(path.read_text()) or {}))
    return sets + EXTRA_SETS


def expect_refused(out: Checks, name: str, action: Callable[[], Any], must_mention: str) -> None:
    try:
        action()
    except helm.HelmError as err:
        message = str(err)
        out.check(name, must_mention.lower() in message.lower(), f"refused, but the message does not mention {must_mention!r}: {message}")
        return
    out.check(name, False, "accepted")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chart", default=str(Path(__file__).resolve().parent.parent / "consentd"), help="chart directory")
    parser.add_argument("--kube-version", default="1.33", help="Kubernetes version to validate against (major.minor)")
    parser.add_argument("--dockerfile", default=None, help="the image's Dockerfile (default: the repository's, two levels above the chart)")
    args = parser.parse_args()

    chart_dir = Path(args.chart).resolve()
    dockerfile = Path(args.dockerfile) if args.dockerfile else chart_dir.parent.parent / "Dockerfile"
    out = Checks()
    kube = args.kube_version.lstrip("v")
    helm.disable_logging()

    supported = sorted({".".join(v.split(".")[:2]) for v in kubernetes_validate.utils.all_versions()},
                       key=lambda v: tuple(int(part) for part in v.split(".")))
    if not out.check(f"kubernetes-validate has schemas for {kube}", kube in supported, f"it has {', '.join(supported)}"):
        print(f"{out.passed} passed, {len(out.failed)} failed")
        return 2

    try:
        uid, gid = dockerfile_user(dockerfile)
        out.check(f"Dockerfile USER is numeric and non-root ({uid}:{gid})", uid != 0 and gid != 0, "USER is root")
    except (OSError, ValueError) as err:
        out.check("Dockerfile USER", False, str(err))
        uid, gid = -1, -1

    if dockerfile.is_file():
        check_dockerfile(dockerfile, out)
    chart = helm.Chart.load(chart_dir)
    check_documentation(chart_dir, out)
    out.check("Chart.yaml: apiVersion v2 with an appVersion", chart.metadata.get("apiVersion") == "v2" and bool(chart.metadata.get("appVersion")))

    for label, values in value_sets(chart_dir):
        report = helm.lint(chart_dir, values, strict=True, namespace=NAMESPACE, kube_version=f"v{kube}.0")
        findings = [f"[{m['severity']}] {m['path']}: {m['error']}" for m in report.get("messages", []) if m.get("severity", 0) >= 2]
        out.check(f"{label}: helm lint --strict", not findings and not report.get("errors"), "; ".join(findings + report.get("errors", [])))

        merged = chart.merge_values(values)
        for upgrade in (False, True):
            mode = "upgrade" if upgrade else "install"
            try:
                rendered = render(chart, values, upgrade=upgrade)
            except helm.HelmError as err:
                out.check(f"{label}: renders ({mode})", False, str(err))
                continue
            docs, problems = parse_manifests(rendered)
            out.problems(f"{label}: renders ({mode}) into {len(docs)} parseable documents", problems + ([] if docs else ["nothing rendered"]))
            if upgrade:
                continue  # the same objects; validated once, from the install render
            validate_documents(label, [doc for _, doc in docs], kube, out)
            check_release(label, merged, [doc for _, doc in docs], uid, gid, out)

        # The longest release name still gives valid object names.
        try:
            docs, problems = parse_manifests(render(chart, values, name=LONG_RELEASE))
            bad = [kind_name(d) for _, d in docs if len(str(dig(d, "metadata", "name", default=""))) > 63
                   or not DNS_SUBDOMAIN.match(str(dig(d, "metadata", "name", default="")))]
            out.problems(f"{label}: object names valid with a 53-character release name", problems + bad)
        except helm.HelmError as err:
            out.check(f"{label}: renders with a 53-character release name", False, str(err))

    # Selectors never change across upgrades (a Deployment's selector is immutable).
    try:
        def selectors(values: dict) -> dict[str, Any]:
            docs, _ = parse_manifests(render(chart, values))
            return {kind_name(d): dig(d, *SELECTOR_PATHS[d["kind"]]) for _, d in docs if d["kind"] in SELECTOR_PATHS}
        before = selectors({"serviceMonitor": {"enabled": True}, "networkPolicy": {"enabled": True}})
        after = selectors({"serviceMonitor": {"enabled": True}, "networkPolicy": {"enabled": True}, "image": {"tag": "9.9.9"},
                           "podLabels": {"team": "x"}, "config": {"store": {"max_connections": 3}}, "nameOverride": ""})
        out.check("selectors are unchanged by a new image tag, pod labels and config", before == after, f"{before} != {after}")
    except helm.HelmError as err:
        out.check("selectors are unchanged by a new image tag, pod labels and config", False, str(err))

    # Values the schema must refuse.
    refused_by_schema = [
        ("replicaCount: \"two\"", {"replicaCount": "two"}, "replicaCount"),
        ("an unknown top-level key", {"replicaCounts": 1}, "replicaCounts"),
        ("database.type: mysql", {"database": {"type": "mysql"}}, "database/type"),
        ("sqlite with replicaCount: 2", {"database": {"type": "sqlite"}, "replicaCount": 2}, "replicaCount"),
        ("sqlite with autoscaling enabled", {"database": {"type": "sqlite"}, "autoscaling": {"enabled": True}}, "autoscaling"),
        ("auth.mode: optional", {"auth": {"mode": "optional"}}, "auth/mode"),
        ("image.pullPolicy: Sometimes", {"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
        ("an unknown consentd.toml key (config.store.max_conns)", {"config": {"store": {"max_conns": 4}}}, "max_conns"),
        ("a negative shutdownGraceSeconds", {"shutdownGraceSeconds": -1}, "shutdownGraceSeconds"),
        # consentd refuses a zero grace period (exit 2): the pod would crash-loop.
        ("shutdownGraceSeconds: 0", {"shutdownGraceSeconds": 0}, "shutdownGraceSeconds"),
    ]
    for name, values, mention in refused_by_schema:
        expect_refused(out, f"schema refuses {name}", lambda v=values: chart.validate_schema(v), mention)
        expect_refused(out, f"render refuses {name}", lambda v=values: render(chart, v), mention)
    out.check("schema accepts postgresql with 3 replicas and autoscaling",
              _accepts(chart, {"database": {"type": "postgresql", "url": "postgres://u:p@db:5432/c"}, "replicaCount": 3, "autoscaling": {"enabled": True}}))

    # The templates' own guards (what the schema cannot say, and what it says, should it be skipped).
    expect_refused(out, "templates refuse postgresql without a database URL",
                   lambda: render(chart, {"database": {"type": "postgresql"}}), "needs the database URL")
    expect_refused(out, "templates refuse both database.url and database.existingSecret",
                   lambda: render(chart, {"database": {"type": "postgresql", "url": "postgres://u:p@db/c", "existingSecret": "s"}}), "not both")
    expect_refused(out, "templates refuse read standbys on sqlite",
                   lambda: render(chart, {"database": {"type": "sqlite", "readUrls": ["postgres://u@standby/c"]}}), "postgresql")
    expect_refused(out, "templates refuse both database.readUrls and database.existingSecretReadUrlsKey",
                   lambda: render(chart, {"database": {"type": "postgresql", "existingSecret": "s", "readUrls": ["postgres://u@standby/c"],
                                                       "existingSecretReadUrlsKey": "read-urls"}}), "not both")
    expect_refused(out, "templates refuse tls.enabled without tls.secretName",
                   lambda: render(chart, {"tls": {"enabled": True}}), "tls.secretName")
    expect_refused(out, "templates refuse an extraEnv that repeats a chart variable",
                   lambda: render(chart, {"extraEnv": [{"name": "CONSENTD_AUTH", "value": "disabled"}]}), "CONSENTD_AUTH")
    with tempfile.TemporaryDirectory() as scratch:
        unschema = Path(scratch) / chart_dir.name
        shutil.copytree(chart_dir, unschema)
        (unschema / "values.schema.json").unlink()
        bare = helm.Chart.load(unschema)
        expect_refused(out, "templates refuse sqlite with replicaCount 2 (schema removed)",
                       lambda: bare.render({"replicaCount": 2}, name=RELEASE, namespace=NAMESPACE), "exactly one replica")
        expect_refused(out, "templates refuse sqlite with autoscaling (schema removed)",
                       lambda: bare.render({"autoscaling": {"enabled": True}}, name=RELEASE, namespace=NAMESPACE), "cannot autoscale")

        # The TOML renderer itself (schema-less copy: nulls, empty strings and deeper tables are its business).
        awkward = {"webhooks": {"allowed_urls": ["https://a.example/\"quoted\"", "back\\slash", "tab\there", "line\nbreak",
                                                 "<html>&amp;", "unicode é ✓ 𝄞", ""],
                                "max_attempts": 0, "log_retention_hours": 10**12, "lease_ms": None},
                   "store": {"max_connections": 1, "nested": {"deeper": {"flag": True, "ratio": 0.25}}}, "limits": {},
                   "top_level": "root key before any table"}
        try:
            docs, _ = parse_manifests(bare.render({"config": awkward}, name=RELEASE, namespace=NAMESPACE))
            text = next(d for _, d in docs if d["kind"] == "ConfigMap" and "helm.sh/hook" not in (dig(d, "metadata", "annotations") or {}))["data"]["consentd.toml"]
            parsed = tomllib.loads(text)
            expected = without_nulls(copy.deepcopy(awkward))
            expected.pop("limits")  # an empty table writes nothing
            out.check("TOML renderer round-trips escapes, unicode, large integers, nested tables and nulls", parsed == expected, f"{parsed} != {expected}")
        except (helm.HelmError, tomllib.TOMLDecodeError, StopIteration, KeyError) as err:
            out.check("TOML renderer round-trips escapes, unicode, large integers, nested tables and nulls", False, str(err))

    print(f"{out.passed} passed, {len(out.failed)} failed")
    if out.failed:
        print("failed checks:", file=sys.stderr)
        for name in out.failed:
            print(f"  {name}", file=sys.stderr)
        return 1
    return 0


def _accepts(chart: helm.Chart, values: dict) -> bool:
    try:
        chart.validate_schema(values)
        return True
    except helm.HelmError:
        return False


if __name__ == "__main__":
    sys.exit(main())
