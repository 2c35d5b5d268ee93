"""Checks of the files beside the templates: the image's Dockerfile (its
runtime stage and numeric USER) and the chart's documentation (a comment in
values.yaml and a README.md row for every value)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from chart_common import Checks, dig

# --------------------------------------------------------------------------- the Dockerfile


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


def check_image(dockerfile: Path, out: Checks) -> tuple[int, int]:
    """The image's USER (the uid and gid the pods must run as; -1 when unknown) and its runtime stage."""
    try:
        uid, gid = dockerfile_user(dockerfile)
        out.check(f"Dockerfile USER is numeric and non-root ({uid}:{gid})", uid != 0 and gid != 0, "USER is root")
    except (OSError, ValueError) as err:
        out.check("Dockerfile USER", False, str(err))
        uid, gid = -1, -1

    if dockerfile.is_file():
        check_dockerfile(dockerfile, out)
    return uid, gid


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
