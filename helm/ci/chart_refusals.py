"""Values the chart must refuse, by its schema and by the templates' own guards
(also on a copy with the schema removed, where only the guards stand); and
the TOML renderer's round trip of awkward values on that schema-less copy."""

from __future__ import annotations

import copy
import shutil
import tempfile
import tomllib
from pathlib import Path
from typing import Any, Callable

import helm_python as helm

from chart_common import NAMESPACE, RELEASE, Checks, dig, parse_manifests, render, without_nulls

# Values the schema must refuse: (what, values, what the message must mention).
REFUSED_BY_SCHEMA = [
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
    ("an error-rate threshold above 1", {"prometheusRule": {"errorRate": {"threshold": 5}}}, "threshold"),
    ("an alert's for that is no Prometheus duration", {"prometheusRule": {"latency": {"for": "ten minutes"}}}, "latency"),
    ("an unknown grafanaDashboard key", {"grafanaDashboard": {"folder": "Privacy"}}, "folder"),
]


def expect_refused(out: Checks, name: str, action: Callable[[], Any], must_mention: str) -> None:
    try:
        action()
    except helm.HelmError as err:
        message = str(err)
        out.check(name, must_mention.lower() in message.lower(), f"refused, but the message does not mention {must_mention!r}: {message}")
        return
    out.check(name, False, "accepted")


def _accepts(chart: helm.Chart, values: dict) -> bool:
    try:
        chart.validate_schema(values)
        return True
    except helm.HelmError:
        return False


def check_schema_refusals(chart: helm.Chart, out: Checks) -> None:
    """Values the schema must refuse, refused by the schema and by a render; and one it must accept."""
    for name, values, mention in REFUSED_BY_SCHEMA:
        expect_refused(out, f"schema refuses {name}", lambda v=values: chart.validate_schema(v), mention)
        expect_refused(out, f"render refuses {name}", lambda v=values: render(chart, v), mention)
    out.check("schema accepts postgresql with 3 replicas and autoscaling",
              _accepts(chart, {"database": {"type": "postgresql", "url": "postgres://u:p@db:5432/c"}, "replicaCount": 3, "autoscaling": {"enabled": True}}))


def check_template_guards(chart: helm.Chart, out: Checks) -> None:
    """The templates' own guards (what the schema cannot say, and what it says, should it be skipped)."""
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


def check_schemaless_copy(chart_dir: Path, out: Checks) -> None:
    """On a copy of the chart without values.schema.json: the templates' guards, and the TOML renderer."""
    with tempfile.TemporaryDirectory() as scratch:
        unschema = Path(scratch) / chart_dir.name
        shutil.copytree(chart_dir, unschema)
        (unschema / "values.schema.json").unlink()
        bare = helm.Chart.load(unschema)
        expect_refused(out, "templates refuse sqlite with replicaCount 2 (schema removed)",
                       lambda: bare.render({"replicaCount": 2}, name=RELEASE, namespace=NAMESPACE), "exactly one replica")
        expect_refused(out, "templates refuse sqlite with autoscaling (schema removed)",
                       lambda: bare.render({"autoscaling": {"enabled": True}}, name=RELEASE, namespace=NAMESPACE), "cannot autoscale")
        check_toml_renderer(bare, out)


def check_toml_renderer(bare: helm.Chart, out: Checks) -> None:
    """The TOML renderer itself (schema-less copy: nulls, empty strings and deeper tables are its business)."""
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
