"""Workflows and actions, the template's own and a generated repository's, checked statically.

The linters must find nothing, and the rules that no linter checks are asserted here: every
remote action pinned to a commit with its version, nothing granted by default, a timeout on
every job, no `${{ }}` expanded inside shell, and every action input and output documented.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import TEMPLATE, bake, run
from triggers import triggered

BIN = Path(sys.executable).parent  # the linters are pinned in this template's own environment
GENERATED = TEMPLATE / "{{cookiecutter.project_slug}}"
# (where, path): "template" files are checked in place, "generated" ones in a baked project.
WORKFLOWS = [
    ("template", path.relative_to(TEMPLATE).as_posix())
    for path in sorted((TEMPLATE / ".github" / "workflows").glob("*.yml"))
]
WORKFLOWS += [
    ("generated", path.relative_to(GENERATED).as_posix())
    for path in sorted((GENERATED / ".github" / "workflows").glob("*.yml"))
]
ACTIONS = sorted(path.parent.name for path in (TEMPLATE / "actions").glob("*/action.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
USES = re.compile(r"^\s*(?:- )?uses:\s*(.+)$")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("static"))


def root_of(where: str, generated: Path) -> Path:
    return TEMPLATE if where == "template" else generated


def lint(root: Path, *command: str) -> None:
    completed = subprocess.run(
        command, cwd=root, capture_output=True, text=True, check=False, timeout=120
    )
    assert completed.returncode == 0, (
        f"`{' '.join(command)}` in {root}:\n{completed.stdout}{completed.stderr}"
    )


@pytest.fixture(params=WORKFLOWS, ids=[f"{where}:{Path(path).name}" for where, path in WORKFLOWS])
def workflow(request: pytest.FixtureRequest, generated: Path) -> tuple[Path, str, dict]:
    where, relative = request.param
    root = root_of(where, generated)
    return root, relative, yaml.safe_load((root / relative).read_text())


@pytest.fixture(params=ACTIONS)
def action(request: pytest.FixtureRequest, generated: Path) -> tuple[Path, dict]:
    path = generated / ".github" / "actions" / request.param / "action.yml"
    return path, yaml.safe_load(path.read_text())


def test_actionlint_finds_nothing(workflow: tuple[Path, str, dict]) -> None:
    root, relative, _ = workflow  # run from the root, so that local actions' inputs are checked
    lint(root, str(BIN / "actionlint"), "-no-color", relative)


def test_schemas_accept_workflows(workflow: tuple[Path, str, dict]) -> None:
    root, relative, _ = workflow
    lint(root, str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
         relative)  # fmt: skip


def test_schemas_accept_actions_and_dependabot(generated: Path) -> None:
    actions = sorted(str(path) for path in generated.glob(".github/actions/*/action.yml"))
    assert len(actions) == len(ACTIONS), "the generated repository lacks an action"
    lint(generated, str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-actions",
         *actions)  # fmt: skip
    lint(generated, str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.dependabot",
         ".github/dependabot.yml")  # fmt: skip


@pytest.mark.parametrize("where", ["template", "generated"])
def test_zizmor_finds_nothing(where: str, generated: Path) -> None:
    # workflows, actions and Dependabot settings, with the repository's own zizmor.yml, as the
    # auditor persona sees them (every finding, whatever its confidence)
    lint(root_of(where, generated), str(BIN / "zizmor"), "--offline", "--persona", "auditor", ".")


def needed_permissions(job: dict) -> dict[str, str]:
    """What a job's GITHUB_TOKEN must allow for the steps it has (App tokens are separate)."""
    needed = {}
    for step in job.get("steps", []):
        uses, given = step.get("uses", ""), step.get("with", {})
        if uses.startswith("actions/checkout@"):
            needed["contents"] = "read"
        if uses == "./.github/actions/setup-project" and given.get("aws-role-to-assume"):
            needed["id-token"] = "write"  # OIDC
        if uses == "./.github/actions/post-report" and given.get("comment") != "false":
            needed["pull-requests"] = "write"  # the report comment, with github.token
        if uses.startswith("docker/build-push-action@") and given.get("push") is True:
            needed["packages"] = "write"  # GitHub's container registry
    return needed


