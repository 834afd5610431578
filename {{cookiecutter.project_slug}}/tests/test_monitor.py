"""Live quality: the served model's answers, joined to labels that arrive later, judged against
the quality the version was released with; the reaction is a rollback or a retraining."""

import math
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, SAMPLE
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from typer.testing import CliRunner

from {{ cookiecutter.package_name }} import contract, tasks
from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.monitor import (
    Earlier,
    Quality,
    decide,
    earlier_version,
    metrics_of,
)
from {{ cookiecutter.package_name }}.promote import register, tag_image
from {{ cookiecutter.package_name }}.serve import create_app
from {{ cookiecutter.package_name }}.settings import load_params
from {{ cookiecutter.package_name }}.tracking import RunRef

PARAMS = load_params(ROOT / "params.yaml")
GATE = PARAMS.evaluate.gate_metric
MIN_ROWS = 100  # the sample has 300 rows
TOLERANCE = 0.05
DIGEST = "sha256:" + "cd" * 32


def quality(version: str, rows: int, gate: float) -> Quality:
    return Quality(version, rows, {GATE: gate})


def released(gate: float) -> dict[str, float]:
    return {GATE: gate}


WORSE = -1 if tasks.higher_is_better(GATE) else 1  # the sign of getting worse on the gate


SHORT = 0.80 + WORSE * 0.2  # 0.2 short of a version released at 0.80
BEFORE = "1", "c0ffee"  # the version production ran before, and its commit


@pytest.mark.parametrize(
    ("live", "rows", "earlier", "expected"),
    [
        (0.80 + WORSE * 0.5, MIN_ROWS - 1, None, ("too-few-labels", "none")),
        (math.nan, MIN_ROWS, None, ("too-few-labels", "none")),  # e.g. one label only
        (0.80 + WORSE * 0.04, MIN_ROWS, None, ("fine", "none")),
        (SHORT, MIN_ROWS, None, ("degraded", "retrain")),
        # the version before did fine on its own labelled records: roll back to it
        (SHORT, MIN_ROWS, Earlier(*BEFORE, released(0.8), quality("1", MIN_ROWS, 0.8)),
         ("degraded", "rollback")),
        # it fell short too: retrain
        (SHORT, MIN_ROWS, Earlier(*BEFORE, released(0.8), quality("1", MIN_ROWS, SHORT)),
         ("degraded", "retrain")),
        # no records of its own: its released quality, better than this one live, speaks for it
        (SHORT, MIN_ROWS, Earlier(*BEFORE, released(0.8), None), ("degraded", "rollback")),
        # ... and released no better than this one does live: retrain
        (SHORT, MIN_ROWS, Earlier(*BEFORE, released(0.8 + WORSE * 0.3), None),
         ("degraded", "retrain")),
    ],
    ids=["too-few", "undefined", "within-tolerance", "no-earlier", "earlier-fine",
         "earlier-short-too", "earlier-released-better", "earlier-released-worse"],
)  # fmt: skip
def test_the_verdict_and_the_reaction(
    live: float, rows: int, earlier: Earlier | None, expected: tuple[str, str]
) -> None:
    verdict, action, reason = decide(
        quality("2", rows, live), released(0.8), earlier, GATE, TOLERANCE, MIN_ROWS
    )

    assert (verdict, action) == expected, reason
    assert reason, "every verdict says why"


def git(root: Path, *args: str) -> str:
    identity = ["-c", "user.name=tests", "-c", "user.email=tests@example.com"]
    completed = subprocess.run(
        ["git", *identity, *args], cwd=root, capture_output=True, text=True, check=True, timeout=60
    )
    return completed.stdout.strip()


def deploy(root: Path, version: int | None, digest: str = DIGEST) -> str:
    """A commit of environments/production.yaml naming `version`; its hash."""
    path = root / "environments" / "production.yaml"
    path.parent.mkdir(exist_ok=True)
    spec = {
        "model": {"name": "model", "version": version},
        "image": {"name": "ghcr.io/acme/model" if version else None,
                  "digest": digest if version else None},
        "override_reason": None,
    }  # fmt: skip
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    git(root, "add", "environments/production.yaml")
    git(root, "commit", "--quiet", "--message", f"production: {version}")
    return git(root, "rev-parse", "HEAD")


