"""The checks of one rendered release, across its objects: the workloads'
security and resource policies, probes and shutdown grace, labels and
selectors, Secret references, the consentd.toml round trip, the database
mode (sqlite or postgresql, with the migration hook's ordering) and the
PodDisruptionBudget."""

from __future__ import annotations

import base64
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from chart_common import (SELECTOR_PATHS, WORKLOADS, Checks, dig, env_map, hook_events, hook_weight, kind_name,
                          labels_match, without_nulls, workload_pod)

# --------------------------------------------------------------------------- per-workload checks


def effective_security(pod: dict, container: dict) -> dict:
    pod_ctx = pod.get("securityContext") or {}
    ctx = container.get("securityContext") or {}
    merged = {key: pod_ctx.get(key) for key in ("runAsNonRoot", "runAsUser", "runAsGroup", "seccompProfile")}
    merged.update({key: value for key, value in ctx.items() if value is not None})
    return merged


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


# --------------------------------------------------------------------------- one rendered release


@dataclass
class Release:
    """One rendered release with the lookups its checks share."""

    merged: dict  # the values, already merged with the chart's defaults
    docs: list[dict]
    by_kind: dict[str, list[dict]]
    deployment: dict
    pod: dict
    container: dict  # the server container
    env: dict[str, dict]
    sqlite: bool
    # (kind, name) of every rendered object: what references must resolve to.
    rendered_names: dict[tuple[str, Any], dict]

    @classmethod
    def of(cls, merged: dict, docs: list[dict], by_kind: dict[str, list[dict]], deployment: dict) -> Release:
        pod = workload_pod(deployment)
        container = dig(pod, "containers", 0, default={})
        return cls(merged=merged, docs=docs, by_kind=by_kind, deployment=deployment, pod=pod, container=container,
                   env=env_map(container), sqlite=merged["database"]["type"] == "sqlite",
                   rendered_names={(d["kind"], dig(d, "metadata", "name")): d for d in docs})

    def external(self) -> set[str]:
        """The Secrets (and an existing ServiceAccount) the values name: they exist outside the release."""
        merged = self.merged
        external = {merged["database"]["existingSecret"], merged["auth"]["existingSecret"], merged["tls"]["secretName"],
                    merged["tls"]["clientCA"]["secretName"]} - {""}
        if not merged["serviceAccount"]["create"] and merged["serviceAccount"]["name"]:
            external.add(merged["serviceAccount"]["name"])  # an existing ServiceAccount
        return external


