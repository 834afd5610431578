"""The generated `drift.yml`, run for real under `act`: production batch -> drift check ->
one retraining pull request -> `pr.yml` retrains on it and reports.

A module fixture plays GitHub and production: a generated repository whose `main` has a trained
model (data and run cache in the DVC remote beside it) and reads its production batches from a
folder outside the repository (`drift.batch` in params.yaml), and the GitHub API stand-in backed
by that repository, so the retraining branch and its commits are real git. The tests run in
order, as one repository's story: each drops a batch where production writes it and runs the
scheduled workflow. The last sets `drift.window`: the served model's inference log, in a folder
outside the repository named by the variable INFERENCE_LOG_URL, with labels arriving later.
"""

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run
from standins.github_api import APP_CLIENT_ID, GitHubState, github_api
from workflow_runs import (
    REPOSITORY,
    ROLES,
    Environment,
    WorkflowRun,
    generated_repository,
    pull_request_event,
    run_workflow,
    train_and_push,
)

pytestmark = pytest.mark.slow

MODEL = "income-classifier"
BRANCH = f"retrain/{MODEL}"
BATCHES = "data/batches"
# The App's key where the generated README puts it: an environment that deploys from main only.
RELEASE = Environment(
    branches=("main",), secrets={"RELEASE_APP_PRIVATE_KEY": "standin-private-key"}
)
CHECK = "Check the newest batch or window for drift"
RETRAIN = "Open or update the retraining pull request"
DRIFTING = ("age=15", "hours_per_week=12", "education_num=3")  # 3 of 13 columns: past 20%


@dataclass
class GitHub:
    origin: Path  # the repository on "GitHub", `main` checked out
    dvc_remote: Path
    production: Path  # where production writes the batch drift.yml reads
    api: GitHubState
    scratch: Path
    runs: int = 0


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHub]:
    root = tmp_path_factory.mktemp("drift")
    origin = generated_repository(root)
    production = root / "production"
    production.mkdir()
    params = origin / "params.yaml"
    params.write_text(
        params.read_text().replace("batch: data/production/*.csv", f"batch: {production}/*.csv")
    )
    with github_api(repository=origin) as (_, state):
        train_and_push(origin)
        yield GitHub(origin, root / f"{origin.name}-dvc-remote", production, state, root)


def write_batch(github: GitHub, *shifts: str, seed: int, drop: str | None = None) -> Path:
    """Production's newest batch (the only one in its folder), shifted or not."""
    for old in github.production.iterdir():
        old.unlink()
    batch = github.production / f"batch-{seed}.csv"
    shift_args = [arg for shift in shifts for arg in ("--shift", shift)]
    run(github.origin, "uv", "run", "--frozen", MODEL, "make-batch", str(batch),
        "--rows", "2000", "--seed", str(seed), *shift_args)  # fmt: skip
    if drop:
        with batch.open(newline="") as handle:
            rows = [{k: v for k, v in row.items() if k != drop} for row in csv.DictReader(handle)]
        with batch.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return batch


def run_drift(github: GitHub, **variables: str) -> WorkflowRun:
    """Run drift.yml for its schedule, on main, with these repository variables added."""
    github.runs += 1
    event = {"schedule": "17 6 * * *", "repository": {"full_name": REPOSITORY}}
    return run_workflow(
        github.origin,
        "drift.yml",
        event,
        github.scratch / f"act-{github.runs}",
        api=github.api,
        event_name="schedule",
        variables={
            "DVC_REMOTE_URL": str(github.dvc_remote),
            "RELEASE_APP_CLIENT_ID": APP_CLIENT_ID,
        }
        | ROLES
        | variables,
        environments={"release": RELEASE},
    )


def retraining_pulls(github: GitHub) -> list[dict[str, Any]]:
    return [pull for pull in github.api.pulls.values() if pull["head"]["ref"] == BRANCH]


def git(github: GitHub, *args: str) -> str:
    return run(github.origin, "git", *args).stdout.strip()


def branch_exists(github: GitHub) -> bool:
    return bool(git(github, "branch", "--list", BRANCH))