def test_the_version_before_comes_from_production_yamls_history(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet")
    deploy(tmp_path, None)
    first = deploy(tmp_path, 1)
    deploy(tmp_path, 2)
    path = Path("environments/production.yaml")

    assert earlier_version(path, "2", tmp_path) == ("1", first)
    assert earlier_version(path, "1", tmp_path) == ("2", git(tmp_path, "rev-parse", "HEAD"))
    assert earlier_version(path, "3", tmp_path) == ("2", git(tmp_path, "rev-parse", "HEAD"))

    lonely = tmp_path / "lonely"
    lonely.mkdir()
    git(lonely, "init", "--quiet")
    deploy(lonely, None)
    deploy(lonely, 1)
    assert earlier_version(path, "1", lonely) is None


@dataclass
class Production:
    """A repository whose production.yaml ran `versions` in turn (the last runs now), their
    registry, and where the server's log and the labels go."""

    root: Path
    name: str
    log: Path
    feedback: Path
    params: Path
    commits: dict[int, str]


@pytest.fixture
def production(trained: Path, tmp_path: Path) -> Iterator[Production]:
    ref = RunRef.read(trained / "models" / "run.json")
    client = MlflowClient(tracking_uri=ref.tracking_uri)
    name = f"monitored-{tmp_path.name}"
    for _ in range(2):  # versions 1 and 2, both the trained model with its test metrics
        version = register(client, name, ref.run_id, {"git_commit": str(_)}).version
        tag_image(client, name, version, DIGEST)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["monitor"] |= {"min_rows": MIN_ROWS, "tolerance": TOLERANCE}
    params["mlflow"]["model_name"] = name
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params), encoding="utf-8")
    git(tmp_path, "init", "--quiet")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        patch.setenv("MLFLOW_TRACKING_URI", ref.tracking_uri)
        yield Production(
            tmp_path, name, tmp_path / "inference", tmp_path / "feedback", params_file, {}
        )


def serve(production: Production, trained: Path, version: int) -> list[tuple[str, int]]:
    """The sample answered by the project's own server as `version`, captured in the log;
    each record's (request id, place in its request)."""
    capture = PARAMS.serve.capture.model_copy(update={"url": str(production.log)})
    provenance = {"model_name": production.name, "model_version": str(version), "commit": "x",
                  "run_id": "x"}  # fmt: skip
    features = pd.read_csv(SAMPLE)[contract.feature_columns()].astype(object)
    answered = []
    app_ = create_app(trained / "models" / "model", provenance, capture)
    with TestClient(app_) as client:  # leaving it shuts the server down: the log is written
        for start in range(0, len(features), 25):
            chunk = features.iloc[start : start + 25]
            records = [{k: (None if pd.isna(v) else v) for k, v in row.items()}
                       for row in chunk.to_dict("records")]  # fmt: skip
            response = client.post("/predict", json={"records": records})
            assert response.status_code == 200, response.text
            answered += [(response.json()["request_id"], i) for i in range(len(records))]
    return answered


def label(production: Production, answered: list[tuple[str, int]], *, wrong: bool) -> None:
    """The true target of each answered record arrives, or, with `wrong`, a wrong one."""
    truth = pd.read_csv(SAMPLE)[contract.target()]
    values: list[str] | list[float]
    if contract.is_classification():
        labels = list(contract.labels())
        values = [labels[(labels.index(str(v)) + 1) % len(labels)] if wrong else str(v)
                  for v in truth]  # fmt: skip
    else:
        values = [float(v) * 5 + 1000 if wrong else float(v) for v in truth]
    production.feedback.mkdir(exist_ok=True)
    pd.DataFrame(
        {
            "request_id": [request_id for request_id, _ in answered],
            "record": [record for _, record in answered],
            "label": values[: len(answered)],
            "time": pd.Timestamp.now(tz="UTC").isoformat(),
        }
    ).to_csv(production.feedback / f"labels-{len(list(production.feedback.iterdir()))}.csv",
             index=False)  # fmt: skip


def monitor(production: Production, *args: str) -> tuple[int, dict[str, str], str]:
    outputs = production.root / "outputs.txt"
    outputs.unlink(missing_ok=True)
    result = CliRunner().invoke(
        app,
        ["monitor", "--log", str(production.log), "--feedback", str(production.feedback),
         "--outputs", str(outputs), "--params", str(production.params), *args],
    )  # fmt: skip
    found = dict(
        line.split("=", 1) for line in outputs.read_text().splitlines()
    ) if outputs.exists() else {}  # fmt: skip
    return result.exit_code, found, result.output


def test_labels_that_say_production_is_wrong_roll_it_back_to_the_version_before(
    production: Production, trained: Path
) -> None:
    # given production on version 2 after version 1, and labels saying 2 is wrong
    deploy(production.root, None)
    first = deploy(production.root, 1)
    deploy(production.root, 2)
    label(production, serve(production, trained, 2), wrong=True)

    # when the monitor judges it and applies its reaction
    code, outputs, printed = monitor(production, "--apply")

    # then it rolls back to version 1: production.yaml is the file that named it
    assert code == 0, printed
    assert outputs["verdict"] == "degraded" and outputs["action"] == "rollback", printed
    assert outputs["rollback-version"] == "1" and outputs["version"] == "2"
    assert outputs["joined"] == str(len(pd.read_csv(SAMPLE)))
    restored = (production.root / "environments" / "production.yaml").read_text()
    assert restored == git(production.root, "show", f"{first}:environments/production.yaml") + "\n"
    # and the pull request's body gives the evidence: live against released, per segment
    body = Path(outputs["body"]).read_text()
    assert body.startswith("## Roll production back to version 1")
    assert f"**{GATE}** (gate)" in body and "released (test split)" in body
    for segment in contract.segments():
        assert f"| {segment} |" in body, f"no row for the segment {segment}"
    assert "```mermaid" in body and "xychart-beta" in body, "no chart of live quality over time"
    # and the artifact's page has the plot, and the JSON the numbers
    html = (production.root / "reports" / "monitor" / "monitor.html").read_text()
    assert "data:image/png;base64," in html
    judged: dict[str, Any] = yaml.safe_load(
        (production.root / "reports" / "monitor" / "monitor.json").read_text()
    )
    assert judged["production"]["rows"] == len(pd.read_csv(SAMPLE))
    # and over time, day by day for a 7-day window
    over_time = judged["production"]["over_time"]
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) for day, _, _ in over_time), over_time
    assert sum(rows for _, rows, _ in over_time) == len(pd.read_csv(SAMPLE))


