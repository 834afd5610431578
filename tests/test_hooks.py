"""Every answer is validated; each supported option set generates exactly the expected files."""

import json
import re
import subprocess
import sys
import tomllib
import types
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from conftest import TEMPLATE, UNRENDERED, CloudFormationLoader, bake, files_in
from cookiecutter.exceptions import FailedHookException

COMMON_FILES = {
    ".cruft.json",
    ".dockerignore",
    ".dvc/.gitignore",
    ".dvc/config",
    ".dvcignore",
    ".github/dependabot.yml",
    ".github/workflows/drift.yml",
    ".github/workflows/main.yml",
    ".github/workflows/monitor.yml",
    ".github/workflows/pr.yml",
    ".github/workflows/promote.yml",
    ".github/zizmor.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    ".python-version",
    "Dockerfile",
    "Makefile",
    "README.md",
    "data/.gitignore",
    "data/batches.dvc",
    "data/raw/.gitignore",
    "deploy/aws/stack.yaml",
    "deploy/aws/variables.py",
    "deploy/k8s/base/deployment.yaml",
    "deploy/k8s/base/hpa.yaml",
    "deploy/k8s/base/kustomization.yaml",
    "deploy/k8s/base/service.yaml",
    "deploy/k8s/components/environment/kustomization.yaml",
    "deploy/k8s/flux/production.yaml",
    "deploy/k8s/flux/staging.yaml",
    "deploy/k8s/overlays/production/kustomization.yaml",
    "deploy/k8s/overlays/staging/kustomization.yaml",
    "deploy/mlflow/Dockerfile",
    "deploy/mlflow/Dockerfile.dockerignore",
    "deploy/mlflow/check_schema.py",
    "deploy/mlflow/entrypoint.sh",
    "dvc.yaml",
    "environments/production.yaml",
    "environments/staging.yaml",
    "params.yaml",
    "pyproject.toml",
    "tests/conftest.py",
    "tests/data/sample.csv",  # the task's
    "tests/test_capture.py",
    "tests/test_compare.py",
    "tests/test_data.py",
    "tests/test_drift.py",
    "tests/test_evaluate.py",
    "tests/test_fairness.py",
    "tests/test_inference.py",
    "tests/test_integrity.py",
    "tests/test_monitor.py",
    "tests/test_pipeline.py",
    "tests/test_promote.py",
    "tests/test_proposal.py",
    "tests/test_report.py",
    "tests/test_serve.py",
    "tests/test_settings.py",
    "tests/test_stages.py",
    "tests/test_validate.py",
    "tests/test_weighted.py",
    "uv.lock",
}
PACKAGE_MODULES = (
    "__init__.py",
    "__main__.py",
    "capture.py",
    "charts.py",
    "cli.py",
    "compare.py",
    "contract.py",
    "data.py",
    "drift.py",
    "evaluate.py",
    "fairness.py",
    "inference.py",
    "integrity.py",
    "metrics.py",
    "monitor.py",
    "plots.py",
    "promote.py",
    "proposal.py",
    "report.py",
    "revisions.py",
    "schema.py",
    "serve.py",
    "settings.py",
    "tasks.py",
    "tracking.py",
    "train.py",
    "validate.py",
    "weighted.py",
)

# Supported option sets: readable id -> answers over the defaults.
OPTION_SETS: dict[str, dict[str, str]] = {
    "defaults-binary-mit-py311": {},
    "multiclass-apache-py312": {
        "task": "multiclass",
        "license": "Apache-2.0",
        "python_version": "3.12",
    },
    "regression-bsd-py313-own-names": {
        "task": "regression",
        "license": "BSD-3-Clause",
        "python_version": "3.13",
        "project_name": "Room Rates",
        "package_name": "rates",
        "model_name": "room-rate-predictor",
    },
    "proprietary": {"license": "Proprietary"},
}
# Each task's dataset, which the hook puts in data/raw/ and tracks with DVC.
RAW_DATA = {
    "binary": "data/raw/adult.csv",
    "multiclass": "data/raw/rodents.csv",
    "regression": "data/raw/hotel_rates.csv",
}
LICENSE_HEADERS = {
    "MIT": "MIT License",
    "Apache-2.0": "Apache License",
    "BSD-3-Clause": "BSD 3-Clause License",
}


