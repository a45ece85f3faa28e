"""docs/operations.md gives commands that exist: every `cxm` command and option, every `python -m cxm_*` role,
every HTTP route and every repository path it names."""

from __future__ import annotations

import re
import shlex

import click
import pytest

from cxm_cli.main import cli
from cxm_common.service import ROLES
from tests.deploy.manifests import ROOT, SERVICES

DOC = ROOT / "docs" / "operations.md"


def code_lines() -> list[str]:
    """Shell lines of the fenced blocks and inline code spans, continuation lines joined."""
    text = DOC.read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    lines = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    return lines + re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))


def cxm_invocations() -> list[list[str]]:
    """The argument lists given to `cxm`, wherever it runs (plain, in the toolbox, in a compose container)."""
    found = []
    for line in code_lines():
        line = line.split("#", 1)[0].replace("…", "")
        # `cxm` as the command, not as the namespace of `kubectl -n cxm`.
        for match in re.finditer(r"(?:^|(?<=\s))(?<!-n )cxm\s+([a-z].*?)(?:$|&&|;|\|)", line):
            try:
                args = shlex.split(match[1])
            except ValueError:
                continue
            if args and args[0] not in ("-", "--", "dead"):
                found.append(args)
    return found


def resolve(args: list[str]) -> tuple[click.Command, list[str]]:
    """The click command an argument list reaches, and the arguments left for it."""
    command: click.Command = cli
    rest = list(args)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        assert name in command.commands, f"`cxm {' '.join(args)}`: no command {name!r}"
        command = command.commands[name]
    return command, rest


def test_the_doc_names_the_operator_commands() -> None:
    names = {resolve(args)[0].name for args in cxm_invocations()}
    assert {"replay", "reanalyze", "republish", "list", "redrive", "migrate", "create", "status"} <= names


@pytest.mark.parametrize("args", cxm_invocations(), ids=" ".join)
def test_every_cxm_command_and_option_exists(args: list[str]) -> None:
    command, rest = resolve(args)
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for token in rest:
        if token.startswith("--"):
            assert token.split("=", 1)[0] in options, f"`cxm {' '.join(args)}`: no option {token}"
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    if arguments and arguments[0].metavar == "SERVICE":
        positional = [t for t in rest if not t.startswith("-")]
        assert not positional or positional[0] in SERVICES, f"`cxm {' '.join(args)}`: no service {positional[0]}"


def test_every_service_process_named_exists() -> None:
    text = DOC.read_text()
    for module, role in re.findall(r"python -m (cxm_\w+) (\w+)", text):
        assert module == "cxm_<service>" or module.removeprefix("cxm_") in SERVICES
        assert role in (*ROLES, "<role>")


def route_templates() -> set[tuple[str, str]]:
    """(METHOD, path) of every route the services declare."""
    routes = set()
    for path in ROOT.glob("services/*/src/**/*.py"):
        for method, route in re.findall(
            r"@(?:router|app)\.(get|post|put|patch|delete)\(\s*\"([^\"]+)\"", path.read_text()
        ):
            routes.add((method.upper(), route))
    return routes


def as_pattern(route: str) -> str:
    return "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(route)) + "$"


def test_every_http_call_targets_a_real_route() -> None:
    routes = route_templates()
    calls = []
    for line in code_lines():
        if not line.lstrip().startswith("curl"):
            continue
        method = re.search(r"-X (\w+)", line)
        url = re.search(r"\$CXM_URL(/[^\"' ?]*)", line)
        assert url, line
        calls.append(((method[1] if method else "GET"), re.sub(r"\$\w+", "x", url[1])))
    assert len(calls) >= 6
    for method, path in calls:
        assert any(m == method and re.match(as_pattern(r), path) for m, r in routes), f"{method} {path}"


def test_every_repository_path_named_exists() -> None:
    text = DOC.read_text()
    paths = set(
        re.findall(r"(?<![\w/.-])((?:deploy|docs|libs|services)/[\w./-]+|docker-compose\.yml|Dockerfile)", text)
    )
    # `deploy/<name>` with nothing after it is kubectl's short form for a Deployment, not a path.
    paths = {p for p in paths if not re.fullmatch(r"deploy/[\w-]+", p) or (ROOT / p).exists()}
    missing = [p for p in paths if not (ROOT / p.rstrip(".")).exists() and not (ROOT / "docs" / p).exists()]
    assert not missing, missing
    for link in re.findall(r"\]\(([\w./-]+\.md)\)", text):
        assert (DOC.parent / link).exists(), link


def test_every_secret_the_manifests_reference_is_created_in_the_doc() -> None:
    from tests.deploy.manifests import WORKLOAD_KINDS, all_containers, of_kind, pod_template, render

    text = DOC.read_text()
    created = set(re.findall(r"create secret \w+ \"?([\w$-]+)", text))
    created = {name.replace("$s", s) for name in created for s in SERVICES} | created
    referenced = set()
    docs = render("prod")
    for w in of_kind(docs, *WORKLOAD_KINDS):
        for c in all_containers(pod_template(w)["spec"]):
            referenced |= {
                e["valueFrom"]["secretKeyRef"]["name"]
                for e in c.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {})
            }
    referenced |= {"cxm-backup-s3", "cxm-tls"}
    assert referenced <= created, referenced - created
