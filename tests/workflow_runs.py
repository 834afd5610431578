"""Run a generated repository's workflows for real with `act` in host mode.

Remote actions are swapped for the stand-ins in `standins/actions/` (pinned by the same SHA the
workflow uses), `cml` for `standins/bin/cml`, and the GitHub API for `standins/github_api.py`.
Our own actions, the package, DVC and MLflow run as they would on GitHub.
"""

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import PROJECT_ENV, bake, run

STANDINS = Path(__file__).parent / "standins"
ACT = Path(sys.executable).parent / "act"  # pinned in this template's own environment
REPOSITORY = "acme/income-classifier"  # what act reads from a checkout's `origin` URL
REMOTE_ACTION = re.compile(r"^\s*(?:- )?uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})\b", re.MULTILINE)


@dataclass(frozen=True)
class WorkflowRun:
    returncode: int
    log: str
    artifacts: Path  # $STANDIN_ARTIFACTS: one folder per uploaded artifact
    cml_calls: list[dict[str, Any]]  # what `cml` was asked to post, in order
    records: Path  # $STANDIN_LOG: what the other stand-ins were asked to do, one JSONL each

    def recorded(self, standin: str) -> list[dict[str, Any]]:
        """What the `standin` stand-in recorded in this run (docker, app-token), in order."""
        log = self.records / f"{standin}.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0


def pinned_actions(repo: Path) -> dict[str, Path]:
    """`owner/name@sha` of every remote action the workflows and local actions use -> stand-in."""
    sources = [*repo.glob(".github/workflows/*.yml"), *repo.glob(".github/actions/*/action.yml")]
    pins = {}
    for source in sources:
        for name, sha in REMOTE_ACTION.findall(source.read_text(encoding="utf-8")):
            standin = STANDINS / "actions" / name.split("/")[1]
            assert standin.is_dir(), f"{source.name} uses {name}, which has no stand-in"
            pins[f"{name}@{sha}"] = standin
    return pins


def run_workflow(
    repo: Path,
    workflow: str,
    event: dict[str, Any],
    scratch: Path,
    *,
    api_url: str,
    event_name: str = "pull_request",
    job: str | None = None,
    variables: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    runner: str = "ubuntu-latest",
    timeout: float = 900,
) -> WorkflowRun:
    """Run `.github/workflows/<workflow>` in `repo`; its checkout steps copy `repo`, history
    included. Jobs run on this machine when they ask for the `runner` label; others are skipped."""
    scratch.mkdir(parents=True, exist_ok=True)
    event_file = scratch / "event.json"
    event_file.write_text(json.dumps(event), encoding="utf-8")
    artifacts, records, home = scratch / "artifacts", scratch / "records", scratch / "home"
    for folder in (artifacts, records, home):
        folder.mkdir(exist_ok=True)
    env = {key: value for key, value in PROJECT_ENV.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env |= {
        "HOME": str(home),  # act's caches and workspace copies stay in the scratch folder
        "UV_CACHE_DIR": env.get("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv")),
        "PATH": f"{STANDINS / 'bin'}{os.pathsep}{env['PATH']}",
        "STANDIN_LOG": str(records),
        "STANDIN_ARTIFACTS": str(artifacts),
        "STANDIN_CHECKOUT": str(repo),  # what the checkout stand-in copies into each job
    }
    command = [
        str(ACT),
        event_name,
        "--workflows", f".github/workflows/{workflow}",
        "--platform", f"{runner}=-self-hosted",
        "--eventpath", str(event_file),
        "--env", f"GITHUB_API_URL={api_url}",
        "--secret", "GITHUB_TOKEN=standin-token",
        "--container-daemon-socket", "-",
        # act would copy the repository in place of actions/checkout and skip its stand-in,
        # which then could not check the inputs or leave what a real checkout leaves.
        "--no-skip-checkout",
    ]  # fmt: skip
    for spec, standin in pinned_actions(repo).items():
        command += ["--local-repository", f"{spec}={standin}"]
    for name, value in (variables or {}).items():
        command += ["--var", f"{name}={value}"]
    for name, value in (secrets or {}).items():
        command += ["--secret", f"{name}={value}"]
    if job:
        command += ["--job", job]
    completed = subprocess.run(
        command,
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    cml_log = records / "cml.jsonl"
    calls = (
        [json.loads(line) for line in cml_log.read_text().splitlines()] if cml_log.exists() else []
    )
    cml_log.unlink(missing_ok=True)
    log = completed.stdout + completed.stderr
    return WorkflowRun(completed.returncode, log, artifacts, calls, records)


def generated_repository(root: Path, **answers: str) -> Path:
    """A generated repository with its environment installed, as its author has it."""
    origin = bake(root, **answers)
    run(origin, "uv", "sync", "--frozen")
    return origin


def train_and_push(
    origin: Path, *, tracking_uri: str | None = None, env: dict[str, str] | None = None
) -> None:
    """Train `main` and commit it, and push its data, outputs and run cache to its DVC remote
    (the folder beside it unless `origin` says otherwise): the repository as on GitHub after
    its first model. `env`: what the remote needs, such as credentials."""
    settings = ({"MLFLOW_TRACKING_URI": tracking_uri} if tracking_uri else {}) | (env or {})
    with_env = ("env", *(f"{name}={value}" for name, value in settings.items()))
    run(origin, *with_env, "uv", "run", "--frozen", "dvc", "repro")
    run(origin, "git", "add", "--all")
    run(origin, "git", "commit", "--quiet", "--message", "Train the first model")
    run(origin, *with_env, "uv", "run", "--frozen", "dvc", "push", "--run-cache")


def trained_repository(root: Path, **answers: str) -> Path:
    origin = generated_repository(root, **answers)
    train_and_push(origin)
    return origin


def checkout(origin: Path, branch: str, path: Path) -> Path:
    """A fresh clone of `branch`, as CI checks it out: no environment, no DVC cache."""
    run(path.parent, "git", "clone", "--quiet", "--branch", branch, str(origin), path.name)
    run(path, "git", "remote", "set-url", "origin", f"https://github.com/{REPOSITORY}.git")
    return path


def pull_request_event(
    number: int, branch: str, head: str, base: str, *, fork: bool = False
) -> dict[str, Any]:
    """The `pull_request` payload fields the workflows read."""
    head_repository = "someone/income-classifier" if fork else REPOSITORY
    return {
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"sha": head, "ref": branch, "repo": {"full_name": head_repository}},
            "base": {"sha": base, "ref": "main", "repo": {"full_name": REPOSITORY}},
        },
        "repository": {"full_name": REPOSITORY},
    }