# The composite actions are written once in the template's actions/ and copied whole.
ACTION_FILES = {
    f".github/actions/{path.relative_to(TEMPLATE / 'actions').as_posix()}"
    for path in (TEMPLATE / "actions").rglob("*")
    if path.is_file()
}


def expected_files(package: str, license_name: str, task: str) -> set[str]:
    files = COMMON_FILES | ACTION_FILES | {f"src/{package}/{module}" for module in PACKAGE_MODULES}
    files |= {RAW_DATA[task], f"{RAW_DATA[task]}.dvc"}
    return files | ({"LICENSE"} if license_name != "Proprietary" else set())


def git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module", params=list(OPTION_SETS), ids=list(OPTION_SETS))
def baked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    answers = OPTION_SETS[request.param]
    defaults = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    project = bake(tmp_path_factory.mktemp(request.param), **answers)
    return project, {
        "package_name": answers.get("package_name", "income_classifier"),
        "license": answers.get("license", defaults["license"][0]),
        "python_version": answers.get("python_version", defaults["python_version"][0]),
        "model_name": answers.get("model_name", "income-classifier"),
        "task": answers.get("task", defaults["task"][0]),
    }


def test_generates_exactly_the_expected_files(baked: Any) -> None:
    project, answers = baked
    expected = expected_files(answers["package_name"], answers["license"], answers["task"])
    assert files_in(project) == expected


def test_leaves_no_template_syntax(baked: Any) -> None:
    project, _ = baked
    for path in files_in(project):
        if path.endswith((".csv", ".png")):
            continue
        text = (project / path).read_text(encoding="utf-8")
        assert not re.search(UNRENDERED, text), f"unrendered template syntax in {path}"


def test_answers_reach_the_files_that_use_them(baked: Any) -> None:
    project, answers = baked
    assert (project / ".python-version").read_text().strip() == answers["python_version"]
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == project.name
    assert pyproject["tool"]["mypy"]["python_version"] == answers["python_version"]
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["mlflow"]["model_name"] == answers["model_name"]
    assert params["data"]["raw"] == RAW_DATA[answers["task"]]
    schema = (project / "src" / answers["package_name"] / "schema.py").read_text()
    assert f'TASK: Final = "{answers["task"]}"' in schema
    if answers["license"] == "Proprietary":
        assert "license" not in pyproject["project"]
    else:
        assert pyproject["project"]["license"] == answers["license"]
        header = (project / "LICENSE").read_text().lstrip().splitlines()[0]
        assert LICENSE_HEADERS[answers["license"]] in header


def test_is_a_committed_git_repository_on_main(baked: Any) -> None:
    project, answers = baked
    assert git(project, "branch", "--show-current") == "main"
    assert git(project, "rev-list", "--count", "HEAD") == "1"
    assert git(project, "status", "--porcelain") == "", "generation left uncommitted changes"
    tracked = git(project, "ls-files").splitlines()
    assert RAW_DATA[answers["task"]] not in tracked, "the data is in git, not DVC"


def test_action_scripts_are_committed_executable(baked: Any) -> None:
    project, _ = baked
    scripts = git(project, "ls-files", "--stage", "--", ".github/actions/*.sh").splitlines()
    assert scripts, "no action scripts committed"
    for entry in scripts:
        mode, *_, path = entry.split()
        assert mode == "100755", f"{path} is committed without its executable bit"


def test_data_is_tracked_by_dvc_and_pushed_outside_the_working_tree(baked: Any) -> None:
    project, answers = baked
    pointer = yaml.safe_load((project / f"{RAW_DATA[answers['task']]}.dvc").read_text())
    md5 = pointer["outs"][0]["md5"]
    remote = project.parent / f"{project.name}-dvc-remote"
    assert (remote / "files" / "md5" / md5[:2] / md5[2:]).is_file(), "the data was not pushed"
    assert not remote.resolve().is_relative_to(project.resolve())


def test_answers_file_lets_the_template_update_the_repository(baked: Any) -> None:
    project, answers = baked
    recorded = json.loads((project / ".cruft.json").read_text())
    assert Path(recorded["template"]) == TEMPLATE
    template_head = git(TEMPLATE, "rev-parse", "HEAD")
    assert recorded["commit"] == template_head, "cruft needs the template commit to diff from"
    context = recorded["context"]["cookiecutter"]
    assert context["package_name"] == answers["package_name"]
    assert context["license"] == answers["license"]


