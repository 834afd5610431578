"""The generated `pr.yml` under `act` for a regression project: the task changes what the
pipeline scores and plots, and the pull request's comment follows it. The pull request changes
data and a parameter at once, the case where the two revisions' own test splits differ: the
comment must compare both models on the same rows, and say what the data change did.

The harness is test_pr_workflow.py's (a trained `main` as on GitHub, stand-ins for the remote
actions, `cml` and the GitHub API); only the task differs.
"""

import csv
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import mermaid_charts
from standins.github_api import github_api
from test_pr_workflow import (
    GitHub,
    dvc,
    failure_context,
    open_pull_request,
    run_pr_workflow,
    table_value,
)
from workflow_runs import trained_repository

pytestmark = pytest.mark.slow

DATA, TARGET = "data/raw/hotel_rates.csv", "avg_price_per_room"
VALIDATION = "reports/validation/validation.json"
APPENDED = 500  # few enough that the test rows seen in training stay under their ceiling


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHub]:
    root = tmp_path_factory.mktemp("github-regression")
    origin = trained_repository(root, task="regression")
    with github_api() as (_, state):
        yield GitHub(origin, root / f"{origin.name}-dvc-remote", state, root)


def test_appended_rows_and_a_parameter_change_are_compared_on_the_same_rows(
    github: GitHub,
) -> None:
    # given a pull request that appends near-copies of existing bookings (the same features,
    # the nightly rate 10% higher), pushed with DVC, and changes one hyperparameter
    def append_and_tune(clone: Path) -> None:
        dvc(github, clone, "pull", DATA)
        with (clone / DATA).open(newline="") as handle:
            header, *rows = list(csv.reader(handle))
        target = header.index(TARGET)
        twins = random.Random(3).sample(rows, APPENDED)
        for twin in twins:
            twin[target] = f"{float(twin[target]) * 1.1:.2f}"
        with (clone / DATA).open("a", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerows(twins)
        dvc(github, clone, "add", DATA)
        dvc(github, clone, "push")
        params = clone / "params.yaml"
        params.write_text(params.read_text().replace("max_iter: 200", "max_iter: 120"))

    pr = open_pull_request(github, 1, append_and_tune)

    # when the workflow runs, with images published as a repository variable allows
    result = run_pr_workflow(github, pr, CML_PUBLISH_IMAGES="true")

    # then it trained and commented once, with the regression's metrics and plots
    assert result.succeeded, failure_context(result)
    assert "Running stage 'train'" in result.log, "the change did not train"
    [call] = result.cml_calls
    comment = call["body"]
    facts = json.loads((result.artifacts / "model-report" / "report.json").read_text())
    assert "| `train.model.max_iter` | `200` | `120` |" in comment
    assert set(call["images"]) == {"predicted_vs_actual.png", "residuals.png"}
    assert all(call["images"].values()), f"an image the comment shows is missing: {call}"
    assert set(mermaid_charts(comment)) == {"Mean prediction by actual value", "Residuals"}
    # the data change: the rows added, counted by content, none moved or edited
    [change] = facts["data_changes"]
    before = change["rows_before"]
    assert (change["path"], change["rows_after"]) == (DATA, before + APPENDED)
    counted = (change["rows_added"], change["rows_removed"], change["rows_changed"])
    assert counted == (APPENDED, 0, 0)
    row = f"| `{DATA}` | modified | {before:,} | {before + APPENDED:,} | {APPENDED} | 0 | 0 |"
    assert row in comment
    # and Evidently's comparison of the features with the base's: copies of existing rows'
    # features move none of them
    drift = facts["data_drift"]
    assert drift is not None, facts["data_drift_note"]
    assert (drift["reference_rows"], drift["current_rows"]) == (before, before + APPENDED)
    columns = len(drift["columns"])
    assert "**Drift of this data against the base's** (Evidently, the drift check's methods" in (
        comment
    )
    assert drift["drifted_columns"] == 0 and f": 0 of {columns} columns drifted" in comment
    # the near-copies: more test rows whose features training has, counted and shown
    base_validation = json.loads((github.origin / VALIDATION).read_text())
    seen = facts["validation"]["repeats"]["test_rows_seen_in_training"]
    assert seen > base_validation["repeats"]["test_rows_seen_in_training"]
    assert f"{seen:,} of the {facts['validation']['repeats']['test_rows']:,} test rows" in comment
    # both models on the same rows: the pull request's test split, which every base row that
    # is still there keeps; the verdict is the interval's, as the comment states it
    same_rows = facts["same_rows"]
    assert same_rows is not None, facts["same_rows_note"]
    test_rows = facts["validation"]["repeats"]["test_rows"]  # validate's count of that split
    assert same_rows["rows"] == test_rows > base_validation["repeats"]["test_rows"]
    gate = same_rows["metrics"]["r2"]
    low, high = gate["gain_interval"]
    assert low <= gate["change"] <= high and facts["verdict"] == gate["verdict"]
    if low > 0 or high < -facts["tolerance"]:  # the interval decides it, whatever the rows
        assert gate["verdict"] == ("better" if low > 0 else "worse")
    else:
        assert gate["verdict"] != "better" and gate["verdict"] != "worse"
    assert (
        f"on the same {test_rows:,} test rows: {gate['base']:.4f} with base `{pr.base[:7]}` → "
        f"**{gate['candidate']:.4f}** with this change ({gate['change']:+.4f}, 95% interval "
        f"{low:+.4f} to {high:+.4f}): **{gate['verdict']}**."
    ) in comment
    for metric in ("r2", "rmse", "mae", "mape"):
        compared = same_rows["metrics"][metric]
        assert table_value(comment, metric) == (
            round(compared["base"], 4),
            round(compared["candidate"], 4),
        ), metric