def test_grants_nothing_by_default_and_each_job_only_what_it_needs(
    workflow: tuple[Path, str, dict],
) -> None:
    _, relative, parsed = workflow
    assert parsed["permissions"] == {}, f"{relative}: top-level permissions must be {{}}"
    for name, job in parsed["jobs"].items():
        assert job.get("permissions") == needed_permissions(job), (
            f"{relative}: job {name} must be granted exactly what its steps use"
        )
        assert isinstance(job.get("timeout-minutes"), int), f"{relative}: {name} has no timeout"


RELEASE_SECRETS = ("RELEASE_APP_PRIVATE_KEY", "MLFLOW_TRACKING_PASSWORD")


def test_release_secrets_are_read_only_in_environments_that_deploy_from_main(
    workflow: tuple[Path, str, dict],
) -> None:
    # pr.yml's jobs run for any branch, and monitor.yml's judgement assumes the monitoring role,
    # which trusts main's `sub` and not an environment's: they read only the repository-level
    # tracking password (README: a user who may log runs and read models), never the App's key
    _, relative, parsed = workflow
    for name, job in parsed["jobs"].items():
        text = json.dumps(job)
        read = [secret for secret in RELEASE_SECRETS if f"secrets.{secret}" in text]
        if relative.endswith("pr.yml") or (relative.endswith("monitor.yml") and name == "judge"):
            assert "RELEASE_APP_PRIVATE_KEY" not in read, f"{relative}: {name} reads the App's key"
        elif read:
            assert job.get("environment") in ("release", "production"), (
                f"{relative}: job {name} reads {read} outside the release environments"
            )


def test_writes_are_explained(workflow: tuple[Path, str, dict]) -> None:
    root, relative, _ = workflow
    for line in (root / relative).read_text().splitlines():
        if re.match(r"^\s+[\w-]+: write\b", line):
            assert "#" in line, f"{relative}: a write permission without its reason: {line}"


def test_every_workflow_says_which_runs_may_overlap(workflow: tuple[Path, str, dict]) -> None:
    _, relative, parsed = workflow
    assert parsed.get("concurrency", {}).get("group"), f"{relative}: no concurrency group"


def test_jobs_that_train_run_where_training_runner_says(workflow: tuple[Path, str, dict]) -> None:
    _, relative, parsed = workflow
    for name, job in parsed["jobs"].items():
        uses = [step.get("uses", "") for step in job.get("steps", [])]
        if "./.github/actions/run-pipeline" in uses:
            assert job["runs-on"] == "${{ vars.TRAINING_RUNNER || 'ubuntu-latest' }}", (
                f"{relative}: {name} trains, so it runs on the TRAINING_RUNNER variable's runner"
            )


def test_jobs_reach_their_stores_with_the_variables_and_oidc(
    workflow: tuple[Path, str, dict],
) -> None:
    # Every job that reaches the DVC remote assumes the AWS role (id-token: write, no stored
    # keys) and honours an S3-compatible endpoint; every job that reaches MLflow passes its auth.
    _, relative, parsed = workflow
    for name, job in parsed["jobs"].items():
        for step in job.get("steps", []):
            if step.get("uses") != "./.github/actions/setup-project":
                continue
            given = step.get("with", {})
            if "dvc-remote-url" in given:
                # The role of its kind, whose trust policy admits that job's OIDC `sub`
                # (deploy/aws/stack.yaml): a pull request's, an environment's, main's.
                kind = ("PR" if relative.endswith("pr.yml")
                        else "RELEASE" if job.get("environment") else "MONITOR")  # fmt: skip
                role = f"vars.AWS_{kind}_ROLE_ARN"
                assert role in given.get("aws-role-to-assume", ""), (relative, name, role)
                assert given.get("s3-endpoint-url") == "${{ vars.S3_ENDPOINT_URL }}", relative
                assert given.get("aws-region") == "${{ vars.AWS_REGION }}", relative
                assert job["permissions"].get("id-token") == "write", f"{relative}: {name}"
            if "mlflow-tracking-uri" in given:
                assert given.get("mlflow-tracking-username") == (
                    "${{ vars.MLFLOW_TRACKING_USERNAME }}"
                ), f"{relative}: {name}"
                assert given.get("mlflow-tracking-password") == (
                    "${{ secrets.MLFLOW_TRACKING_PASSWORD }}"
                ), f"{relative}: {name}"