def test_free_text_survives_quotes_and_newlines(tmp_path: Path) -> None:
    description = 'Says "hi", \'bye\' and """ then\na second line with a \\ backslash'
    project = bake(
        tmp_path,
        project_name='The "Best" Model',
        project_slug="best-model",
        author_name='O\'Brien "Ob" Smith',
        description=description,
    )

    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == description.replace("\n", " ")
    assert pyproject["project"]["authors"][0]["name"] == 'O\'Brien "Ob" Smith'
    readme = (project / "README.md").read_text()
    assert '# The "Best" Model' in readme and description in readme
    context = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    assert context["description"] == description


# How each structured file format of a generated project is parsed: (text, path) -> anything.
PARSERS: dict[str, Any] = {
    ".toml": lambda text, _: tomllib.loads(text),
    ".lock": lambda text, _: tomllib.loads(text),  # uv.lock
    ".yml": lambda text, _: list(yaml.safe_load_all(text)),
    # deploy/aws/stack.yaml is CloudFormation, with its short tags (!Ref, !Sub...)
    ".yaml": lambda text, _: list(yaml.load_all(text, Loader=CloudFormationLoader)),
    ".dvc": lambda text, _: yaml.safe_load(text),
    ".json": lambda text, _: json.loads(text),
    ".py": lambda text, path: compile(text, path, "exec"),
}


def test_free_text_beyond_the_basic_plane_survives_in_every_format(tmp_path: Path) -> None:
    # given characters outside the Basic Multilingual Plane (which JSON escapes as surrogate
    # pairs, and TOML does not accept so) in every free-text answer
    name, author, email = "Rocket 🚀 Model 𓂀", "Zoë 🦄 Ng", "zoë🦄@exämple.org"
    description = 'Launches 🚀 models "fast" \\ fine;\nthen 𠀋'
    project = bake(
        tmp_path,
        project_name=name,
        project_slug="rocket-model",
        description=description,
        author_name=author,
        author_email=email,
    )

    # then every TOML, YAML, JSON and Python file parses, and the text is there unchanged
    parsed = 0
    for path in sorted(files_in(project)):
        parse = PARSERS.get(Path(path).suffix)
        if parse:
            parse((project / path).read_text(encoding="utf-8"), path)
            parsed += 1
    assert parsed > 50, f"only {parsed} files were parsed"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["description"] == description.replace("\n", " ")
    assert pyproject["project"]["authors"] == [{"name": author, "email": email}]
    context = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    assert [context[key] for key in ("project_name", "description", "author_name")] == [
        name,
        description,
        author,
    ]
    assert context["author_email"] == email
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert f"# {name}\n\n{description}\n" in readme
    assert author in (project / "LICENSE").read_text(encoding="utf-8").splitlines()[2]
    # and uv takes the project's metadata, as `make check` will
    subprocess.run(["uv", "lock", "--check", "--offline"], cwd=project, check=True)


def test_commits_as_the_author_when_git_has_no_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a machine where git knows no user (a fresh CI runner, a new laptop)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for variable in ("NAME", "EMAIL"):
        monkeypatch.delenv(f"GIT_AUTHOR_{variable}", raising=False)
        monkeypatch.delenv(f"GIT_COMMITTER_{variable}", raising=False)

    project = bake(tmp_path / "out", author_name="Ada Lovelace", author_email="ada@example.org")

    assert git(project, "log", "--format=%an <%ae>") == "Ada Lovelace <ada@example.org>"


def test_a_failure_after_generation_removes_the_project_and_its_dvc_remote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # given an identity git refuses, so that the initial commit (the last step, after the data
    # was pushed to the DVC remote beside the project) fails
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "<>")
    output_dir = tmp_path / "out"
    output_dir.mkdir()

    with pytest.raises(FailedHookException):
        bake(output_dir)

    # then one line of ours says which step failed and why, and nothing is left behind
    assert capfd.readouterr().err.splitlines() == [
        "ERROR: setting up the repository failed: `git commit` exited 128: "
        "fatal: name consists only of disallowed characters: <>"
    ]
    assert list(output_dir.iterdir()) == [], "the project or its DVC remote was left behind"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "files escaped the output dir"


