"""The generated `pr.yml`, run for real under `act` on a generated repository.

A module fixture plays GitHub: a generated repository whose `main` has a trained model and
whose DVC remote holds its data and run cache. Each test clones it as CI would (no `.venv`, no
DVC cache), opens a pull request branch, and runs the workflow's model job with stand-ins for
the remote actions, `cml` and the GitHub API. An MLflow store outside the job shows what the
job logged.
"""

import json
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import mermaid_charts, run
from standins.github_api import GITHUB_TOKEN, GitHubState, github_api
from workflow_runs import (
    CONFLICT,
    REPOSITORY,
    WorkflowRun,
    pull_request_event,
    run_workflow,
    trained_repository,
)

pytestmark = pytest.mark.slow

PUSHING = "Pushing the outputs and run cache to the DVC remote"  # run-pipeline says so


@dataclass(frozen=True)
class GitHub:
    origin: Path  # the repository on "GitHub": main trained, committed, pushed
    dvc_remote: Path
    api: GitHubState
    scratch: Path


@dataclass(frozen=True)
class PullRequest:
    number: int
    clone: Path  # the developer's clone, where the branch is made and pushed from
    base: str

    @property
    def branch(self) -> str:
        return f"change-{self.number}"


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHub]:
    root = tmp_path_factory.mktemp("github")
    origin = trained_repository(root)
    with github_api() as (_, state):
        yield GitHub(origin, root / f"{origin.name}-dvc-remote", state, root)


def open_pull_request(github: GitHub, number: int, change: Callable[[Path], None]) -> PullRequest:
    """A developer clones, commits `change` on a branch and pushes it (its data too)."""
    clone = github.scratch / f"developer-{number}"
    run(github.scratch, "git", "clone", "--quiet", str(github.origin), clone.name)
    base = run(clone, "git", "rev-parse", "HEAD").stdout.strip()
    pr = PullRequest(number, clone, base)
    run(clone, "git", "checkout", "--quiet", "-b", pr.branch)
    push_change(github, pr, change)
    return pr


def push_change(github: GitHub, pr: PullRequest, change: Callable[[Path], None]) -> None:
    change(pr.clone)
    run(pr.clone, "git", "commit", "--quiet", "--all", "--message", f"Change for #{pr.number}")
    run(pr.clone, "git", "push", "--quiet", "origin", pr.branch)


def dvc(github: GitHub, clone: Path, *args: str) -> None:
    """DVC as the developer runs it (the origin's environment: the clone needs no other)."""
    run(clone, str(github.origin / ".venv" / "bin" / "dvc"), *args)


def run_pr_workflow(
    github: GitHub,
    pr: PullRequest,
    *,
    fork: bool = False,
    job: str | None = "model",
    runner: str = "ubuntu-latest",
    cml: bool = True,
    **variables: str,
) -> WorkflowRun:
    """Run pr.yml for the pushed branch, as GitHub does (its model job, unless `job` is None:
    then every job; without `cml`, on a runner where CML cannot be installed)."""
    attempt = len(list(github.scratch.glob(f"act-{pr.number}-*")))
    head = run(github.origin, "git", "rev-parse", pr.branch).stdout.strip()
    event = pull_request_event(pr.number, pr.branch, head, pr.base, fork=fork)
    return run_workflow(
        github.origin,
        "pr.yml",
        event,
        github.scratch / f"act-{pr.number}-{attempt}",
        api=github.api,
        job=job,
        variables={"DVC_REMOTE_URL": str(github.dvc_remote)} | variables,
        runner=runner,
        cml=cml,
    )


def remote_files(github: GitHub, folder: str | None = None) -> set[Path]:
    """The DVC remote's files: those of its `folder`, or with none those outside pull-requests/
    (where main.yml restores from)."""
    root = github.dvc_remote / folder if folder else github.dvc_remote
    files = {path.relative_to(root) for path in root.rglob("*") if path.is_file()}
    return files if folder else {path for path in files if path.parts[0] != "pull-requests"}


def tracking_uri(github: GitHub) -> str:
    return f"sqlite:///{github.scratch / 'mlflow.db'}"


def logged_runs(github: GitHub) -> list[dict[str, object]]:
    """Runs in the store the workflow logged to, read with the generated project's MLflow."""
    if not (github.scratch / "mlflow.db").exists():
        return []
    script = textwrap.dedent(
        f"""
        import json, mlflow
        mlflow.set_tracking_uri({tracking_uri(github)!r})
        runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
        print(json.dumps([{{"id": r.info.run_id, "tags": r.data.tags}} for r in runs]))
        """
    )
    completed = run(github.origin, "uv", "run", "--frozen", "python", "-c", script)
    return list(json.loads(completed.stdout.strip().splitlines()[-1]))


