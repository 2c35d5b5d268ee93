"""Each rendered document on its own: strict validation against the Kubernetes
schemas, the namespace and object-name rules, and the structural check of a
kind with no schema there (the ServiceMonitor and PrometheusRule CRDs), which
is never skipped."""

from __future__ import annotations

import re

import kubernetes_validate

from chart_common import CLUSTER_SCOPED, DNS_LABEL, DNS_SUBDOMAIN, NAMESPACE, Checks, dig, kind_name, labels_match
from chart_monitoring import check_prometheus_rule

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


STRUCTURAL = {("monitoring.coreos.com/v1", "ServiceMonitor"): check_service_monitor,
              ("monitoring.coreos.com/v1", "PrometheusRule"): check_prometheus_rule}


# --------------------------------------------------------------------------- schema validation


def validate_documents(label: str, docs: list[dict], kube_version: str, out: Checks,
                       elsewhere: dict[str, str] | None = None) -> None:
    """Every document; `elsewhere` names those the values put in another namespace than the release's."""
    for doc in docs:
        name = f"{label}: {kind_name(doc)} validates against Kubernetes {kube_version} (strict)"
        problems = []
        metadata = doc.get("metadata") or {}
        namespace = (elsewhere or {}).get(kind_name(doc), NAMESPACE)
        if doc.get("kind") not in CLUSTER_SCOPED and metadata.get("namespace") != namespace:
            problems.append(f"namespace {metadata.get('namespace')!r}, not {namespace!r}")
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