def test_a_failure_after_generation_keeps_a_dvc_remote_that_was_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a DVC remote folder beside where the project goes, from an earlier project
    remote = tmp_path / "income-classifier-dvc-remote"
    remote.mkdir()
    (remote / "earlier").write_text("data pushed before\n")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "<>")

    # when generation fails after pushing into it
    with pytest.raises(FailedHookException):
        bake(tmp_path)

    # then the project is gone, but not the folder the hook did not make
    assert sorted(p.name for p in tmp_path.iterdir()) == [remote.name]
    assert (remote / "earlier").read_text() == "data pushed before\n"


# (answers, what the one-line error must say)
REJECTED: dict[str, tuple[dict[str, str], str]] = {
    "slug-with-space": ({"project_slug": "my project"}, "is not a repository name"),
    # cookiecutter names the project's directory after the slug before the pre-generation hook
    # runs: these must be refused before that
    "slug-empty": ({"project_slug": ""}, "project_slug '' is not a repository name"),
    "slug-spaces": ({"project_slug": "   "}, "project_slug '   ' is not a repository name"),
    "slug-too-long": (
        {"project_slug": "a" * 300, "package_name": "a"},
        "project_slug is 300 characters long: at most 64 are accepted",
    ),
    "slug-dependency": (
        {"project_slug": "mlflow", "package_name": "tracking_model"},
        "project_slug 'mlflow' is the name of one of the project's dependencies",
    ),
    "slug-path-traversal": (
        {"project_slug": "../escape", "package_name": "escape"},
        "is not a repository name",
    ),
    "slug-uppercase": ({"project_slug": "MyProject"}, "is not a repository name"),
    "slug-leading-hyphen": ({"project_slug": "-model"}, "is not a repository name"),
    "slug-shell-injection": (
        {"project_slug": "x$(touch pwned)", "package_name": "x"},
        "is not a repository name",
    ),
    "package-keyword": ({"package_name": "class"}, "is a Python keyword"),
    "package-soft-keyword": ({"package_name": "match"}, "is a Python keyword"),
    "package-stdlib": ({"package_name": "json"}, "would shadow the standard library"),
    # in 3.11's standard library, gone from 3.13's: every supported Python counts
    "package-stdlib-of-an-older-python": (
        {"package_name": "distutils"},
        "would shadow the standard library",
    ),
    "package-startup-module": ({"package_name": "sitecustomize"}, "imports at start-up"),
    "package-dependency": ({"package_name": "pandas"}, "would shadow the dependency pandas"),
    # transitive dependencies, and an import name unlike its package's name
    "package-transitive-dependency": (
        {"package_name": "joblib"},
        "would shadow the dependency joblib",
    ),
    "package-typing-extensions": (
        {"package_name": "typing_extensions"},
        "would shadow the dependency typing-extensions",
    ),
    "package-sklearn": ({"package_name": "sklearn"}, "would shadow the dependency scikit-learn"),
    "package-project-tests": ({"package_name": "tests"}, "taken by the project's own tests"),
    "package-hyphen": ({"package_name": "my-model"}, "is not a Python package name"),
    "package-uppercase": ({"package_name": "Model"}, "is not a Python package name"),
    "package-code-injection": (
        {"package_name": "x; import os"},
        "is not a Python package name",
    ),
    "model-name-spaces": ({"model_name": "my model"}, "is not a registry name"),
    "email-invalid": ({"author_email": "not-an-email"}, "is not an email address"),
    "name-empty": ({"project_name": " ", "project_slug": "x-model"}, "project_name is empty"),
    "name-newline": (
        {"project_name": "Two\nLines", "project_slug": "two-lines"},
        "contains a newline",
    ),
    "name-too-long": ({"project_name": "x" * 200, "project_slug": "x-model"}, "at most 120"),
    "author-newline": ({"author_name": "A\nB"}, "contains a newline"),
    "description-empty": ({"description": ""}, "description is empty"),
    "description-control-char": ({"description": "bell\x07"}, "control characters"),
}


@pytest.mark.parametrize("case", list(REJECTED), ids=list(REJECTED))
def test_rejects_bad_answers_and_leaves_nothing(case: str, tmp_path: Path) -> None:
    answers, message = REJECTED[case]
    output_dir = tmp_path / "out"
    output_dir.mkdir()

    # refused once the prompts are answered, before cookiecutter creates anything
    with pytest.raises(SystemExit) as rejected:
        bake(output_dir, **answers)

    error = str(rejected.value.code)
    assert error.startswith("ERROR: ") and "\n" not in error, f"not one line of ours: {error!r}"
    assert message in error, f"expected {message!r} in {error!r}"
    assert list(output_dir.iterdir()) == [], "a rejected answer left files behind"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "files escaped the output dir"