def table_value(comment: str, metric: str) -> tuple[float, float]:
    """(base, this change) from the report's metrics table row of `metric`."""
    match = re.search(rf"^\| (?:\*\*)?{metric}(?:\*\*)?(?: \(gate\))? \| ([\d.]+) \| ([\d.]+) \|",
                      comment, re.MULTILINE)  # fmt: skip
    assert match, f"no {metric} row in the comment:\n{comment}"
    return float(match[1]), float(match[2])


def failure_context(result: WorkflowRun) -> str:
    return f"workflow log (end):\n{result.log[-8000:]}"


def readme_change(note: str) -> Callable[[Path], None]:
    def document(clone: Path) -> None:
        readme = clone / "README.md"
        readme.write_text(readme.read_text() + f"\n{note}\n")

    return document


def test_a_hyperparameter_change_trains_and_the_comment_compares_it(github: GitHub) -> None:
    # given a pull request that changes one hyperparameter
    def tune(clone: Path) -> None:
        params = clone / "params.yaml"
        params.write_text(params.read_text().replace("max_iter: 200", "max_iter: 120"))

    pr = open_pull_request(github, 1, tune)
    mains = remote_files(github)

    # when the workflow runs, with images published as a repository variable allows
    result = run_pr_workflow(
        github, pr, MLFLOW_TRACKING_URI=tracking_uri(github), CML_PUBLISH_IMAGES="true"
    )

    # then it trained, logged one run for the PR's commit, and commented once
    assert result.succeeded, failure_context(result)
    assert "Running stage 'train'" in result.log, "the changed parameter did not train"
    assert PUSHING in result.log, "the new model and run cache were not pushed"
    # what it pushed is under the remote's pull-requests/ folder, which releases never read
    assert remote_files(github) == mains, "a pull request wrote where releases read"
    assert remote_files(github, "pull-requests"), "nothing was pushed under pull-requests/"
    [logged] = logged_runs(github)
    head = run(pr.clone, "git", "rev-parse", "HEAD").stdout.strip()
    parents = run(github.origin, "git", "rev-parse", f"{result.sha}^1", f"{result.sha}^2")
    assert parents.stdout.split() == [pr.base, head], "not GitHub's merge of the PR into main"
    assert logged["tags"]["git_commit"] == result.sha, "the run does not record what it trained"
    [call] = result.cml_calls
    assert call["argv"][:3] == ["comment", "update", "--target=pr"]
    assert "--publish=true" in call["argv"]
    comment = call["body"]
    # the metrics: main's model and this change's on the same rows (the data did not change,
    # so main's recorded metrics are its numbers on them), with an interval and a verdict
    base = json.loads((github.origin / "reports" / "metrics.json").read_text())
    head_metrics = json.loads((result.artifacts / "model-report" / "metrics.json").read_text())
    facts = json.loads((result.artifacts / "model-report" / "report.json").read_text())
    assert base != head_metrics, "the change should move the metrics"
    same_rows = facts["same_rows"]
    assert same_rows is not None, f"not compared on the same rows: {facts['same_rows_note']}"
    for metric in base:
        compared = same_rows["metrics"][metric]
        assert compared["base"] == pytest.approx(base[metric], abs=1e-9), metric
        assert compared["candidate"] == pytest.approx(head_metrics[metric], abs=1e-9), metric
        assert table_value(comment, metric) == (
            round(base[metric], 4),
            round(head_metrics[metric], 4),
        ), metric
    gate = same_rows["metrics"]["roc_auc"]
    low, high = gate["gain_interval"]
    assert low <= gate["change"] <= high and facts["verdict"] == gate["verdict"]
    assert (
        f"Gate metric **roc_auc** on the same {same_rows['rows']:,} test rows: "
        f"{base['roc_auc']:.4f} with base `{pr.base[:7]}` → **{head_metrics['roc_auc']:.4f}** "
        f"with this change ({gate['change']:+.4f}, 95% interval {low:+.4f} to {high:+.4f}): "
        f"**{gate['verdict']}**."
    ) in comment
    assert "| `train.model.max_iter` | `200` | `120` |" in comment
    # validation counted the repeated rows, and the comment says what report.json holds
    repeats = facts["validation"]["repeats"]
    assert f"{repeats['duplicate_rows']:,} rows (" in comment
    assert f"of the {repeats['test_rows']:,} test rows" in comment
    assert "train.model.learning_rate" not in comment, "an unchanged parameter is listed"
    # the plots: ROC, precision-recall and confusion matrices, as images that exist
    assert set(call["images"]) == {"roc.png", "precision_recall.png", "confusion.png"}
    assert all(call["images"].values()), f"an image the comment shows is missing: {call}"
    # and the job summary, where nothing is uploaded, is the same report with the plots linked
    summary = result.summary("Validate, train and report")
    assert "](roc.png)" not in summary and "/actions/runs/" in summary, summary
    # with the curves drawn from its text, in Mermaid that parses, and the images' artifact named
    assert set(mermaid_charts(summary)) == {"ROC curve", "Precision-recall curve"}
    assert "are in the artifact `model-report` of [this run](" in summary
    assert summary.split("\n\n")[:2] == comment.split("\n\n")[:2], "two reports, not one"
    assert logged["id"] in comment, "the comment does not name the MLflow run"
    assert comment.startswith(f"## Model report for `{head[:12]}`"), "not the PR's commit"
    assert f"- Commit: `{head}`" in comment
    assert f"- Tested as `{result.sha}`: this commit merged into the base" in comment
    assert github.api.comments[pr.number][0]["body"].startswith(comment)
    posted = {call.token for call in github.api.calls if call.path.endswith("/comments")}
    assert posted == {GITHUB_TOKEN}, "the comment was not posted with the job's own token"