def check_release(label: str, merged: dict, docs: list[dict], uid: int, gid: int, out: Checks) -> None:
    """Checks of one rendered release (values already merged with the defaults)."""
    by_kind: dict[str, list[dict]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    deployments = by_kind.get("Deployment", [])
    if not out.check(f"{label}: exactly one Deployment", len(deployments) == 1, f"found {len(deployments)}"):
        return
    release = Release.of(merged, docs, by_kind, deployments[0])

    for workload in [d for d in docs if d["kind"] in WORKLOADS]:
        out.problems(f"{label}: {kind_name(workload)} security/resources policy", check_workload_policies(workload, uid, gid))
    out.problems(f"{label}: Deployment probes and shutdown grace", check_probes(release.deployment, merged))
    out.problems(f"{label}: labels, selectors and config checksum", check_labels(release))
    out.problems(f"{label}: secretKeyRefs resolve", check_secret_refs(release))
    out.problems(f"{label}: consentd.toml round-trips the config value", check_config_file(release))
    if release.sqlite:
        out.problems(f"{label}: sqlite mode (1 replica, Recreate, PVC, server migrates)", check_sqlite_mode(release))
    else:
        out.problems(f"{label}: postgresql mode (migration hook, CONSENTD_NO_MIGRATE)", check_postgresql_mode(release))
    out.problems(f"{label}: PodDisruptionBudget shape", check_disruption_budget(release))


def check_labels(release: Release) -> list[str]:
    """Labels and selectors: one stable selector everywhere, only the server pods match it; the config checksum."""
    problems = []
    deployment = release.deployment
    selector = dig(deployment, "spec", "selector", "matchLabels", default={})
    template_labels = dig(deployment, "spec", "template", "metadata", "labels", default={})
    if not labels_match(selector, template_labels):
        problems.append("the pod template's labels do not match the selector")
    for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"):
        if key not in selector:
            problems.append(f"selector lacks {key}")
    if any(key in selector for key in ("app.kubernetes.io/version", "helm.sh/chart")):
        problems.append("the selector holds a label that changes across upgrades")
    for doc in release.docs:
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
    return problems


def check_secret_refs(release: Release) -> list[str]:
    """Secret references resolve to a rendered Secret's key (or to a Secret the values name)."""
    problems = []
    external = release.external()
    for workload in [d for d in release.docs if d["kind"] in WORKLOADS]:
        for c in workload_pod(workload).get("containers") or []:
            for entry in c.get("env") or []:
                ref = dig(entry, "valueFrom", "secretKeyRef")
                if not ref:
                    continue
                secret = release.rendered_names.get(("Secret", ref["name"]))
                if secret is None:
                    if ref["name"] not in external:
                        problems.append(f"{kind_name(workload)} {entry['name']}: Secret {ref['name']} is neither rendered nor named in the values")
                elif ref["key"] not in (secret.get("data") or {}) and ref["key"] not in (secret.get("stringData") or {}):
                    problems.append(f"{kind_name(workload)} {entry['name']}: Secret {ref['name']} has no key {ref['key']}")
    return problems


def check_config_file(release: Release) -> list[str]:
    """The rendered consentd.toml is the `config` value, mounted where CONSENTD_CONFIG points."""
    merged = release.merged
    volume = next((v for v in release.pod.get("volumes") or [] if v.get("name") == "config"), {})
    configmap = release.rendered_names.get(("ConfigMap", dig(volume, "configMap", "name")))
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
    if dig(release.env, "CONSENTD_CONFIG", "value") != "/etc/consentd/config/consentd.toml":
        problems.append("CONSENTD_CONFIG does not point at the mounted file")
    return problems


def check_sqlite_mode(release: Release) -> list[str]:
    """SQLite: one replica, Recreate, no HPA or migration Job, the database on the PVC."""
    merged, deployment, env = release.merged, release.deployment, release.env
    problems = []
    if dig(deployment, "spec", "replicas") != 1:
        problems.append(f"replicas {dig(deployment, 'spec', 'replicas')} != 1")
    if dig(deployment, "spec", "strategy", "type") != "Recreate":
        problems.append("strategy is not Recreate")
    if release.by_kind.get("HorizontalPodAutoscaler", []):
        problems.append("an HPA is rendered")
    if release.by_kind.get("Job", []):
        problems.append("a migration Job is rendered (the server migrates SQLite itself)")
    if "CONSENTD_NO_MIGRATE" in env:
        problems.append("CONSENTD_NO_MIGRATE is set")
    url = dig(env, "CONSENTD_DATABASE_URL", "value", default="")
    if not url.startswith("sqlite:///var/lib/consentd/"):
        problems.append(f"CONSENTD_DATABASE_URL {url!r} is not on /var/lib/consentd")
    mount = next((m for m in release.container.get("volumeMounts") or [] if m.get("mountPath") == "/var/lib/consentd"), None)
    volume = next((v for v in release.pod.get("volumes") or [] if mount and v.get("name") == mount.get("name")), None)
    if volume is None:
        problems.append("nothing is mounted at /var/lib/consentd")
    elif merged["persistence"]["enabled"]:
        claim = dig(volume, "persistentVolumeClaim", "claimName")
        if not claim:
            problems.append("/var/lib/consentd is not a PVC")
        elif not merged["persistence"]["existingClaim"] and ("PersistentVolumeClaim", claim) not in release.rendered_names:
            problems.append(f"PVC {claim} is not rendered")
        elif merged["persistence"]["existingClaim"] and claim != merged["persistence"]["existingClaim"]:
            problems.append(f"PVC {claim} is not persistence.existingClaim")
    return problems


def check_postgresql_mode(release: Release) -> list[str]:
    """PostgreSQL: URLs from Secrets, the migration hook (the server must not migrate), replicas or the HPA."""
    merged, deployment, env = release.merged, release.deployment, release.env
    hpas = release.by_kind.get("HorizontalPodAutoscaler", [])
    problems = []
    if dig(env, "CONSENTD_NO_MIGRATE", "value") != "true":
        problems.append("CONSENTD_NO_MIGRATE is not \"true\" on the Deployment")
    if not dig(env, "CONSENTD_DATABASE_URL", "valueFrom", "secretKeyRef"):
        problems.append("CONSENTD_DATABASE_URL does not come from a Secret")
    problems += check_read_standbys(release)
    migrations = [j for j in release.by_kind.get("Job", []) if {"pre-install", "pre-upgrade"} <= hook_events(j)]
    if len(migrations) != 1:
        problems.append(f"{len(migrations)} pre-install,pre-upgrade Jobs (want 1)")
    for job in migrations:
        problems += check_migration_hook(job, release.docs, release.rendered_names, release.external())
    if merged["autoscaling"]["enabled"]:
        if len(hpas) != 1:
            problems.append(f"{len(hpas)} HPAs with autoscaling.enabled")
        elif dig(hpas[0], "spec", "scaleTargetRef", "name") != dig(deployment, "metadata", "name"):
            problems.append("the HPA does not target the Deployment")
        if "replicas" in deployment["spec"]:
            problems.append("the Deployment sets replicas although the HPA owns them")
    elif dig(deployment, "spec", "replicas") != merged["replicaCount"]:
        problems.append("replicas != replicaCount")
    return problems


def check_read_standbys(release: Release) -> list[str]:
    """CONSENTD_READ_DATABASE_URLS comes from a Secret holding database.readUrls, and only when they are set."""
    env = release.env
    problems = []
    standbys = release.merged["database"].get("readUrls") or []
    standbys_ref = dig(env, "CONSENTD_READ_DATABASE_URLS", "valueFrom", "secretKeyRef")
    if standbys and not standbys_ref:
        problems.append("database.readUrls are set but CONSENTD_READ_DATABASE_URLS does not come from a Secret")
    if standbys_ref and not release.merged["database"].get("existingSecretReadUrlsKey"):
        secret = release.rendered_names.get(("Secret", standbys_ref["name"]))
        stored = base64.b64decode(dig(secret, "data", standbys_ref["key"], default="")).decode()
        if stored.split(",") != standbys:
            problems.append(f"the Secret's standby URLs {stored!r} are not database.readUrls")
    if not standbys and "CONSENTD_READ_DATABASE_URLS" in env:
        problems.append("CONSENTD_READ_DATABASE_URLS is set without database.readUrls")
    return problems


def check_disruption_budget(release: Release) -> list[str]:
    """The PodDisruptionBudget never blocks a drain of a single replica."""
    merged = release.merged
    pdbs = release.by_kind.get("PodDisruptionBudget", [])
    problems = []
    if merged["podDisruptionBudget"]["enabled"] and len(pdbs) != 1:
        problems.append(f"{len(pdbs)} PDBs although enabled")
    for pdb in pdbs:
        spec = pdb["spec"]
        if merged["autoscaling"]["enabled"] and not release.sqlite:
            least = merged["autoscaling"]["minReplicas"]
        else:
            least = dig(release.deployment, "spec", "replicas", default=1)
        if "minAvailable" in spec and (not isinstance(spec["minAvailable"], int) or spec["minAvailable"] >= least):
            problems.append(f"minAvailable {spec['minAvailable']} with as few as {least} replicas blocks drains")
        if "maxUnavailable" in spec and spec["maxUnavailable"] in (0, "0", "0%"):
            problems.append("maxUnavailable 0 blocks drains")
        if least > 1 and spec.get("minAvailable") != 1:
            problems.append("several replicas but minAvailable is not 1")
    return problems


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
