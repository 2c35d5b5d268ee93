"""Each value set of the chart (the defaults, ci/*.yaml and a few more) linted,
rendered as an install and as an upgrade, every document validated and the
release checked; object names with the longest release name; and the
selectors' stability across upgrades."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from chart_common import (DNS_SUBDOMAIN, LONG_RELEASE, NAMESPACE, SELECTOR_PATHS, Checks, dig, kind_name,
                          parse_manifests, render)
from chart_manifests import validate_documents
from chart_monitoring import check_monitoring, expected_namespaces
from chart_release import check_release

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
    ("extra: alerts with a selector of their own, no dashboard", {
        "prometheusRule": {"enabled": True, "selector": 'namespace="consent", service="consentd"'},
    }),
    ("extra: a PrometheusRule with every alert off", {
        "prometheusRule": {"enabled": True, **{alert: {"enabled": False} for alert in
                                               ("errorRate", "latency", "feedLag", "parkedWebhooks", "podNotReady")}},
    }),
]


def value_sets(chart_dir: Path) -> list[tuple[str, dict]]:
    sets = [("defaults", {})]
    for path in sorted((chart_dir / "ci").glob("*.yaml")):
        sets.append((f"ci/{path.name}", yaml.safe_load(path.read_text()) or {}))
    return sets + EXTRA_SETS


@dataclass
class Run:
    """What every value set is checked with: the chart, the Kubernetes version, the image's user, the tally."""

    chart: helm.Chart
    chart_dir: Path
    kube: str  # major.minor
    uid: int
    gid: int
    out: Checks


def check_value_set(run: Run, label: str, values: dict) -> None:
    """Lint, the install and upgrade renders, and the longest release name, for one value set."""
    lint_value_set(run, label, values)
    merged = run.chart.merge_values(values)
    for upgrade in (False, True):
        check_render(run, label, values, merged, upgrade)
    check_long_release(run, label, values)


def lint_value_set(run: Run, label: str, values: dict) -> None:
    report = helm.lint(run.chart_dir, values, strict=True, namespace=NAMESPACE, kube_version=f"v{run.kube}.0")
    findings = [f"[{m['severity']}] {m['path']}: {m['error']}" for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    run.out.check(f"{label}: helm lint --strict", not findings and not report.get("errors"), "; ".join(findings + report.get("errors", [])))


def check_render(run: Run, label: str, values: dict, merged: dict, upgrade: bool) -> None:
    """One render parses; the install render is also validated and checked as a release."""
    out = run.out
    mode = "upgrade" if upgrade else "install"
    try:
        rendered = render(run.chart, values, upgrade=upgrade)
    except helm.HelmError as err:
        out.check(f"{label}: renders ({mode})", False, str(err))
        return
    docs, problems = parse_manifests(rendered)
    out.problems(f"{label}: renders ({mode}) into {len(docs)} parseable documents", problems + ([] if docs else ["nothing rendered"]))
    if upgrade:
        return  # the same objects; validated once, from the install render
    documents = [doc for _, doc in docs]
    validate_documents(label, documents, run.kube, out, expected_namespaces(merged, documents))
    check_release(label, merged, documents, run.uid, run.gid, out)
    check_monitoring(label, merged, documents, out)


def check_long_release(run: Run, label: str, values: dict) -> None:
    """The longest release name still gives valid object names."""
    try:
        docs, problems = parse_manifests(render(run.chart, values, name=LONG_RELEASE))
        bad = [kind_name(d) for _, d in docs if len(str(dig(d, "metadata", "name", default=""))) > 63
               or not DNS_SUBDOMAIN.match(str(dig(d, "metadata", "name", default="")))]
        run.out.problems(f"{label}: object names valid with a 53-character release name", problems + bad)
    except helm.HelmError as err:
        run.out.check(f"{label}: renders with a 53-character release name", False, str(err))


def check_selectors_stable(chart: helm.Chart, out: Checks) -> None:
    """Selectors never change across upgrades (a Deployment's selector is immutable)."""
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
