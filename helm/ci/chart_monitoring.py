"""The chart's dashboard and alerts: the dashboard ConfigMap as Grafana's sidecar
finds it, and the dashboard in it (every panel with a data source and queries
scoped by the dashboard's variables); the PrometheusRule's shape, checked here
because kubernetes-validate has no schema for the CRD; every PromQL expression
of both parsed by promql-parser (the Rust port of Prometheus's own parser);
the values reflected in what renders; and the series both read, which
`check_chart.py --metric-names` lists for the test that proves consentd
exports each (services/consentd/tests/it/chart.rs)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import promql_parser

from chart_common import DNS_SUBDOMAIN, NAMESPACE, Checks, dig, kind_name

# Grafana's interval macros, replaced by a plain duration before parsing.
GRAFANA_MACROS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
# A dashboard variable's query: label_values(SELECTOR, label).
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*[A-Za-z_][A-Za-z0-9_]*\)$")
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
GROUP_KEYS = {"name", "interval", "rules", "limit", "labels", "query_offset", "partial_response_strategy"}
# The chart's alerts and the values that switch and tune each.
ALERTS = {"errorRate": "ConsentdHighErrorRate", "latency": "ConsentdHighLatency", "feedLag": "ConsentdFeedLag",
          "parkedWebhooks": "ConsentdWebhooksParked", "podNotReady": "ConsentdPodNotReady"}
# What each alert's expression is compared with: `EXPR > threshold`.
THRESHOLDS = {"errorRate": "threshold", "latency": "thresholdSeconds", "feedLag": "thresholdSeconds"}


# --------------------------------------------------------------------------- PromQL


def parse_promql(expr: str) -> tuple[Any, str | None]:
    """The expression's syntax tree (Grafana's macros replaced), or the parser's complaint."""
    for macro, duration in GRAFANA_MACROS.items():
        expr = expr.replace(macro, duration)
    try:
        return promql_parser.parse(expr), None
    except ValueError as err:
        return None, str(err)


def selectors(tree: Any) -> list[Any]:
    """Every vector selector in the tree (inside range vectors, calls and aggregations too)."""
    found: list[Any] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        return True

    promql_parser.walk(tree, visit, None)
    return found


def series_name(selector: Any) -> str | None:
    if selector.name:
        return selector.name
    return next((m.value for m in selector.matchers.matchers if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal), None)


def matcher(selector: Any, label: str) -> tuple[Any, str] | None:
    """The (operator, value) a selector requires of a label, if any."""
    return next(((m.op, m.value) for m in selector.matchers.matchers if m.name == label), None)


def is_above(tree: Any) -> bool:
    """Whether the expression is a filter `EXPR > NUMBER` (not `> bool`, which would always return a sample)."""
    return (isinstance(tree, promql_parser.BinaryExpr) and str(tree.op) == ">"
            and isinstance(tree.rhs, promql_parser.NumberLiteral) and not (tree.modifier and tree.modifier.return_bool))


def valid_duration(text: Any) -> bool:
    try:
        promql_parser.parse_duration(str(text))
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------- the dashboard


