"""The generated `pr.yml` under `act` for a regression project: the task changes what the
pipeline scores and plots, and the pull request's comment follows it.

The harness is test_pr_workflow.py's (a trained `main` as on GitHub, stand-ins for the remote
actions, `cml` and the GitHub API); only the task differs.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from standins.github_api import github_api
from test_pr_workflow import (
    GitHub,
    failure_context,
    open_pull_request,
    run_pr_workflow,
    table_value,
)
from workflow_runs import trained_repository

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHub]:
    root = tmp_path_factory.mktemp("github-regression")
    origin = trained_repository(root, task="regression")
    with github_api() as (_, state):
        yield GitHub(origin, root / f"{origin.name}-dvc-remote", state, root)


def test_a_hyperparameter_change_trains_and_the_comment_compares_the_regression(
    github: GitHub,
) -> None:
    # given a pull request that changes one hyperparameter of a regression project
    def tune(clone: Path) -> None:
        params = clone / "params.yaml"
        params.write_text(params.read_text().replace("max_iter: 200", "max_iter: 120"))

    pr = open_pull_request(github, 1, tune)

    # when the workflow runs, with images published as a repository variable allows
    result = run_pr_workflow(github, pr, CML_PUBLISH_IMAGES="true")

    # then it trained and commented once, with the regression's metrics and plots
    assert result.succeeded, failure_context(result)
    assert "Running stage 'train'" in result.log, "the changed parameter did not train"
    [call] = result.cml_calls
    comment = call["body"]
    base = json.loads((github.origin / "reports" / "metrics.json").read_text())
    head = json.loads((result.artifacts / "model-report" / "metrics.json").read_text())
    assert list(base) == list(head) == ["r2", "rmse", "mae", "mape"]
    for metric in base:
        assert table_value(comment, metric) == (round(base[metric], 4), round(head[metric], 4))
    assert "Gate metric **r2**" in comment
    assert "| `train.model.max_iter` | `200` | `120` |" in comment
    assert set(call["images"]) == {"predicted_vs_actual.png", "residuals.png"}
    assert all(call["images"].values()), f"an image the comment shows is missing: {call}"
