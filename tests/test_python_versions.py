"""Projects generated for the other Pythons the prompt offers, 3.12 and 3.13, installed and
checked as their user does (3.11, the default, is every other slow module's): `uv sync
--frozen` on the project's `.python-version`, then `make check` and `make test`.

uv reads `.python-version` and looks for that Python among its own installations and on PATH;
it cannot download one here, so the interpreter must be installed already. On this machine and
CI's, pyenv's shims on PATH provide it: in the project's directory they read the same
`.python-version`, and pyenv takes "3.13" to mean its newest 3.13.
"""

from pathlib import Path

import pytest
from conftest import bake, run

pytestmark = pytest.mark.slow

VERSIONS = ("3.12", "3.13")


@pytest.fixture(scope="module", params=VERSIONS, ids=[f"python{v}" for v in VERSIONS])
def python_version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def project(python_version: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = bake(
        tmp_path_factory.mktemp(f"python{python_version}"), python_version=python_version
    )
    # Looked up first: uv sync would try to download a missing Python and fail on the network,
    # not on what is missing.
    found = run(project, "uv", "python", "find", check=False)
    if found.returncode != 0:
        pytest.fail(
            f"uv finds no Python {python_version} for the generated project's .python-version, "
            f"and cannot download one here: install it where uv looks, e.g. `pyenv install "
            f"{python_version}` with pyenv's shims on PATH\n{found.stderr}"
        )
    run(project, "uv", "sync", "--frozen")
    return project


def test_the_environment_runs_the_chosen_python(project: Path, python_version: str) -> None:
    # given a project installed with `uv sync --frozen`
    # when its environment's interpreter is asked its version
    reported = run(project, ".venv/bin/python", "--version").stdout.strip()
    # then it is the version the project was generated for
    assert reported.startswith(f"Python {python_version}."), (
        f"the environment runs {reported!r}, not the .python-version's {python_version}"
    )


def test_make_check_passes(project: Path) -> None:
    run(project, "make", "check")


def test_make_test_passes(project: Path) -> None:
    run(project, "make", "test")
