"""The generated `monitor.yml`, run for real under `act`: served traffic -> labels that arrive
later -> live quality -> one rollback (or retraining) pull request -> merge -> promote.yml.

A module fixture plays GitHub, the team's registry and production: a generated repository whose
`main` has a trained model, two registered versions of it (the registry an SQLite store outside
the repository, named by MLFLOW_TRACKING_URI), `environments/production.yaml` naming version 1
and the `production` alias on it, and the API stand-in backed by the repository. Production is
the project's own server (`serve.create_app` with capture on, driven in process) writing its
inference log to a folder outside the repository (INFERENCE_LOG_URL), and labels arriving as
CSV files in another (FEEDBACK_URL). The tests run in order, as one repository's story.
"""

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import mermaid_charts, run
from standins.github_api import APP_CLIENT_ID, GitHubState, github_api
from workflow_runs import (
    REPOSITORY,
    ROLES,
    Environment,
    WorkflowRun,
    generated_repository,
    run_workflow,
    train_and_push,
)

pytestmark = pytest.mark.slow

MODEL = "income-classifier"
ROLLBACK, RETRAIN = f"rollback/{MODEL}", f"retrain/{MODEL}"
JUDGE = "Judge production's live quality"
PROMOTE = "Promote what production.yaml names"
ENVIRONMENTS = {
    "production": Environment(branches=("main",)),
    "release": Environment(
        branches=("main",), secrets={"RELEASE_APP_PRIVATE_KEY": "standin-private-key"}
    ),
}
IMAGE = f"ghcr.io/{REPOSITORY}"
DIGESTS = {1: "sha256:" + "1" * 64, 2: "sha256:" + "2" * 64}
RECORDS = 400  # served per step: past monitor.min_rows, so that labels for all give a verdict

# Production's side, run in the generated project's environment: serve `rows` test rows through
# the project's own app with capture on, as `version`, 20 records a request, and write labels
# for the first `labelled` of them (the true ones, or every one wrong with `wrong`).
SERVE = """
import json, sys
from pathlib import Path
import pandas as pd
from fastapi.testclient import TestClient
from income_classifier import contract, data
from income_classifier.serve import create_app
from income_classifier.settings import load_params

log, feedback, version, rows, labelled, wrong, seed = sys.argv[1:8]
rows, labelled, seed = int(rows), int(labelled), int(seed)
test = data.read_split(Path("data/prepared/test.parquet")).sample(n=rows, random_state=seed)
capture = load_params().serve.capture.model_copy(update={"url": log, "file_seconds": 3600.0})
provenance = {"model_name": "income-classifier", "model_version": version, "commit": "x",
              "run_id": "x"}
answered = []
features = test[contract.feature_columns()].astype(object)
with TestClient(create_app(Path("models/model"), provenance, capture)) as client:
    for start in range(0, rows, 20):
        chunk = features.iloc[start:start + 20]
        records = [{k: (None if pd.isna(v) else v) for k, v in row.items()}
                   for row in chunk.to_dict("records")]
        response = client.post("/predict", json={"records": records})
        assert response.status_code == 200, response.text
        request_id = response.json()["request_id"]
        answered += [(request_id, index) for index in range(len(records))]
truth = test[contract.target()].astype(str).tolist()
if wrong == "wrong":  # each label swapped for another one
    other = {label: next(x for x in contract.labels() if x != label) for label in contract.labels()}
    truth = [other[label] for label in truth]
labels = pd.DataFrame(
    [{"request_id": request_id, "record": record, "label": label,
      "time": pd.Timestamp.now(tz="UTC").isoformat()}
     for (request_id, record), label in zip(answered[:labelled], truth[:labelled])]
)
Path(feedback).mkdir(parents=True, exist_ok=True)
labels.to_csv(Path(feedback) / f"labels-{seed}.csv", index=False)
print(json.dumps(len(answered)))
"""


@dataclass
class Production:
    origin: Path  # the repository on "GitHub", `main` checked out
    dvc_remote: Path
    tracking_uri: str
    log: Path  # where the server writes its inference log (INFERENCE_LOG_URL)
    feedback: Path  # where labels arrive (FEEDBACK_URL)
    api: GitHubState
    scratch: Path
    runs: int = 0
    served: int = 0  # batches of traffic so far, to seed each differently


def cli(production: Production, *args: str) -> str:
    env = ("env", f"MLFLOW_TRACKING_URI={production.tracking_uri}")
    return run(production.origin, *env, "uv", "run", "--frozen", MODEL, *args).stdout


def git(production: Production, *args: str) -> str:
    return run(production.origin, "git", *args).stdout.strip()