def test_right_labels_are_fine_and_few_labels_give_no_verdict(
    production: Production, trained: Path
) -> None:
    deploy(production.root, 1)
    answered = serve(production, trained, 1)

    # given no label yet, then labels for fewer records than a verdict needs
    code, outputs, printed = monitor(production)
    assert code == 0, printed
    assert (outputs["verdict"], outputs["joined"]) == ("too-few-labels", "0"), printed
    assert f"labels `{production.feedback}`" in printed, "the summary does not say where it looked"
    label(production, answered[: MIN_ROWS - 1], wrong=False)
    code, outputs, printed = monitor(production)
    assert code == 0, printed
    assert (outputs["verdict"], outputs["action"]) == ("too-few-labels", "none")
    assert f"{MIN_ROWS - 1} labelled records of version 1, {MIN_ROWS} needed" in printed
    assert outputs["body"] == ""

    # given the true labels of every record
    label(production, answered, wrong=False)
    code, outputs, printed = monitor(production, "--apply")
    assert code == 0, printed
    assert (outputs["verdict"], outputs["action"]) == ("fine", "none"), printed
    assert git(production.root, "status", "--porcelain", "environments") == ""


def test_a_first_version_that_falls_short_is_retrained_on_the_labelled_records(
    production: Production, trained: Path
) -> None:
    # given version 1, the only one production has run, and labels saying it is wrong
    deploy(production.root, None)
    deploy(production.root, 1)
    label(production, serve(production, trained, 1), wrong=True)

    # when the monitor applies its reaction
    code, outputs, printed = monitor(production, "--apply")

    # then the labelled records become a training batch, once
    assert code == 0, printed
    assert (outputs["action"], outputs["added"]) == ("retrain", "true"), printed
    batch = pd.read_csv(outputs["snapshot"])
    assert list(batch.columns) == list(contract.columns())
    assert len(batch) == len(pd.read_csv(SAMPLE))
    assert Path(outputs["body"]).read_text().startswith("## Retrain on production's labelled")
    again = monitor(production, "--apply")[1]
    assert (again["snapshot"], again["added"]) == (outputs["snapshot"], "false")


def test_an_empty_inference_log_variable_reads_the_log_params_yaml_names(
    production: Production, trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the log where params.yaml says, and INFERENCE_LOG_URL empty, as a workflow passes a
    # repository variable nobody set
    deploy(production.root, 1)
    label(production, serve(production, trained, 1), wrong=False)
    params = yaml.safe_load(production.params.read_text())
    params["serve"]["capture"]["url"] = str(production.log)
    production.params.write_text(yaml.safe_dump(params), encoding="utf-8")
    monkeypatch.setenv("INFERENCE_LOG_URL", "")

    # when the monitor runs without --log
    result = CliRunner().invoke(
        app, ["monitor", "--feedback", str(production.feedback), "--params", str(production.params)]
    )

    # then it judged that log
    assert result.exit_code == 0, result.output
    assert f"Log `{production.log}`" in result.output


@pytest.mark.parametrize("broken", ["no-log", "bad-feedback", "no-version"])
def test_what_cannot_be_judged_exits_2_in_one_line(
    production: Production, trained: Path, broken: str
) -> None:
    deploy(production.root, None if broken == "no-version" else 1)
    if broken != "no-log":
        label(production, serve(production, trained, 1), wrong=False)
    if broken == "bad-feedback":
        (production.feedback / "broken.csv").write_text("request_id,label\nabc,x\n")

    code, outputs, printed = monitor(production)

    assert code == 2 and outputs == {}, printed
    assert len(printed.strip().splitlines()) == 1, printed
    expected = {"no-log": "no inference log at", "bad-feedback": "feedback lacks record, time",
                "no-version": "names no model version"}  # fmt: skip
    assert expected[broken] in printed


def test_metrics_undefined_on_the_records_are_nan_not_an_error() -> None:
    # one record has no ROC AUC (binary), no one-vs-rest AUC (multiclass), no R² (regression)
    first = contract.labels()[0] if contract.is_classification() else 1.0
    probabilities = np.eye(len(contract.labels()))[:1] if contract.is_classification() else None
    one = tasks.Scored(np.array([first]), np.array([first]), probabilities)

    values = metrics_of(one)

    assert list(values) == tasks.metric_names()
    assert any(math.isnan(value) for value in values.values()), values