def test_a_second_push_trains_again_rather_than_restore_what_a_pull_request_pushed(
    github: GitHub,
) -> None:
    # given the hyperparameter pull request, trained and pushed, and a second push to it
    clone = github.scratch / "developer-1"
    pr = PullRequest(1, clone, run(clone, "git", "rev-parse", "main").stdout.strip())
    assert any(path.parts[0] == "runs" for path in remote_files(github, "pull-requests"))
    push_change(github, pr, readme_change("A second push."))

    # when the workflow runs for it
    result = run_pr_workflow(github, pr)

    # then it trains again: the run cache under pull-requests/, which any pull request's job
    # could have written, is not read back
    assert result.succeeded, failure_context(result)
    assert "Running stage 'train'" in result.log, "restored what a pull request pushed"
    assert "Stage 'train' is cached" not in result.log


def test_a_readme_change_does_not_train_and_the_comment_says_so(github: GitHub) -> None:
    # given a pull request that touches only the README
    pr = open_pull_request(github, 2, readme_change("A note for reviewers."))
    runs_before = logged_runs(github)

    # when the workflow runs, with training sent to a bigger runner (the only one there is)
    result = run_pr_workflow(
        github,
        pr,
        runner="training-box",
        MLFLOW_TRACKING_URI=tracking_uri(github),
        TRAINING_RUNNER="training-box",
    )

    # then it ran there: nothing trained, nothing was logged, and the report says so
    assert result.succeeded, failure_context(result)
    assert "unsupported platform" not in result.log, "the job did not ask for TRAINING_RUNNER"
    assert "Running stage" not in result.log, "a stage ran for a README change"
    assert logged_runs(github) == runs_before
    # and, publishing no images, it commented through the API without CML
    assert result.cml_calls == [], "CML ran for a comment that publishes no images"
    [comment] = github.api.comments[pr.number]
    body = comment["body"]
    assert "Training did not run: nothing that feeds the model changed" in body
    # and, nothing having been trained, it gives no verdict
    no_verdict = "here (+0.0000). Not measured on the same rows (nothing was trained): no verdict."
    assert no_verdict in body
    facts = json.loads((result.artifacts / "model-report" / "report.json").read_text())
    assert facts["verdict"] is None and facts["same_rows_note"] == "nothing was trained"
    assert "![" not in body, "an unpublished image would show broken"
    assert "are in the artifact `model-report` of [this run](" in body, "not linked"