def dashboard_queries(dashboard: dict) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and every label_values variable."""
    queries = []
    for panel in flat_panels(dashboard):
        for target in panel.get("targets") or []:
            queries.append((f"panel {panel.get('title')!r} target {target.get('refId')}", str(target.get("expr", ""))))
    for variable in dig(dashboard, "templating", "list", default=[]) or []:
        if variable.get("type") == "query":
            query = variable.get("query")
            query = query.get("query", "") if isinstance(query, dict) else str(query or "")
            match = LABEL_VALUES.match(query.strip())
            queries.append((f"variable {variable.get('name')}", match.group("selector") if match else query))
    return queries


def flat_panels(dashboard: dict) -> list[dict]:
    """The panels, those inside collapsed rows included."""
    panels = []
    for panel in dashboard.get("panels") or []:
        panels.append(panel)
        panels.extend(panel.get("panels") or [])
    return panels


def check_dashboard(dashboard: Any) -> list[str]:
    """A dashboard a sidecar can load and whose every panel queries the chosen data source, namespace and pods."""
    if not isinstance(dashboard, dict):
        return ["the dashboard is not a JSON object"]
    problems = [f"no {field}" for field in ("title", "uid") if not dashboard.get(field)]
    variables = {v.get("name"): v for v in dig(dashboard, "templating", "list", default=[]) or []}
    datasource = variables.get("datasource", {})
    if (datasource.get("type"), datasource.get("query")) != ("datasource", "prometheus"):
        problems.append("no Prometheus data source variable named datasource")
    for name in ("namespace", "pod"):
        if dig(variables, name, "type") != "query":
            problems.append(f"no query variable {name}")
    ids = [panel.get("id") for panel in flat_panels(dashboard)]
    if len(ids) != len(set(ids)) or None in ids:
        problems.append(f"panel ids missing or repeated: {ids}")
    for panel in flat_panels(dashboard):
        if panel.get("type") in ("row", "text"):
            continue
        where = f"panel {panel.get('title')!r}"
        if not all(isinstance(dig(panel, "gridPos", key), int) for key in ("x", "y", "w", "h")):
            problems.append(f"{where}: no gridPos")
        if dig(panel, "datasource", "uid") != "${datasource}":
            problems.append(f"{where}: its data source is not ${{datasource}}")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{where}: no targets")
        refs = [target.get("refId") for target in targets]
        if len(refs) != len(set(refs)):
            problems.append(f"{where}: repeated refIds {refs}")
        for target in targets:
            if dig(target, "datasource", "uid") != "${datasource}":
                problems.append(f"{where} target {target.get('refId')}: its data source is not ${{datasource}}")
    for where, expr in dashboard_queries(dashboard):
        tree, problem = parse_promql(expr)
        if problem:
            problems.append(f"{where}: {problem}: {expr}")
            continue
        for selector in selectors(tree):
            scoped = matcher(selector, "namespace") == (promql_parser.MatchOp.Equal, "$namespace")
            if not scoped and where != "variable namespace":
                problems.append(f"{where}: {series_name(selector)} is not scoped by namespace=\"$namespace\"")
            if where.startswith("panel") and matcher(selector, "pod") != (promql_parser.MatchOp.Re, "$pod"):
                problems.append(f"{where}: {series_name(selector)} is not scoped by pod=~\"$pod\"")
    return problems


def dashboard_configmaps(docs: list[dict], merged: dict) -> list[dict]:
    """The ConfigMaps Grafana's sidecar would load (they carry its label)."""
    settings = merged["grafanaDashboard"]
    return [d for d in docs if d.get("kind") == "ConfigMap"
            and dig(d, "metadata", "labels", settings["label"]) == str(settings["labelValue"])]


def check_dashboard_configmap(merged: dict, docs: list[dict]) -> list[str]:
    settings = merged["grafanaDashboard"]
    found = dashboard_configmaps(docs, merged)
    if len(found) != (1 if settings["enabled"] else 0):
        return [f"{len(found)} ConfigMaps with {settings['label']}={settings['labelValue']} (grafanaDashboard.enabled {settings['enabled']})"]
    problems = []
    for configmap in found:
        namespace = settings["namespace"] or NAMESPACE
        if dig(configmap, "metadata", "namespace") != namespace:
            problems.append(f"{kind_name(configmap)} is in {dig(configmap, 'metadata', 'namespace')!r}, not {namespace!r}")
        for key, value in settings["labels"].items():
            if dig(configmap, "metadata", "labels", key) is None:
                problems.append(f"label {key} of grafanaDashboard.labels missing")
        data = configmap.get("data") or {}
        if list(data) != ["consentd.json"]:
            problems.append(f"data keys {list(data)} (want consentd.json)")
            continue
        try:
            problems += check_dashboard(json.loads(data["consentd.json"]))
        except json.JSONDecodeError as err:
            problems.append(f"consentd.json is not JSON: {err}")
    return problems


# --------------------------------------------------------------------------- the PrometheusRule