def test_the_readme_sets_up_every_variable_the_workflows_read(generated: Path) -> None:
    # "Set up GitHub" has a row for each repository variable (the AWS roles among them, which
    # deploy/aws/'s stack outputs): a variable read but not documented is never set.
    workflows = generated.glob(".github/workflows/*.yml")
    read = {name for path in workflows for name in re.findall(r"vars\.(\w+)", path.read_text())}
    rows = re.findall(r"^\| `(\w+)` \|", (generated / "README.md").read_text(), re.MULTILINE)
    assert read and read <= set(rows), f"not in the README's table: {read - set(rows)}"


def test_pins_every_remote_action_to_a_commit_with_its_version(generated: Path) -> None:
    paths = [root_of(where, generated) / relative for where, relative in WORKFLOWS]
    paths += sorted(generated.glob(".github/actions/*/action.yml"))
    for path in paths:
        for line in path.read_text().splitlines():
            match = USES.match(line)
            if match and not match[1].startswith("./"):
                assert PINNED.match(match[1]), f"{path}: not pinned to a SHA: {match[1]}"


def test_never_expands_expressions_inside_shell(workflow: tuple[Path, str, dict]) -> None:
    _, relative, parsed = workflow
    for name, job in parsed["jobs"].items():
        for step in job.get("steps", []):
            assert step.get("name"), f"{relative}: a step of {name} has no name"
            assert "${{" not in step.get("run", ""), f"{relative}: {name} expands into run:"
            if "uses" in step and step["uses"].startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False


def test_actions_document_every_input_and_output(action: tuple[Path, dict]) -> None:
    path, parsed = action
    name = path.parent.name
    assert (path.parent / "README.md").is_file(), f"{name} has no README"
    for key, spec in parsed.get("inputs", {}).items():
        assert spec.get("description"), f"{name}: input {key} is undocumented"
        assert "required" in spec, f"{name}: input {key} does not say whether it is required"
        if not spec["required"]:
            assert isinstance(spec.get("default"), str), f"{name}: {key} needs a quoted default"
    for key, spec in parsed.get("outputs", {}).items():
        assert spec.get("description"), f"{name}: output {key} is undocumented"
        assert re.fullmatch(r"\$\{\{ steps\.[\w-]+\.outputs\.[\w-]+ \}\}", spec["value"]), key
    readme = (path.parent / "README.md").read_text()
    for key in [*parsed.get("inputs", {}), *parsed.get("outputs", {})]:
        assert f"`{key}`" in readme, f"{name}: README does not describe {key}"


def test_action_steps_keep_inputs_out_of_shell(action: tuple[Path, dict]) -> None:
    path, parsed = action
    for step in parsed["runs"]["steps"]:
        assert step.get("name"), f"{path.parent.name}: a step has no name"
        if "run" in step:
            assert step.get("shell") == "bash", f"{path.parent.name}: {step['name']} no shell"
            assert "${{" not in step["run"], f"{path.parent.name}: {step['name']} expands in run:"


@pytest.mark.parametrize(
    ("branch", "changed", "started"),
    [
        ("main", "params.yaml", ["main.yml"]),  # a model change releases
        ("main", "README.md", ["main.yml"]),  # so does any other merge: it may retrain
        ("main", "environments/production.yaml", ["promote.yml"]),  # a promotion deploys only
        ("main", "environments/staging.yaml", []),  # staging's record is the bot's branch
        ("deploy/staging", "environments/staging.yaml", []),  # the bot's branch starts nothing
    ],
)
def test_a_push_starts_the_workflows_its_branch_and_files_call_for(
    generated: Path, tmp_path: Path, branch: str, changed: str, started: list[str]
) -> None:
    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "--quiet", str(generated), clone.name)
    run(clone, "git", "checkout", "--quiet", "-B", branch)
    before = run(clone, "git", "rev-parse", "HEAD").stdout.strip()
    with (clone / changed).open("a", encoding="utf-8") as edited:
        edited.write("\n# edited\n")
    run(clone, "git", "commit", "--quiet", "--all", "--message", f"Edit {changed}")
    after = run(clone, "git", "rev-parse", "HEAD").stdout.strip()

    push = {"ref": f"refs/heads/{branch}", "before": before, "after": after}
    assert triggered(clone, "push", push) == started


def test_has_workflows_and_actions_to_check() -> None:
    assert {where for where, _ in WORKFLOWS} == {"template", "generated"}
    assert ACTIONS, "no action found"