def test_pushing_again_updates_the_one_comment(github: GitHub) -> None:
    # given the README pull request, commented once, and a second push to it
    clone = github.scratch / "developer-2"
    pr = PullRequest(2, clone, run(clone, "git", "rev-parse", "main").stdout.strip())
    first = dict(github.api.comments[2][0])  # a copy: the stand-in edits comments in place
    assert len(github.api.comments[2]) == 1

    push_change(github, pr, readme_change("Another note."))
    head = run(pr.clone, "git", "rev-parse", "HEAD").stdout.strip()

    # when the workflow runs for the new push
    result = run_pr_workflow(github, pr)

    # then the same comment now shows the new commit: one comment, edited
    assert result.succeeded, failure_context(result)
    [comment] = github.api.comments[2]
    assert comment["id"] == first["id"]
    assert head in comment["body"] and head not in first["body"]
    assert ("PATCH", f"/repos/{REPOSITORY}/issues/comments/{first['id']}") in github.api.requests


def test_data_that_breaks_the_schema_fails_and_the_comment_lists_the_rows(
    github: GitHub,
) -> None:
    # given a pull request whose data has impossible ages on two rows, pushed with DVC
    def corrupt(clone: Path) -> None:
        dvc(github, clone, "pull", "data/raw/adult.csv")
        data = clone / "data" / "raw" / "adult.csv"
        lines = data.read_text().splitlines(keepends=True)
        header = lines[0].strip().split(",")
        age = header.index("age")
        for row in (3, 7):  # 0-based data rows
            fields = lines[row + 1].split(",")
            fields[age] = "250"
            lines[row + 1] = ",".join(fields)
        data.write_text("".join(lines))
        dvc(github, clone, "add", "data/raw/adult.csv")
        dvc(github, clone, "push")

    pr = open_pull_request(github, 3, corrupt)
    runs_before = logged_runs(github)

    # when the workflow runs
    result = run_pr_workflow(github, pr, MLFLOW_TRACKING_URI=tracking_uri(github))

    # then the job fails at validation, trains nothing, and the comment shows the failing rows
    assert not result.succeeded, "the job passed on data that breaks the schema"
    assert "Running stage 'validate'" in result.log
    assert "Running stage 'train'" not in result.log
    assert logged_runs(github) == runs_before, "a model was logged from bad data"
    [posted] = github.api.comments[pr.number]
    comment = posted["body"]
    assert "The data broke the contract: nothing was trained." in comment
    assert "Data validation failed" in comment
    assert re.search(r"^\| age \| .* \| 2 \| 3: 250, 7: 250 \|$", comment, re.MULTILINE), comment
    assert "### Metrics" not in comment, "metrics shown for a change that trained nothing"
    # two rows edited in place: changed, none added or removed
    assert "| `data/raw/adult.csv` | modified | 48,842 | 48,842 | 0 | 0 | 2 |" in comment


def test_a_fork_gets_its_report_in_the_summary_and_writes_nothing(github: GitHub) -> None:
    # given a pull request from a fork, whose token cannot write to this repository and which
    # GitHub gives no repository variables or secrets
    pr = open_pull_request(github, 4, readme_change("A note from a fork."))

    # when the whole workflow runs: lint and test, the model job, the required check, in a
    # repository whose variables name the DVC remote and an AWS role
    role = "arn:aws:iam::123456789012:role/income-classifier-pull-requests"
    result = run_pr_workflow(github, pr, fork=True, job=None, AWS_PR_ROLE_ARN=role)

    # then every job passes without the remote; the report is in the job summary, and nothing
    # is posted or pushed
    assert result.succeeded, failure_context(result)
    jobs = ("Lint and test", "Validate, train and report", "Promotion gate", "Pull request ready")
    for job in jobs:
        passed = rf"\[Pull request/{re.escape(job)} *\] 🏁  Job succeeded"  # names padded
        assert re.search(passed, result.log), f"{job} did not pass"
    assert "No DVC remote in this run (a fork's pull request" in result.log
    summary = result.summary("Validate, train and report")
    assert summary.startswith("## Model report for"), summary
    assert "Training did not run: nothing that feeds the model changed" in summary
    assert summary == (result.artifacts / "model-report" / "report.md").read_text().rstrip()
    assert pr.number not in github.api.comments, "a fork's run commented"
    assert PUSHING not in result.log, "a fork's run pushed to the DVC remote"
    assert result.recorded("aws-credentials") == [], "a fork's run asked for the AWS role"