def string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def check_rule(where: str, rule: Any) -> list[str]:
    """One alerting or recording rule, as Prometheus would load it."""
    if not isinstance(rule, dict):
        return [f"{where} is not a mapping"]
    problems = []
    if unknown := set(rule) - RULE_KEYS:
        problems.append(f"{where}: unknown fields {sorted(unknown)}")
    if ("alert" in rule) == ("record" in rule):
        problems.append(f"{where}: needs exactly one of alert and record")
    if "record" in rule and ({"for", "keep_firing_for", "annotations"} & set(rule)):
        problems.append(f"{where}: a recording rule with alerting fields")
    if "record" in rule and not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", str(rule["record"])):
        problems.append(f"{where}: record {rule['record']!r} is not a metric name")
    if "alert" in rule and not str(rule["alert"]).strip():
        problems.append(f"{where}: an empty alert name")
    for duration in ("for", "keep_firing_for"):
        if duration in rule and not valid_duration(rule[duration]):
            problems.append(f"{where}: {duration} {rule[duration]!r} is not a duration")
    for field in ("labels", "annotations"):
        if field in rule and not string_map(rule[field]):
            problems.append(f"{where}: {field} must map strings to strings")
    bad_labels = [name for name in (rule.get("labels") or {}) if not LABEL_NAME.match(str(name))]
    if bad_labels:
        problems.append(f"{where}: invalid label names {bad_labels}")
    if not isinstance(rule.get("expr"), str) or not rule["expr"].strip():
        return problems + [f"{where}: no expr"]
    if problem := parse_promql(rule["expr"])[1]:
        problems.append(f"{where}: the expr does not parse: {problem}")
    return problems


def check_prometheus_rule(doc: dict, docs: list[dict]) -> list[str]:
    """apiVersion, kind, metadata, and every group and rule of spec.groups."""
    problems = []
    if doc.get("apiVersion") != "monitoring.coreos.com/v1":
        problems.append(f"apiVersion {doc.get('apiVersion')!r}")
    if unknown := set(doc) - {"apiVersion", "kind", "metadata", "spec"}:
        problems.append(f"unknown top-level fields {sorted(unknown)}")
    metadata = doc.get("metadata") or {}
    if not DNS_SUBDOMAIN.match(str(metadata.get("name", ""))):
        problems.append("metadata.name missing or invalid")
    for field in ("labels", "annotations"):
        if not string_map(metadata.get(field, {})):
            problems.append(f"metadata.{field} must map strings to strings")
    spec = doc.get("spec")
    if not isinstance(spec, dict) or set(spec) != {"groups"}:
        return problems + ["spec must hold groups and nothing else"]
    groups = spec["groups"]
    if not isinstance(groups, list) or not groups:
        return problems + ["spec.groups must be a non-empty list"]
    names = [dig(group, "name") for group in groups]
    if len(set(names)) != len(names) or not all(isinstance(name, str) and name for name in names):
        problems.append(f"group names missing or repeated: {names}")
    for index, group in enumerate(groups):
        where = f"spec.groups[{index}]"
        if not isinstance(group, dict):
            problems.append(f"{where} is not a mapping")
            continue
        if unknown := set(group) - GROUP_KEYS:
            problems.append(f"{where}: unknown fields {sorted(unknown)}")
        if "interval" in group and not valid_duration(group["interval"]):
            problems.append(f"{where}.interval {group['interval']!r} is not a duration")
        rules = group.get("rules")
        if not isinstance(rules, list):
            problems.append(f"{where}.rules must be a list")
            continue
        alerts = [rule.get("alert") for rule in rules if isinstance(rule, dict) and "alert" in rule]
        if len(alerts) != len(set(alerts)):
            problems.append(f"{where}: repeated alert names {alerts}")
        for position, rule in enumerate(rules):
            problems += check_rule(f"{where}.rules[{position}]", rule)
    return problems


def chart_alerts(docs: list[dict]) -> dict[str, dict]:
    """The rendered alerting rules, by name."""
    return {rule["alert"]: rule for doc in docs if doc.get("kind") == "PrometheusRule"
            for group in dig(doc, "spec", "groups", default=[]) or []
            for rule in group.get("rules") or [] if isinstance(rule, dict) and "alert" in rule}