def snapshots_on(github: GitHub, revision: str) -> dict[str, str]:
    """The batches `data/batches` holds at `revision`, read through DVC from its remote."""
    script = (
        "import sys, dvc.api\n"
        "from dvc.api import DVCFileSystem\n"
        "fs = DVCFileSystem(repo='.', rev=sys.argv[1])\n"
        "for path in sorted(fs.ls(sys.argv[2], detail=False)):\n"
        "    print('=== ' + path.split('/')[-1])\n"
        "    print(fs.read_text(path), end='')\n"
    )
    shown = run(github.origin, "uv", "run", "--frozen", "python", "-c", script, revision, BATCHES)
    files = {}
    for chunk in shown.stdout.split("=== ")[1:]:
        name, _, text = chunk.partition("\n")
        files[name] = text
    return files


def remote_files(github: GitHub) -> set[Path]:
    return {path for path in github.dvc_remote.rglob("*") if path.is_file()}


def failure_context(result: WorkflowRun) -> str:
    return f"workflow log (end):\n{result.log[-8000:]}"


def test_an_unshifted_batch_opens_no_pull_request(github: GitHub) -> None:
    # given a production batch drawn like the training data
    write_batch(github, seed=1)

    # when the scheduled check runs
    result = run_drift(github)

    # then it says there is no drift, keeps the report, and proposes nothing
    assert result.succeeded, failure_context(result)
    summary = (result.artifacts / "drift-report" / "drift.md").read_text()
    assert summary.startswith("## Data drift: **No drift**")
    assert result.summary(CHECK) == summary.rstrip(), "the run page shows another summary"
    assert "drift-report` artifact](" in summary, "the summary should link the plot, not embed it"
    assert (result.artifacts / "drift-report" / "drift.html").stat().st_size > 100_000
    assert "No drift" in result.log
    assert not retraining_pulls(github) and not branch_exists(github)


def test_a_shifted_batch_opens_one_retraining_pull_request_with_its_snapshot(
    github: GitHub,
) -> None:
    # given a batch in which three columns moved
    batch = write_batch(github, *DRIFTING, seed=2)
    main = git(github, "rev-parse", "main")

    # when the scheduled check runs
    result = run_drift(github)

    # then one pull request proposes retraining, opened with the App token
    assert result.succeeded, failure_context(result)
    [pull] = retraining_pulls(github)
    assert pull["state"] == "open" and pull["base"]["ref"] == "main"
    assert pull["title"] == f"Retrain {MODEL} on drifted production data"
    assert "## Data drift: **Drift detected**" in pull["body"]
    assert "| age | wasserstein |" in pull["body"] and "drifted ⚠️" in pull["body"]
    [token] = result.recorded("app-token")
    assert token == {"client_id": APP_CLIENT_ID, "contents": "write", "pull_requests": "write"}
    assert pull["opened_by"] == "app" and pull["triggers_workflows"], "its checks would not run"
    used = {call.token for call in github.api.calls if call.path.startswith("/repos/")}
    assert used == {"app"}, "the repository was used with another token than the App's"
    # and its branch is one commit on main that adds exactly that batch, snapshotted by DVC
    assert git(github, "rev-parse", f"{BRANCH}~1") == main
    assert git(github, "diff", "--name-only", "main", BRANCH).split() == ["data/batches.dvc"]
    [(name, snapshot)] = snapshots_on(github, BRANCH).items()
    assert snapshot == batch.read_text(), "the snapshot is not the batch production wrote"
    assert f"`{BATCHES}/{name}` (2,000 rows" in pull["body"]
    pointer = yaml.safe_load(git(github, "show", f"{BRANCH}:data/batches.dvc"))
    assert pointer["outs"][0]["nfiles"] == 1
    assert not snapshots_on(github, "main"), "main's training data changed without review"
    # and both jobs say on the run's page what they found and did
    assert result.summary(CHECK).startswith("## Data drift: **Drift detected**")
    assert f"Snapshotted 2,000 rows of {github.production}" in result.summary(RETRAIN)
    assert f"as {BATCHES}/{name}" in result.summary(RETRAIN)
    # and the check read with the monitoring role, the retraining pushed with the release's
    roles = [record["role"] for record in result.recorded("aws-credentials")]
    assert roles == [ROLES["AWS_MONITOR_ROLE_ARN"], ROLES["AWS_RELEASE_ROLE_ARN"]], roles