def test_a_fork_that_must_train_passes_untrained_saying_how_a_maintainer_trains_it(
    github: GitHub,
) -> None:
    # given a pull request from a fork that changes a hyperparameter
    def tune(clone: Path) -> None:
        params = clone / "params.yaml"
        params.write_text(params.read_text().replace("max_iter: 200", "max_iter: 150"))

    pr = open_pull_request(github, 6, tune)

    # when the whole workflow runs, with no variables or secrets as GitHub gives a fork
    result = run_pr_workflow(github, pr, fork=True, job=None)

    # then every job passes, the required check included, though nothing was trained
    assert result.succeeded, failure_context(result)
    passed = r"\[Pull request/Pull request ready *\] 🏁  Job succeeded"
    assert re.search(passed, result.log), "the required check did not pass"
    assert "Running stage 'train'" not in result.log
    # and the summary says why and gives the maintainer the commands that get it trained
    summary = result.summary("Validate, train and report")
    assert (
        "**Training did not run: this change needs the data in the DVC remote, which a "
        "fork's pull request cannot reach.**" in summary
    ), summary
    assert "The pipeline failed" not in summary
    facts = json.loads((result.artifacts / "model-report" / "report.json").read_text())
    assert facts["training"] == "needs-remote" and facts["verdict"] is None
    commands = [
        "git fetch origin pull/6/head:fork-pr-6",
        "git push origin fork-pr-6",
        "gh pr create --head fork-pr-6 --base main --fill",
    ]
    assert f"```\n{chr(10).join(commands)}\n```" in summary, summary
    # and nothing was posted or pushed
    assert pr.number not in github.api.comments, "a fork's run commented"
    assert PUSHING not in result.log, "a fork's run pushed to the DVC remote"


def test_without_a_dvc_remote_variable_the_job_says_which_to_set(github: GitHub) -> None:
    # given the template's default remote, a folder beside a laptop's clone, and no variable
    pr = open_pull_request(github, 5, readme_change("No remote configured."))

    # when the workflow runs
    result = run_pr_workflow(github, pr, DVC_REMOTE_URL="")

    # then the pipeline fails naming the variable to set, before any stage runs
    assert not result.succeeded
    assert "set the DVC_REMOTE_URL repository variable" in result.log
    assert "Running stage" not in result.log


def test_when_cml_cannot_be_installed_the_report_still_reaches_summary_and_artifact(
    github: GitHub,
) -> None:
    # given a pull request, and a runner where CML is not installed and npm's registry no
    # longer has it
    pr = open_pull_request(github, 8, readme_change("CML is gone."))

    # when the workflow runs with images published, which only CML does
    result = run_pr_workflow(github, pr, cml=False, CML_PUBLISH_IMAGES="true")

    # then the job fails in one line naming CML and its package, after trying the pinned one
    assert not result.succeeded, "the job passed without posting its report"
    assert "Could not install CML (npm @dvcorg/cml@0.20.6), which publishes the plots" in (
        result.log
    )
    [npm] = result.recorded("npm")
    assert npm["argv"][-1] == "@dvcorg/cml@0.20.6"
    # and the report is in the job summary and the artifact; nothing was posted
    summary = result.summary("Validate, train and report")
    assert summary.startswith("## Model report for"), summary
    assert summary == (result.artifacts / "model-report" / "report.md").read_text().rstrip()
    assert pr.number not in github.api.comments


def test_a_pull_request_that_conflicts_with_its_base_runs_nothing(github: GitHub) -> None:
    # given a pull request whose base has since changed the same lines (on a side branch here,
    # so that main stays as the other cases found it)
    pr = open_pull_request(github, 7, readme_change("Mine."))
    run(pr.clone, "git", "checkout", "--quiet", "-b", "moved-main", pr.base)
    readme_change("Theirs.")(pr.clone)
    run(pr.clone, "git", "commit", "--quiet", "--all", "--message", "Main moved on")
    moved = run(pr.clone, "git", "rev-parse", "HEAD").stdout.strip()
    run(pr.clone, "git", "push", "--quiet", "origin", "moved-main")
    head = run(github.origin, "git", "rev-parse", pr.branch).stdout.strip()
    comments = len(github.api.comments.get(pr.number, []))

    # when GitHub gets the pull request event
    event = pull_request_event(pr.number, pr.branch, head, moved)
    result = run_workflow(
        github.origin, "pr.yml", event, github.scratch / "act-conflict", api=github.api
    )

    # then it makes no merge commit and starts no workflow: nothing reports, nothing is posted
    assert result.started == [] and not result.succeeded
    assert CONFLICT in result.log
    ref = f"refs/pull/{pr.number}/merge"
    found = run(github.origin, "git", "for-each-ref", ref).stdout
    assert found == "", "a merge ref for a conflicting pull request"
    assert len(github.api.comments.get(pr.number, [])) == comments
