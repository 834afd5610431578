"""Turn the rendered files into a working repository: the task's files laid in place, prune,
then, when a repository is being created, the answers file, git init, dvc init, first commit.

Runs inside the generated project. DVC comes from the project's own lock (through uv), so the
version that initialises the repository is the version the pipeline runs with.

If any step fails, the DVC remote this hook made beside the project is removed and the hook
exits non-zero, upon which cookiecutter removes the project directory: nothing is left behind.

`cruft update` and `cruft diff` run this hook too. cruft applies a template change by rendering
the template twice with the repository's answers (at the commit `.cruft.json` records and at the
newer one) and applying the difference between the two renders to the repository with `git
apply -3`. In such a render only the steps that lay out files run (the task laid in, the other
licenses pruned), so each render holds exactly the files the template gives a repository, and
`cruft diff` finds nothing in a new one. The one-time set-up (the answers file, git, DVC and its
remote, the data pushed, the first commit) belongs to creation: in a render it pushed to a
throw-away remote and put `.git/index` and `.dvc/tmp/` in the diff, which then failed to apply.

How a render is told from a creation, with cruft 2.16. Nothing explicit can say it: cruft sets no
environment variable; a flag in `.cruft.json` would have to be a prompted answer (cruft passes
back no others), and `cruft create` writes that file itself, after this hook. What does: cruft
renders for update and diff in `_generate_output` (cruft/_commands/utils/generate.py) into a
fresh `tempfile.TemporaryDirectory()`, so the project is
`<tempfile.gettempdir()>/tmpXXXXXXXX/<slug>`, eight characters from `[a-z0-9_]`; and the answers
hold `_commit`, which cruft adds and cookiecutter does not. A repository is created where its
user asks: plain cookiecutter never matches, nor `cruft create` into a folder of one's own
(`mktemp -d` makes `tmp.XXXXXXXXXX`); only `cruft create` into a bare `TemporaryDirectory()`
would, and it says so on stderr. If cruft renders elsewhere one day, the set-up runs in renders
again and tests/test_update.py fails.

The answers file is cruft's, byte for byte (cruft/_commands/create.py and utils/cruft.py):
`cruft create` rewrites it after this hook has committed, so the hook writes what cruft will
(its keys, its layout, the answers in cookiecutter.json's order) and the repository stays clean;
`--checkout` is the one thing it cannot see (then `.cruft.json` shows the reference, to commit).
Under plain cookiecutter it records what cruft would have: the template's URL or absolute path
and its commit; from a copy that is not a git checkout there is no commit, so no file, and
generation says to `cruft link` instead. What an update must leave alone (the data) is
`[tool.cruft] skip` in the project's pyproject.toml, which cruft reads too and `cruft create`
cannot drop; and only there: with a `skip` in `.cruft.json` as well, cruft 2.16 appends this
one to it twice at every update (`_get_skip_paths` extends the list it read).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import yaml  # cookiecutter's own dependency, like the two below
from cookiecutter.config import BUILTIN_ABBREVIATIONS
from cookiecutter.repository import expand_abbreviations, is_repo_url

# `tojson` sorts a mapping's keys; as pairs the answers keep cookiecutter.json's order, the
# order cruft writes them in.
ANSWERS: dict[str, object] = dict(
    json.loads(
        r"""[{%- for key, value in cookiecutter.items() %}
        [{{ key | tojson }}, {{ value | tojson }}]{{ "," if not loop.last }}
        {%- endfor %}]"""
    )
)

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


def template_source() -> tuple[str, str | None]:
    """Where plain cookiecutter took the template from, as cruft records it (a URL, or a local
    folder's absolute path), and its commit; None when it is not a git checkout (a zip file)."""
    template = expand_abbreviations(str(ANSWERS["_template"]), BUILTIN_ABBREVIATIONS)
    repo_dir = Path(str(ANSWERS["_repo_dir"]))  # the clone, or the local folder as typed
    if not repo_dir.is_absolute():
        repo_dir = Path(os.environ.get("PWD", PROJECT.parent)) / repo_dir
    if not is_repo_url(template):
        template = str(repo_dir.resolve())
    top = run_quietly("git", "-C", str(repo_dir), "rev-parse", "--show-toplevel")
    if not top or Path(top).resolve() != repo_dir.resolve():  # not a checkout of its own
        return template, None
    return template, run_quietly("git", "-C", str(repo_dir), "rev-parse", "HEAD") or None


def answers_file() -> dict[str, object] | None:
    """`.cruft.json` as cruft writes it: the template, its commit, and the answers."""
    if "_commit" in ANSWERS:  # cruft create: its own answers; it writes this file after us
        return record(str(ANSWERS["_template"]), str(ANSWERS["_commit"]), None, ANSWERS)
    # cookiecutter: what cruft would have recorded, less cookiecutter's own run details
    template, commit = template_source()
    if commit is None:
        return None
    unrecorded = ("_output_dir", "_repo_dir", "_checkout")
    context = {key: value for key, value in ANSWERS.items() if key not in unrecorded}
    context |= {"_template": template, "_commit": commit}
    return record(template, commit, ANSWERS.get("_checkout"), context)


def record(
    template: str, commit: str, checkout: object, context: dict[str, object]
) -> dict[str, object]:
    """cruft's keys, in cruft's order (cruft/_commands/create.py)."""
    return {
        "template": template,
        "commit": commit,
        "checkout": checkout,
        "context": {"cookiecutter": context},
        "directory": None,
    }


def write_answers() -> None:
    """The answers file that cruft reads to apply later template changes to this repository,
    in cruft's own layout (cruft/_commands/utils/cruft.py: json_dumps)."""
    answers = answers_file()
    if answers is None:
        print(
            f"WARNING: {ANSWERS['_template']} is not a git checkout, so no .cruft.json: to "
            "receive template updates, run `uvx cruft@2.16.0 link <template-url> --checkout "
            "<commit>` in the repository and commit .cruft.json",
            file=sys.stderr,
        )
        return
    text = json.dumps(answers, ensure_ascii=False, indent=2, separators=(",", ": ")) + "\n"
    (PROJECT / ANSWERS_FILE).write_text(text, encoding="utf-8")


def commit_identity() -> dict[str, str]:
    """Use the user's git identity; fall back to the template's author answers if none is set."""
    env = dict(os.environ)
    for key, answer in (("name", "author_name"), ("email", "author_email")):
        if not run_quietly("git", "config", f"user.{key}"):
            env.setdefault(f"GIT_AUTHOR_{key.upper()}", str(ANSWERS[answer]))
            env.setdefault(f"GIT_COMMITTER_{key.upper()}", str(ANSWERS[answer]))
    return env


def lay_out() -> None:
    """The files the template gives a repository: the task laid in, one license kept."""
    apply_task(str(ANSWERS["task"]))
    prune_license(str(ANSWERS["license"]))


def rendered_for_cruft_to_compare() -> bool:
    """cruft update or diff renders the template, rather than anyone creating a repository
    (how this is told: the module docstring)."""
    folder = PROJECT.parent
    return (
        "_commit" in ANSWERS
        and folder.parent == Path(tempfile.gettempdir()).resolve()
        and re.fullmatch(r"tmp[a-z0-9_]{8}", folder.name) is not None
    )


def set_up(remote: Path) -> None:
    """The one-time set-up: answers file, git, DVC and the first commit; the remote at `remote`."""
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
    if rendered_for_cruft_to_compare():
        lay_out()
        # stderr: `cruft diff` prints the diff on stdout, where a user may save it as a patch
        print(
            f"Rendered for cruft to compare, in {PROJECT}: no git, DVC or commit", file=sys.stderr
        )
        return 0
    slug = str(ANSWERS["project_slug"])
    remote = Path("..") / f"{slug}-dvc-remote"
    remote_is_ours = not (PROJECT / remote).exists()  # a folder that was there is not ours
    try:
        lay_out()
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