def test_the_next_shifted_batch_updates_the_same_pull_request(github: GitHub) -> None:
    # given the open retraining pull request, and a new shifted batch in production
    [before] = retraining_pulls(github)
    first = set(snapshots_on(github, BRANCH))
    batch = write_batch(github, *DRIFTING, seed=3)

    # when the scheduled check runs again
    result = run_drift(github)

    # then the same pull request now adds both batches, still as one commit on main
    assert result.succeeded, failure_context(result)
    [after] = retraining_pulls(github)
    assert after["number"] == before["number"] and after["state"] == "open"
    assert ("PATCH", f"/repos/{REPOSITORY}/pulls/{after['number']}") in github.api.requests
    assert git(github, "rev-parse", f"{BRANCH}~1") == git(github, "rev-parse", "main")
    snapshots = snapshots_on(github, BRANCH)
    assert first < set(snapshots), "the first batch was dropped from the pull request"
    [new] = set(snapshots) - first
    assert snapshots[new] == batch.read_text()
    assert f"`{BATCHES}/{new}`" in after["body"] and "already proposed" in after["body"]
    assert f"Carried over from origin/{BRANCH}: {min(first)}" in result.summary(RETRAIN)


def test_a_batch_missing_a_column_fails_and_pushes_nothing(github: GitHub) -> None:
    # given a batch without its age column, and what exists so far
    write_batch(github, *DRIFTING, seed=4, drop="age")
    tip, pulls = git(github, "rev-parse", BRANCH), retraining_pulls(github)
    stored = remote_files(github)

    # when the scheduled check runs
    result = run_drift(github)

    # then the run fails on the bad input, and neither git, the pull request nor DVC moved
    assert not result.succeeded
    assert "Bad batch, not checked for drift" in result.log and "missing column" in result.log
    summary = (result.artifacts / "drift-report" / "drift.md").read_text()
    assert summary.startswith("## Data drift: bad batch, not checked")
    assert result.summary(CHECK) == summary.rstrip()
    assert result.summary(RETRAIN) == "", "the retraining job ran on a bad batch"
    assert "| age | missing column |" in summary
    assert "Drift detected" not in result.log and "No drift" not in result.log
    assert git(github, "rev-parse", BRANCH) == tip and retraining_pulls(github) == pulls
    assert remote_files(github) == stored, "something was pushed to the DVC remote"


def test_the_retraining_branch_retrains_and_reports_against_main(github: GitHub) -> None:
    # given the retraining pull request as drift.yml left it
    [pull] = retraining_pulls(github)
    batches = snapshots_on(github, BRANCH)
    head = git(github, "rev-parse", BRANCH)
    base = git(github, "rev-parse", "main")
    event = pull_request_event(pull["number"], BRANCH, head, base)

    # when pr.yml's model job runs on it
    result = run_workflow(
        github.origin,
        "pr.yml",
        event,
        github.scratch / "act-retrain",
        api=github.api,
        job="model",
        variables={"DVC_REMOTE_URL": str(github.dvc_remote)},
    )

    # then it trains on main's data and both batches, and the report shows both changes
    assert result.succeeded, failure_context(result)
    assert f"and {len(batches)} batches in data/batches/ (append)" in result.log
    [posted] = github.api.comments[pull["number"]]
    comment = posted["body"]
    for name in batches:
        assert f"| `{BATCHES}/{name}` | added | — | 2,000 |" in comment, comment
    rows = 48_842 + 2_000 * len(batches)
    assert f"{rows:,} rows meet the contract" in comment
    assert "Training did not run" not in comment
    # and main's model and the retrained one are compared on the same rows: this branch's test
    # split, main's rows and about test_size of the batches' (the split's stability under
    # appends is the project's own test_data.py)
    facts = json.loads((result.artifacts / "model-report" / "report.json").read_text())
    same_rows, recorded = facts["same_rows"], facts["recorded"]
    assert same_rows is not None, f"not compared on the same rows: {facts['same_rows_note']}"
    assert same_rows["rows"] == recorded["head"]["rows"] > recorded["base"]["rows"]
    added_to_test = same_rows["rows"] - recorded["base"]["rows"]
    assert 0.1 < added_to_test / (2_000 * len(batches)) < 0.3, "not about test_size of the rows"
    header = f"| metric | base `{base[:7]}` | this change | change | 95% interval | verdict |"
    assert f"on the same {same_rows['rows']:,} test rows" in comment and header in comment
    # and both on the batches' test rows alone, which neither model trained on: how the model
    # main runs does on the drifted data, against the retrained one (a batch row identical to
    # one of main's is not new)
    new_rows = facts["new_rows"]
    assert new_rows is not None and 0.9 * added_to_test <= new_rows["rows"] <= added_to_test
    assert f"**On the {new_rows['rows']:,} test rows that are new**" in comment


