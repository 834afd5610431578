"""Turn the rendered files into a working repository: the task's files laid in place, prune,
git init, dvc init, first commit.

Runs inside the generated project. DVC comes from the project's own lock (through uv), so the
version that initialises the repository is the version the pipeline runs with.

If any step fails, the DVC remote this hook made beside the project is removed and the hook
exits non-zero, upon which cookiecutter removes the project directory: nothing is left behind.
"""

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml  # cookiecutter's own dependency

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

PROJECT = Path.cwd()
LICENSES = PROJECT / "licenses"  # one text per license choice; all but the chosen are pruned
# One folder per task, laid out like the project: the chosen one's files (its dataset, contract,
# params and test sample) are copied over the project, and the folder goes.
TASKS = PROJECT / "tasks"
ANSWERS_FILE = ".cruft.json"


class SetupFailed(RuntimeError):
    """A step that failed, said in one line."""


def run(*command: str, env: dict[str, str] | None = None, what: str = "") -> str:
    """Run `command` in the project; on failure, say which step failed and its last line."""
    completed = subprocess.run(
        command, cwd=PROJECT, capture_output=True, text=True, env=env, check=False
    )
    if completed.returncode != 0:
        output = (completed.stderr.strip() or completed.stdout.strip()).splitlines()
        raise SetupFailed(
            f"`{what or ' '.join(command[:2])}` exited {completed.returncode}: "
            f"{output[-1] if output else 'no output'}"
        )
    return completed.stdout.strip()


def run_quietly(*command: str) -> str:
    """Output of a command whose failure only means "not available"."""
    completed = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, check=False)
    return completed.stdout.strip() if completed.returncode == 0 else ""


def prune_license(choice: str) -> None:
    if choice != "Proprietary":
        shutil.move(LICENSES / f"{choice}.txt", PROJECT / "LICENSE")
    shutil.rmtree(LICENSES)


def apply_task(task: str) -> None:
    shutil.copytree(TASKS / task, PROJECT, dirs_exist_ok=True)
    shutil.rmtree(TASKS)


def data_paths() -> tuple[str, str]:
    """The raw data file and the batches directory, as the task's params.yaml names them."""
    params = yaml.safe_load((PROJECT / "params.yaml").read_text(encoding="utf-8"))
    return str(params["data"]["raw"]), str(params["data"]["batches"])


def locked_packages() -> list[dict[str, str]]:
    return list(tomllib.loads((PROJECT / "uv.lock").read_text(encoding="utf-8"))["package"])


def locked_version(package: str) -> str:
    return next(entry["version"] for entry in locked_packages() if entry["name"] == package)


# One process runs every DVC command in turn (DVC's start-up dominates each call); the first
# failure stops it.
DVC_BATCH = """
import json, sys
from dvc.cli import main
for argv in json.loads(sys.argv[1]):
    if main(argv) != 0:
        sys.exit(f"dvc {' '.join(argv)} failed")
"""


def dvc(*commands: list[str]) -> None:
    """DVC at the locked version, from uv's cached tool environment: no project sync needed."""
    if shutil.which("uv") is None:
        raise SetupFailed(
            "uv is not on PATH: install it (https://docs.astral.sh/uv/) and generate again"
        )
    tool = ("uv", "tool", "run", "--from", f"dvc=={locked_version('dvc')}", "python")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    steps = ", ".join(argv[0] for argv in commands)
    run(*tool, "-c", DVC_BATCH, json.dumps(commands), env=env, what=f"dvc ({steps})")


def template_commit() -> str | None:
    """The template's commit, so `cruft update` knows what this repository was generated from."""
    if ANSWERS.get("_checkout"):
        return str(ANSWERS["_checkout"])
    repo_dir = Path(str(ANSWERS.get("_repo_dir", "")))
    if not repo_dir.is_absolute():  # a local template typed as a relative path
        repo_dir = Path(os.environ.get("PWD", PROJECT.parent)) / repo_dir
    return run_quietly("git", "-C", str(repo_dir), "rev-parse", "HEAD") or None


def write_answers() -> None:
    """The answers file that cruft reads to apply later template changes to this repository."""
    context = {key: value for key, value in ANSWERS.items() if not key.startswith("_")}
    context["_template"] = ANSWERS.get("_template")
    answers = {
        "template": ANSWERS.get("_template"),
        "commit": template_commit(),
        "checkout": ANSWERS.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": None,
        "skip": [".git", "data/raw", "params.yaml", "uv.lock"],
    }
    (PROJECT / ANSWERS_FILE).write_text(json.dumps(answers, indent=2) + "\n", encoding="utf-8")


def commit_identity() -> dict[str, str]:
    """Use the user's git identity; fall back to the template's author answers if none is set."""
    env = dict(os.environ)
    for key, answer in (("name", "author_name"), ("email", "author_email")):
        if not run_quietly("git", "config", f"user.{key}"):
            env.setdefault(f"GIT_AUTHOR_{key.upper()}", str(ANSWERS[answer]))
            env.setdefault(f"GIT_COMMITTER_{key.upper()}", str(ANSWERS[answer]))
    return env


def set_up(remote: Path) -> None:
    """Lay in the task, prune, then git, DVC and the first commit; the remote goes at `remote`."""
    apply_task(str(ANSWERS["task"]))
    prune_license(str(ANSWERS["license"]))
    write_answers()
    run("git", "init", "--quiet", "--initial-branch=main")
    raw_data, batches = data_paths()
    (PROJECT / batches).mkdir(parents=True, exist_ok=True)
    dvc(
        ["init", "--quiet"],
        ["config", "core.autostage", "true"],
        # Outside the working tree, beside it; CI and teams point DVC elsewhere (README).
        ["remote", "add", "--default", "local", str(remote)],
        ["add", "--quiet", raw_data, batches],
        ["push", "--quiet"],
    )
    run("git", "add", "--all")
    run(
        "git",
        "commit",
        "--quiet",
        "--message",
        "Initial commit from the MLOps template",
        env=commit_identity(),
    )


def main() -> int:
    slug = str(ANSWERS["project_slug"])
    remote = Path("..") / f"{slug}-dvc-remote"
    remote_is_ours = not (PROJECT / remote).exists()  # a folder that was there is not ours
    try:
        set_up(remote)
    except BaseException as failed:
        # cookiecutter removes the project directory when this hook fails; the remote is ours
        if remote_is_ours:
            shutil.rmtree(PROJECT / remote, ignore_errors=True)
        if not isinstance(failed, SetupFailed | OSError):
            raise  # a bug: its traceback says where
        print(f"ERROR: setting up the repository failed: {failed}", file=sys.stderr)
        return 1
    print(f"Generated {PROJECT}; DVC remote {(PROJECT / remote).resolve()}")
    print(f"Next: cd {slug} && make setup && make run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