def deploy(production: Production, version: int) -> None:
    """A merged promotion of `version`, and the `production` alias moved as promote.yml does."""
    cli(production, "record-deployment", "environments/production.yaml",
        "--version", str(version), "--image-name", IMAGE, "--digest", DIGESTS[version])  # fmt: skip
    git(production, "commit", "--quiet", "--all", "--message", f"Promote version {version}")
    cli(production, "promote", "environments/production.yaml")


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    root = tmp_path_factory.mktemp("monitor")
    origin = generated_repository(root)
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    with github_api(repository=origin) as (_, state):
        train_and_push(origin, tracking_uri=tracking_uri)
        found = Production(
            origin, root / f"{origin.name}-dvc-remote", tracking_uri, root / "inference",
            root / "feedback", state, root,
        )  # fmt: skip
        for version in (1, 2):  # two releases of the model, each with its image
            cli(found, "register", "--commit", f"release-{version}")
            cli(found, "tag-image", "--version", str(version), "--digest", DIGESTS[version])
        deploy(found, 1)
        yield found


def serve(production: Production, version: int, *, labelled: int, wrong: bool = False) -> None:
    """Production answers RECORDS requests' records as `version`; labels come for `labelled`."""
    production.served += 1
    run(production.origin, "uv", "run", "--frozen", "python", "-c", SERVE,
        str(production.log), str(production.feedback), str(version), str(RECORDS),
        str(labelled), "wrong" if wrong else "right", str(production.served))  # fmt: skip


def new_window(production: Production) -> None:
    """Time moves past the window: what production answered and learnt so far is out of it."""
    shutil.rmtree(production.log, ignore_errors=True)
    shutil.rmtree(production.feedback, ignore_errors=True)


def run_monitor(production: Production) -> WorkflowRun:
    """Run monitor.yml for its schedule, on main."""
    production.runs += 1
    event = {"schedule": "43 6 * * *", "repository": {"full_name": REPOSITORY}}
    return run_workflow(
        production.origin,
        "monitor.yml",
        event,
        production.scratch / f"act-{production.runs}",
        api=production.api,
        event_name="schedule",
        variables={
            "DVC_REMOTE_URL": str(production.dvc_remote),
            "MLFLOW_TRACKING_URI": production.tracking_uri,
            "INFERENCE_LOG_URL": str(production.log),
            "FEEDBACK_URL": str(production.feedback),
            "RELEASE_APP_CLIENT_ID": APP_CLIENT_ID,
        }
        | ROLES,
        environments=ENVIRONMENTS,
    )


def pulls_from(production: Production, branch: str) -> list[dict[str, Any]]:
    return [pull for pull in production.api.pulls.values() if pull["head"]["ref"] == branch]


def production_alias(production: Production) -> int:
    script = (
        "from mlflow import MlflowClient\n"
        f"print(MlflowClient().get_model_version_by_alias({MODEL!r}, 'production').version)"
    )
    env = ("env", f"MLFLOW_TRACKING_URI={production.tracking_uri}")
    shown = run(production.origin, *env, "uv", "run", "--frozen", "python", "-c", script)
    return int(shown.stdout.strip())


def open_pull_changing(production: Production, branch: str, path: str) -> dict[str, Any]:
    """The one pull request from `branch`, open, whose one commit changes `path` only."""
    [pull] = pulls_from(production, branch)
    assert pull["state"] == "open"
    assert git(production, "diff", "--name-only", "main", branch).split() == [path]
    return pull


def batches_on(production: Production, branch: str) -> int:
    """How many batch files `data/batches.dvc` records on `branch`."""
    tracked = yaml.safe_load(git(production, "show", f"{branch}:data/batches.dvc"))
    return int(tracked["outs"][0]["nfiles"])


def judged(result: WorkflowRun) -> dict[str, Any]:
    return dict(json.loads((result.artifacts / "monitor-report" / "reports" / "monitor"
                            / "monitor.json").read_text()))  # fmt: skip


def failure_context(result: WorkflowRun) -> str:
    return f"workflow log (end):\n{result.log[-8000:]}"


def test_too_few_labels_give_no_verdict_and_no_pull_request(production: Production) -> None:
    # given production's traffic, with labels for only a few of its records so far
    serve(production, 1, labelled=50)

    # when the scheduled monitor runs
    result = run_monitor(production)

    # then it gives no verdict, says why on the run's page, and proposes nothing
    assert result.succeeded, failure_context(result)
    summary = result.summary(JUDGE)
    assert "too few" in summary.lower() and "50" in summary, summary
    assert judged(result)["verdict"] == "too-few-labels"
    assert production.api.pulls == {}


