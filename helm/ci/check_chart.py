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
  * the rendered consentd.toml parsed back (tomllib) and compared with `config`;
  * the Grafana dashboard ConfigMap and the PrometheusRule (both optional): the
    dashboard's panels and variables, the rules' shape, every PromQL
    expression parsed (promql-parser), the thresholds and durations the values
    set.
Then values that must be refused are refused (by the schema, and by the
templates' own guards), and a TOML renderer round trip of awkward strings.

One line per check; exit status 1 when any check failed.

--metric-names prints instead, one a line, every series the dashboard and the
alerts read (rendered with both on): the test suite checks consentd exports
each one (services/consentd/tests/it/chart.rs).

Usage: python helm/ci/check_chart.py [--chart helm/consentd] [--kube-version 1.33] [--metric-names]
Needs the PyPI packages helm-python-sdk, kubernetes-validate, promql-parser and
PyYAML (helm/ci/requirements.txt).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import helm_python as helm
import kubernetes_validate

# The checks themselves are in the sibling modules, importable because Python
# puts this script's directory on sys.path: chart_common (shared helpers),
# chart_sources (Dockerfile, documentation), chart_manifests (schema
# validation), chart_release (per-release checks), chart_render (value sets)
# and chart_refusals (values that must be refused, the TOML round trip).
from chart_common import Checks, parse_manifests, render
from chart_monitoring import check_the_checks, series_read
from chart_refusals import check_schema_refusals, check_schemaless_copy, check_template_guards
from chart_render import Run, check_selectors_stable, check_value_set, value_sets
from chart_sources import check_documentation, check_image


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chart", default=str(Path(__file__).resolve().parent.parent / "consentd"), help="chart directory")
    parser.add_argument("--kube-version", default="1.33", help="Kubernetes version to validate against (major.minor)")
    parser.add_argument("--dockerfile", default=None, help="the image's Dockerfile (default: the repository's, two levels above the chart)")
    parser.add_argument("--metric-names", action="store_true", help="print the series the dashboard and the alerts read, and nothing else")
    return parser.parse_args()


def print_metric_names(chart_dir: Path) -> int:
    """The series the dashboard and the alerts read, rendered with both on and the defaults otherwise."""
    chart = helm.Chart.load(chart_dir)
    values = {"grafanaDashboard": {"enabled": True}, "prometheusRule": {"enabled": True}}
    docs, problems = parse_manifests(render(chart, values))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    for name in sorted(series_read([doc for _, doc in docs], chart.merge_values(values))):
        print(name)
    return 0


def check_kube_version(kube: str, out: Checks) -> bool:
    """kubernetes-validate has the schemas of the version asked for (nothing else can be checked without them)."""
    supported = sorted({".".join(v.split(".")[:2]) for v in kubernetes_validate.utils.all_versions()},
                       key=lambda v: tuple(int(part) for part in v.split(".")))
    return out.check(f"kubernetes-validate has schemas for {kube}", kube in supported, f"it has {', '.join(supported)}")


def main() -> int:
    args = parse_args()
    chart_dir = Path(args.chart).resolve()
    dockerfile = Path(args.dockerfile) if args.dockerfile else chart_dir.parent.parent / "Dockerfile"
    helm.disable_logging()
    if args.metric_names:
        return print_metric_names(chart_dir)
    out = Checks()
    kube = args.kube_version.lstrip("v")

    if not check_kube_version(kube, out):
        print(f"{out.passed} passed, {len(out.failed)} failed")
        return 2

    uid, gid = check_image(dockerfile, out)
    chart = helm.Chart.load(chart_dir)
    check_documentation(chart_dir, out)
    out.check("Chart.yaml: apiVersion v2 with an appVersion", chart.metadata.get("apiVersion") == "v2" and bool(chart.metadata.get("appVersion")))

    run = Run(chart=chart, chart_dir=chart_dir, kube=kube, uid=uid, gid=gid, out=out)
    for label, values in value_sets(chart_dir):
        check_value_set(run, label, values)
    check_selectors_stable(chart, out)
    check_schema_refusals(chart, out)
    check_template_guards(chart, out)
    check_schemaless_copy(chart_dir, out)
    check_the_checks(chart_dir, out)
    return summary(out)


def summary(out: Checks) -> int:
    """The totals, and the failed checks' names again on stderr; the exit status."""
    print(f"{out.passed} passed, {len(out.failed)} failed")
    if out.failed:
        print("failed checks:", file=sys.stderr)
        for name in out.failed:
            print(f"  {name}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