@pytest.mark.parametrize(
    "slug", ["", "   ", "a" * 300, "../escape"], ids=["empty", "spaces", "300-long", "traversal"]
)
def test_the_command_line_rejects_a_bad_slug_in_one_line(slug: str, tmp_path: Path) -> None:
    # given the slug cookiecutter would name the project's directory after
    # when a user generates with it from the command line
    answers = (f"project_slug={slug}", "package_name=model")
    completed = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE), *answers],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    # then one line of ours says so, and no traceback or "directory already exists"
    lines = (completed.stdout + completed.stderr).splitlines()
    assert completed.returncode == 1 and len(lines) == 1, lines
    assert lines[0].startswith("ERROR: project_slug "), lines[0]
    assert list(tmp_path.iterdir()) == [], "a rejected answer left files behind"


def test_the_hook_rejects_in_one_line_on_its_own(capfd: pytest.CaptureFixture[str]) -> None:
    # answers that bypass the prompts (a replay file, the API) meet the same checks in the hook
    hook = load_rendered_hook(project_slug="")

    assert hook.main() == 1
    assert capfd.readouterr().err.splitlines() == [
        "ERROR: project_slug '' is not a repository name: use lowercase letters, digits and "
        "single hyphens, starting with a letter, at most 64 characters (for example 'churn-model')"
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("python_version", "3.10"),
        ("python_version", "3.14"),
        ("license", "GPL-3.0"),
        ("task", "ranking"),
    ],
    ids=["python-too-old", "python-unreleased", "license-unknown", "task-unknown"],
)
def test_rejects_an_unsupported_choice(variable: str, value: str, tmp_path: Path) -> None:
    # cookiecutter refuses a value outside a choice list before any hook runs
    with pytest.raises(ValueError, match=f"{re.escape(value)} provided for choice variable"):
        bake(tmp_path, **{variable: value})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [("python_version", "3.10"), ("license", "GPL-3.0"), ("task", "multilabel")],
    ids=["python-version", "license", "task"],
)
def test_hook_rejects_an_unsupported_choice_on_its_own(variable: str, value: str) -> None:
    # the hook checks choices too, for answers that bypass the prompt (replay files, API use)
    hook = load_rendered_hook()
    answers = {**hook.rendered_answers(), variable: value}

    with pytest.raises(hook.Rejected, match=f"{variable} '{re.escape(value)}' is not supported"):
        hook.validate(answers)


def load_rendered_hook(**answers: str) -> Any:
    """The pre-generation hook rendered with `answers` over the defaults, imported as a module."""
    context = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    defaults = {
        "project_name": context["project_name"],
        "project_slug": "income-classifier",
        "package_name": "income_classifier",
        "description": context["description"],
        "author_name": context["author_name"],
        "author_email": context["author_email"],
        "python_version": context["python_version"][0],
        "model_name": "income-classifier",
        "task": context["task"][0],
        "license": context["license"][0],
    } | answers
    source = jinja2.Template((TEMPLATE / "hooks" / "pre_gen_project.py").read_text())
    namespace: dict[str, Any] = {"__name__": "pre_gen_project"}
    exec(compile(source.render(cookiecutter=defaults), "pre_gen_project.py", "exec"), namespace)
    return types.SimpleNamespace(**namespace)


def test_the_tasks_params_agree_outside_what_the_task_decides() -> None:
    # each task's params.yaml is a whole file; outside the data's path, the estimator's
    # hyperparameters and the evaluation, a change to one must reach the others
    def shared(task: str) -> dict[str, Any]:
        path = TEMPLATE / "{{cookiecutter.project_slug}}" / "tasks" / task / "params.yaml"
        text = jinja2.Template(path.read_text()).render(cookiecutter={"model_name": "m"})
        params = yaml.safe_load(text)
        del params["data"]["raw"], params["train"]["model"], params["evaluate"]
        return dict(params)

    assert shared("multiclass") == shared("binary")
    assert shared("regression") == shared("binary")
