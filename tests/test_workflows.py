"""The template's own CI is held to the rules of the CI it generates."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import TEMPLATE

WORKFLOWS = sorted((TEMPLATE / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent  # the linters are pinned in this template's own environment
LINTERS = {
    "actionlint": [str(BIN / "actionlint"), "-no-color"],
    "zizmor": [str(BIN / "zizmor"), "--offline"],
    "json-schema": [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows"],
}
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


@pytest.fixture(params=WORKFLOWS, ids=[path.name for path in WORKFLOWS])
def workflow(request: pytest.FixtureRequest) -> tuple[Path, dict]:
    path: Path = request.param
    return path, yaml.safe_load(path.read_text())


@pytest.mark.parametrize("linter", list(LINTERS), ids=list(LINTERS))
def test_linters_find_nothing(linter: str, workflow: tuple[Path, dict]) -> None:
    path, _ = workflow
    completed = subprocess.run(
        [*LINTERS[linter], str(path)], capture_output=True, text=True, check=False, timeout=120
    )
    assert completed.returncode == 0, (
        f"{linter} on {path.name}:\n{completed.stdout}{completed.stderr}"
    )


def test_grants_nothing_by_default_and_each_job_only_what_it_needs(
    workflow: tuple[Path, dict],
) -> None:
    path, parsed = workflow
    assert parsed["permissions"] == {}, f"{path.name}: top-level permissions must be {{}}"
    for name, job in parsed["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} does not state its permissions"
        assert isinstance(job.get("timeout-minutes"), int), f"{path.name}: {name} has no timeout"


def test_pins_every_remote_action_to_a_commit_with_its_version(
    workflow: tuple[Path, dict],
) -> None:
    path, _ = workflow
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*(?:- )?uses:\s*(.+)$", line)
        if match and not match[1].startswith("./"):
            assert PINNED.match(match[1]), f"{path.name}: not pinned to a SHA: {match[1]}"


def test_never_expands_expressions_inside_shell(workflow: tuple[Path, dict]) -> None:
    path, parsed = workflow
    for name, job in parsed["jobs"].items():
        for step in job.get("steps", []):
            assert "${{" not in step.get("run", ""), f"{path.name}: {name} expands into run:"
            if "uses" in step and step["uses"].startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False


def test_has_workflows_to_check() -> None:
    assert WORKFLOWS, "no workflow found"