# Serves a batch's records to the real server (the trained model, the inference log on), 100 a
# request, and labels the first LABELLED of them as feedback files do, from the batch's target.
SERVE_AND_LABEL = """
import json, sys
import pandas as pd
from fastapi.testclient import TestClient
from income_classifier import contract
from income_classifier.serve import create_app
from income_classifier.settings import load_params

batch, log, feedback, labelled = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
frame = pd.read_csv(batch)
capture = load_params().serve.capture.model_copy(update={"url": log})
labels = []
with TestClient(create_app(capture=capture)) as client:
    for start in range(0, len(frame), 100):
        part = frame.iloc[start : start + 100]
        records = json.loads(part[contract.feature_columns()].to_json(orient="records"))
        answer = client.post("/predict", json={"records": records}).json()
        for record, label in enumerate(part[contract.target()]):
            labels.append({"request_id": answer["request_id"], "record": record,
                           "label": label, "time": "2026-12-06T12:00:00Z"})
pd.DataFrame(labels[:labelled]).to_csv(feedback, index=False)
"""
LABELLED = 500


def test_a_drifted_window_of_the_inference_log_proposes_its_labelled_records(
    github: GitHub,
) -> None:
    # given main checking the last hour of the inference log, which production writes to a
    # folder outside the repository (INFERENCE_LOG_URL), with labels for some records in
    # another (FEEDBACK_URL)
    log, feedback = github.scratch / "inference", github.scratch / "feedback"
    feedback.mkdir()
    params_file = github.origin / "params.yaml"
    params = params_file.read_text()
    assert "  window: null\n" in params
    params_file.write_text(params.replace("  window: null\n", "  window: 1h\n", 1))
    git(github, "commit", "--quiet", "--all", "--message", "Check the inference log for drift")
    before = [pull["number"] for pull in retraining_pulls(github)]  # the story's, if it ran
    proposed = set(snapshots_on(github, BRANCH)) if branch_exists(github) else set()
    # and the server answered drifted traffic
    batch = write_batch(github, *DRIFTING, seed=5)
    script = github.scratch / "serve_and_label.py"
    script.write_text(SERVE_AND_LABEL)
    run(github.origin, "uv", "run", "--frozen", "python", str(script), str(batch), str(log),
        str(feedback / "labels.csv"), str(LABELLED))  # fmt: skip

    # when the scheduled check runs
    result = run_drift(github, INFERENCE_LOG_URL=str(log), FEEDBACK_URL=str(feedback))

    # then it judged the window, found drift, and the retraining pull request now holds the
    # window's labelled records, and says how many had no label
    assert result.succeeded, failure_context(result)
    files = len(list(log.glob("*.parquet")))
    check = result.summary(CHECK)
    assert check.startswith("## Data drift: **Drift detected**"), check
    assert f"Inference log {log}, the last 1h: 2,000 records in {files} files (" in check
    [after] = retraining_pulls(github)
    assert before in ([], [after["number"]]), "a second retraining pull request"
    snapshots = snapshots_on(github, BRANCH)
    [new] = set(snapshots) - proposed
    header, *rows = snapshots[new].splitlines()
    columns = batch.read_text().splitlines()[0].split(",")
    assert len(rows) == LABELLED and sorted(header.split(",")) == sorted(columns), header
    assert f"`{BATCHES}/{new}` ({LABELLED} rows" in after["body"]
    assert f"{2_000 - LABELLED:,} records without a label yet were left out" in after["body"]
    assert f"Snapshotted {LABELLED} rows of inference log {log}" in result.summary(RETRAIN)
