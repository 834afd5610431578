"""Bake projects from this template the way a user does, and run commands inside them."""

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
# Leftover template syntax; a bare "{{" would also flag GitHub's "${{ }}", which is wanted.
UNRENDERED = r"{{(\s?cookiecutter)[.](.*?)}}"

# The generated project has its own environment: don't leak this one's into it.
PROJECT_ENV = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
PROJECT_ENV |= {"DVC_NO_ANALYTICS": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
# The tests commit in generated projects; CI machines may have no git identity.
PROJECT_ENV |= {
    f"GIT_{role}_{field}": value
    for role in ("AUTHOR", "COMMITTER")
    for field, value in (("NAME", "Template Tests"), ("EMAIL", "tests@example.com"))
}


def bake(output_dir: Path, **answers: Any) -> Path:
    """Generate a project with `answers` over the defaults; returns the project's path."""
    return Path(
        cookiecutter(
            str(TEMPLATE), no_input=True, output_dir=str(output_dir), extra_context=answers
        )
    )


def run(
    project: Path, *command: str, check: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run a command in the project as its user would; on failure, show what it printed."""
    completed = subprocess.run(
        command,
        cwd=project,
        env=PROJECT_ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and completed.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` exited {completed.returncode} in {project}\n"
            f"--- stdout ---\n{completed.stdout[-6000:]}\n"
            f"--- stderr ---\n{completed.stderr[-6000:]}"
        )
    return completed


def files_in(project: Path) -> set[str]:
    """Every file a user sees in the repository, less git's and DVC's internals."""
    internals = (".git/", ".dvc/cache/", ".dvc/tmp/")
    return {
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and not path.relative_to(project).as_posix().startswith(internals)
    }
