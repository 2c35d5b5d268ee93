"""What every part of the chart check shares: the release's name and namespace,
the object-name patterns, the Checks tally, reading rendered manifests, and
small lookups into them."""

from __future__ import annotations

import re
from typing import Any

import helm_python as helm
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


def render(chart: helm.Chart, values: dict, *, name: str = RELEASE, upgrade: bool = False) -> dict[str, str]:
    return chart.render(values, name=name, namespace=NAMESPACE, is_install=not upgrade, is_upgrade=upgrade)


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


def workload_pod(doc: dict) -> dict:
    return dig(doc, "spec", "template", "spec", default={}) or {}
