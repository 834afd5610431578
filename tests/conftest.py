"""Bake projects from this template the way a user does, and run commands inside them."""

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
# Leftover template syntax; a bare "{{" would also flag GitHub's "${{ }}", which is wanted.
UNRENDERED = r"{{(\s?cookiecutter)[.](.*?)}}"

# The generated project has its own environment: don't leak this one's into it. Nor a sandbox's
# PYTHONDONTWRITEBYTECODE: a user's machine and GitHub's runners cache bytecode, and without it
# every command of the project imports MLflow and scikit-learn from source again.
LEAKED = ("VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")
PROJECT_ENV = {key: value for key, value in os.environ.items() if key not in LEAKED}
PROJECT_ENV |= {"DVC_NO_ANALYTICS": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
# The tests commit in generated projects; CI machines may have no git identity.
PROJECT_ENV |= {
    f"GIT_{role}_{field}": value
    for role in ("AUTHOR", "COMMITTER")
    for field, value in (("NAME", "Template Tests"), ("EMAIL", "tests@example.com"))
}


# Mermaid's own parser, which `make tools` installs from tests/mermaid's lock.
MERMAID_CHECK = TEMPLATE / ".tools" / "mermaid" / "check.mjs"
CHART_TITLE = re.compile(r'^  title "(.*)"$', re.MULTILINE)


def mermaid_charts(markdown: str) -> dict[str, str]:
    """Each Mermaid chart of `markdown` by its title, once Mermaid's parser accepted them all
    (what GitHub draws them with)."""
    checked = subprocess.run(
        ["node", str(MERMAID_CHECK)], input=markdown, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, f"Mermaid refuses the report's charts: {checked.stderr}"
    blocks = re.findall(r"^```mermaid\n(.*?)^```$", markdown, re.MULTILINE | re.DOTALL)
    return {title: block for block in blocks for title in CHART_TITLE.findall(block)}


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


class CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, !GetAtt...), each read as a
    one-key mapping: `!Ref Bucket` is {"Ref": "Bucket"}."""


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]  # a MappingNode


CloudFormationLoader.add_multi_constructor("!", _short_tag)


def files_in(project: Path) -> set[str]:
    """Every file a user sees in the repository, less git's and DVC's internals."""
    internals = (".git/", ".dvc/cache/", ".dvc/tmp/")
    return {
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and not path.relative_to(project).as_posix().startswith(internals)
    }


def wait_until_healthy(url: str, server: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"the server exited: {server.stdout.read().decode() if server.stdout else ''}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"no healthy answer from {url} within {seconds:.0f} s")


def post(url: str, payload: object) -> tuple[int, dict[str, object]]:
    """POST `payload` as JSON; a str is sent as written (JSON's NaN tokens, or not JSON)."""
    data = payload if isinstance(payload, str) else json.dumps(payload)
    request = urllib.request.Request(
        url, data=data.encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@dataclass
class Served:
    url: str  # http://127.0.0.1:<port>
    environment: Path  # the virtual environment it ran in
    output: str = ""  # what the server printed, once it stopped
    returncode: int | None = None


def serving_environment(project: Path) -> Path:
    """The serving image's environment, installed as its Dockerfile installs it (the `uv sync`
    of its build stage), beside the project rather than in it; made once per project."""
    venv = project.parent / f"{project.name}-serving-venv"
    if not venv.exists():
        dockerfile = (project / "Dockerfile").read_text()
        match = re.search(r"^RUN (uv sync .*)$", dockerfile, re.MULTILINE)
        assert match, "the Dockerfile installs no environment with `uv sync`"
        completed = subprocess.run(
            match[1].split(), cwd=project, env=PROJECT_ENV | {"UV_PROJECT_ENVIRONMENT": str(venv)},
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert completed.returncode == 0, completed.stderr[-3000:]
    return venv


@contextmanager
def serving_entrypoint(project: Path) -> Iterator[Served]:
    """The serving image's entrypoint in the image's environment (the serving group alone, the
    package from src/), pointed at this checkout instead of /app, on a free port; healthy when
    entered, sent SIGTERM when left."""
    from servers import free_port  # servers imports this module

    dockerfile = (project / "Dockerfile").read_text()
    match = re.search(r"^ENTRYPOINT (\[.*\])$", dockerfile, re.MULTILINE)
    assert match, "the Dockerfile has no exec-form ENTRYPOINT"
    port = free_port()
    in_image = {"/app/models/model": str(project / "models" / "model"), "0.0.0.0": "127.0.0.1"}
    command = [in_image.get(arg, arg) for arg in json.loads(match[1])]
    command[command.index("--port") + 1] = str(port)
    venv = serving_environment(project)
    command[0] = str(venv / "bin" / command[0])  # the image puts .venv/bin on PATH
    # and the package's src/ on PYTHONPATH
    env = PROJECT_ENV | {"PYTHONPATH": str(project / "src")}
    served = Served(url=f"http://127.0.0.1:{port}", environment=venv)
    with subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as server:
        try:
            wait_until_healthy(f"{served.url}/health", server)
            yield served
        finally:
            server.terminate()
            served.output = server.communicate(timeout=30)[0].decode()
            served.returncode = server.returncode