def check_rule_values(merged: dict, docs: list[dict]) -> list[str]:
    """The values reach the alerts: which exist, their `for`, thresholds, severities and labels, and their scope."""
    settings = merged["prometheusRule"]
    rules = [d for d in docs if d.get("kind") == "PrometheusRule"]
    if len(rules) != (1 if settings["enabled"] else 0):
        return [f"{len(rules)} PrometheusRules (prometheusRule.enabled {settings['enabled']})"]
    if not rules:
        return []
    problems = []
    alerts = chart_alerts(docs)
    for key, name in ALERTS.items():
        alert = settings[key]
        if (name in alerts) != alert["enabled"]:
            problems.append(f"{name} {'missing' if alert['enabled'] else 'rendered'} with {key}.enabled {alert['enabled']}")
            continue
        if name not in alerts:
            continue
        rule = alerts[name]
        if rule.get("for") != alert["for"]:
            problems.append(f"{name}: for {rule.get('for')!r} != {key}.for {alert['for']!r}")
        wanted = {**settings["alertLabels"], "severity": alert["severity"], "namespace": NAMESPACE}
        if rule.get("labels") != wanted:
            problems.append(f"{name}: labels {rule.get('labels')} != {wanted}")
        tree, _ = parse_promql(rule["expr"])
        if key in THRESHOLDS and tree is not None:
            limit = alert[THRESHOLDS[key]]
            if not is_above(tree):
                problems.append(f"{name}: the expr is not `... > {limit}`")
            elif tree.rhs.val != limit:
                problems.append(f"{name}: compared with {tree.rhs.val}, not {key}.{THRESHOLDS[key]} {limit}")
        if tree is not None and not settings["selector"]:
            for selector in selectors(tree):
                if matcher(selector, "namespace") != (promql_parser.MatchOp.Equal, NAMESPACE):
                    problems.append(f"{name}: {series_name(selector)} is not scoped to the release's namespace")
    extra = {rule.get("alert") or rule.get("record") for rule in settings["additionalRules"]}
    rendered = {rule.get("alert") or rule.get("record") for doc in rules
                for group in dig(doc, "spec", "groups", default=[]) for rule in group.get("rules") or []}
    if missing := extra - rendered:
        problems.append(f"prometheusRule.additionalRules {sorted(missing)} not rendered")
    return problems


def check_the_checks(chart_dir: Path, out: Checks) -> None:
    """The checks above catch what they are for, on broken copies of the chart's dashboard and of a rule."""
    dashboard = json.loads((chart_dir / "dashboards" / "consentd.json").read_text())
    panel = next(p for p in flat_panels(dashboard) if p.get("targets"))

    def broken(change: Callable[[dict], None]) -> list[str]:
        copy = json.loads(json.dumps(dashboard))
        change(next(p for p in flat_panels(copy) if p.get("id") == panel["id"]))
        return check_dashboard(copy)

    expr = panel["targets"][0]["expr"]
    cases = {
        "a panel without a data source": broken(lambda p: p.pop("datasource")),
        "a panel without targets": broken(lambda p: p.update(targets=[])),
        "a query that does not parse": broken(lambda p: p["targets"][0].update(expr=expr + ")")),
        "a query not scoped by the pod variable": broken(lambda p: p["targets"][0].update(expr=expr.replace('pod=~"$pod"', 'pod=~".+"'))),
        "a rule whose expr does not parse": check_rule("rule", {"alert": "A", "expr": "sum(up", "for": "5m"}),
        "a rule whose for is no duration": check_rule("rule", {"alert": "A", "expr": "up == 0", "for": "5 minutes"}),
    }
    out.check("the dashboard itself passes its check", not check_dashboard(dashboard), "; ".join(check_dashboard(dashboard)))
    for case, problems in cases.items():
        out.check(f"the monitoring checks catch {case}", bool(problems))


# --------------------------------------------------------------------------- per release, and the series named


def expected_namespaces(merged: dict, docs: list[dict]) -> dict[str, str]:
    """Objects that may live outside the release's namespace: the dashboard, where the sidecar searches."""
    namespace = merged["grafanaDashboard"]["namespace"]
    return {kind_name(d): namespace for d in dashboard_configmaps(docs, merged)} if namespace else {}


def check_monitoring(label: str, merged: dict, docs: list[dict], out: Checks) -> None:
    out.problems(f"{label}: Grafana dashboard ConfigMap and its panels", check_dashboard_configmap(merged, docs))
    out.problems(f"{label}: PrometheusRule alerts follow the values", check_rule_values(merged, docs))


def series_read(docs: list[dict], merged: dict) -> set[str]:
    """Every series the rendered dashboard and alerts read (what a query names by __name__ only, too)."""
    expressions: list[str] = []
    for configmap in dashboard_configmaps(docs, merged):
        for data in (configmap.get("data") or {}).values():
            expressions += [expr for _, expr in dashboard_queries(json.loads(data))]
    expressions += [str(rule.get("expr", "")) for rule in chart_alerts(docs).values()]
    names: set[str] = set()
    for expr in expressions:
        tree, problem = parse_promql(expr)
        if problem:
            raise ValueError(f"{problem}: {expr}")
        names |= {name for name in map(series_name, selectors(tree)) if name}
    return names