def test_good_live_quality_opens_no_pull_request(production: Production) -> None:
    # given labels for everything production answered, and the model right about them as usual
    serve(production, 1, labelled=RECORDS)

    # when the monitor runs
    result = run_monitor(production)

    # then production's version is fine on the joined rows, and nothing is proposed
    assert result.succeeded, failure_context(result)
    verdict = judged(result)
    assert verdict["verdict"] == "fine", verdict
    assert verdict["production"]["rows"] == 50 + RECORDS
    assert production.api.pulls == {}


def test_a_degraded_first_version_gets_a_retraining_pull_request(production: Production) -> None:
    # given labels saying version 1, the only version production has run, is now wrong about
    # what it answers
    serve(production, 1, labelled=RECORDS, wrong=True)

    # when the monitor runs
    result = run_monitor(production)

    # then with no version to roll back to, one retraining pull request adds the labelled rows
    # to the training data; production itself has not moved
    assert result.succeeded, failure_context(result)
    verdict = judged(result)
    assert (verdict["verdict"], verdict["action"]) == ("degraded", "retrain"), verdict
    open_pull_changing(production, RETRAIN, "data/batches.dvc")
    assert batches_on(production, RETRAIN) == batches_on(production, "main") + 1
    assert pulls_from(production, ROLLBACK) == []
    assert production_alias(production) == 1


def test_a_degraded_version_is_rolled_back_by_one_pull_request(production: Production) -> None:
    # given version 2 in production, the window past version 1's traffic, and labels saying
    # version 2 is wrong about everything it answered
    deploy(production, 2)
    new_window(production)
    serve(production, 2, labelled=RECORDS, wrong=True)

    # when the monitor runs
    result = run_monitor(production)

    # then one rollback pull request sets production.yaml back to what ran version 1, with the
    # evidence as its body, and production itself has not moved
    assert result.succeeded, failure_context(result)
    assert judged(result)["verdict"] == "degraded"
    pull = open_pull_changing(production, ROLLBACK, "environments/production.yaml")
    assert "version 1" in pull["title"]
    rolled = yaml.safe_load(git(production, "show", f"{ROLLBACK}:environments/production.yaml"))
    assert rolled["model"]["version"] == 1 and rolled["image"]["digest"] == DIGESTS[1]
    assert str(RECORDS) in pull["body"], "the body does not say how many rows were joined"
    # and the body's chart of live quality over time is one Mermaid (GitHub) draws
    assert set(mermaid_charts(pull["body"])) == {"roc_auc, live against released"}
    assert production_alias(production) == 2


def test_the_next_run_updates_the_same_rollback_pull_request(production: Production) -> None:
    # given more wrong answers labelled
    serve(production, 2, labelled=RECORDS, wrong=True)

    # when the monitor runs again
    result = run_monitor(production)

    # then the one rollback pull request is updated, not joined by a second
    assert result.succeeded, failure_context(result)
    [pull] = pulls_from(production, ROLLBACK)
    assert str(2 * RECORDS) in pull["body"], "the body was not updated"


def test_merging_the_rollback_moves_production_back_through_promote(
    production: Production,
) -> None:
    # given the rollback pull request, merged
    [pull] = pulls_from(production, ROLLBACK)
    before = git(production, "rev-parse", "main")
    merged = production.api.merge(pull["number"])

    # when promote.yml runs for that push
    production.runs += 1
    push = {
        "ref": "refs/heads/main",
        "before": before,
        "after": merged,
        "repository": {"full_name": REPOSITORY, "default_branch": "main"},
    }
    result = run_workflow(
        production.origin, "promote.yml", push, production.scratch / f"act-{production.runs}",
        api=production.api, event_name="push",
        variables={"MLFLOW_TRACKING_URI": production.tracking_uri}, environments=ENVIRONMENTS,
    )  # fmt: skip

    # then production runs version 1 again
    assert result.succeeded, failure_context(result)
    assert f"production rolled back to {MODEL} version 1 (from version 2)" in result.log
    assert production_alias(production) == 1


def test_when_the_version_before_did_no_better_the_monitor_proposes_retraining(
    production: Production,
) -> None:
    # given version 1 back in production and wrong about what it answers too, while version
    # 2's wrong answers are still in the window
    serve(production, 1, labelled=RECORDS, wrong=True)

    # when the monitor runs
    result = run_monitor(production)

    # then it proposes retraining on the labelled rows instead of another rollback, in the one
    # retraining pull request already open, which keeps the batch it proposed before
    assert result.succeeded, failure_context(result)
    assert judged(result)["action"] == "retrain"
    open_pull_changing(production, RETRAIN, "data/batches.dvc")
    assert batches_on(production, RETRAIN) == batches_on(production, "main") + 2
    assert [p["state"] for p in pulls_from(production, ROLLBACK)] == ["closed"]
    assert production_alias(production) == 1
