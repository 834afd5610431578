"""The four stages, run through the CLI on real rows, leave what the user is promised."""

import json
import subprocess
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from conftest import ROOT, SAMPLE, RunCli

from {{ cookiecutter.package_name }} import contract, tasks
from {{ cookiecutter.package_name }}.data import batch_files, load_data
from {{ cookiecutter.package_name }}.settings import load_params
from {{ cookiecutter.package_name }}.tracking import RunRef, data_version, file_md5, git_state


def test_prepare_splits_every_row_once(run_cli: RunCli, tmp_path: Path) -> None:
    run_cli("prepare", SAMPLE, "prepared")

    train = pd.read_parquet(tmp_path / "prepared" / "train.parquet")
    test = pd.read_parquet(tmp_path / "prepared" / "test.parquet")
    reference = pd.read_parquet(tmp_path / "prepared" / "reference.parquet")
    assert len(train) + len(test) == len(pd.read_csv(SAMPLE))
    assert set(train.index).isdisjoint(test.index), "a row is in both train and test"
    assert set(reference.index) <= set(train.index), "the drift reference must come from train"


# What "better than guessing" means for each task, on a metric every project of it reports.
def _beats_chance(metrics: dict[str, float]) -> bool:
    if contract.task() == "binary":
        return metrics["roc_auc"] > 0.5
    if contract.task() == "multiclass":
        return metrics["balanced_accuracy"] > 1 / len(contract.labels())
    return metrics["r2"] > 0


FIGURES = {
    "binary": {"roc.png", "precision_recall.png", "confusion_matrix.png"},
    "multiclass": {"roc.png", "precision_recall.png", "confusion_matrix.png"},
    "regression": {"predicted_vs_actual.png", "residuals.png"},
}


def test_pipeline_writes_the_tasks_metrics_and_plots(trained: Path) -> None:
    metrics = json.loads((trained / "reports" / "metrics.json").read_text())
    assert list(metrics) == tasks.metric_names(), "not the metrics of this task"
    assert _beats_chance(metrics), f"the model does no better than chance: {metrics}"
    figures = trained / "reports" / "figures"
    assert {path.name for path in figures.iterdir()} == FIGURES[contract.task()]
    assert all(path.stat().st_size > 0 for path in figures.iterdir())
    evaluated = json.loads((trained / "reports" / "plots" / "task.json").read_text())
    assert evaluated["task"] == contract.task() and evaluated["target"] == contract.target()
    # and the model itself: fit time, size on disk, its metrics on the rows it learned from
    fit = json.loads((trained / "reports" / "plots" / "fit.json").read_text())
    model_files = (trained / "models" / "model").rglob("*")
    assert fit["model_bytes"] == sum(path.stat().st_size for path in model_files if path.is_file())
    assert fit["fit_seconds"] > 0 and list(fit["train_metrics"]) == tasks.metric_names()
    if contract.is_classification():
        roc = pd.read_csv(trained / "reports" / "plots" / "roc.csv", keep_default_na=False)
        for label, curve in roc.groupby("label"):
            assert curve["tpr"].is_monotonic_increasing, f"{label}: an ROC curve never goes down"
        per_class = pd.read_csv(trained / "reports" / "plots" / "per_class.csv")
        assert per_class["label"].astype(str).tolist() == list(contract.labels())


def test_training_run_is_logged_with_its_provenance(trained: Path) -> None:
    ref = RunRef.read(trained / "models" / "run.json")
    mlflow.set_tracking_uri(ref.tracking_uri)
    run = mlflow.get_run(ref.run_id)

    learning_rate = load_params(ROOT / "params.yaml").train.model.learning_rate
    assert run.data.params["learning_rate"] == str(learning_rate)
    for name in tasks.metric_names():
        assert f"test_{name}" in run.data.metrics, f"evaluate did not add test_{name} to the run"
        assert f"train_{name}" in run.data.metrics, f"evaluate did not add train_{name} to the run"
    assert (run.data.tags["task"], run.data.tags["target"]) == (contract.task(), contract.target())
    assert run.data.tags["data_version"] == file_md5(SAMPLE)
    trained_at = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=trained, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert run.data.tags["git_commit"] == trained_at, "the run does not name the commit it trained"
    assert run.data.tags["git_dirty"] == "false"

    model_info = mlflow.models.get_model_info(f"runs:/{ref.run_id}/model")
    assert model_info.signature is not None
    assert model_info.signature.inputs.input_names() == contract.feature_columns()
    assert contract.target() not in model_info.signature.inputs.input_names()
    optional = [spec.name for spec in model_info.signature.inputs.inputs if not spec.required]
    nullable_features = [name for name in contract.nullable_columns() if name != contract.target()]
    assert optional == nullable_features, "the signature disagrees with the contract on nulls"
    assert model_info.saved_input_example_info is not None, "no input example was logged"


def test_saved_model_predicts_from_raw_records(trained: Path) -> None:
    model = mlflow.pyfunc.load_model(str(trained / "models" / "model"))
    records = pd.read_csv(SAMPLE).head(3)[contract.feature_columns()]

    predictions = model.predict(records)

    assert len(predictions) == 3
    if contract.is_classification():
        assert set(predictions) <= set(contract.labels())
    else:
        assert pd.api.types.is_float_dtype(pd.Series(predictions))


def test_batches_follow_the_raw_data_in_the_order_they_were_taken(
    sample: pd.DataFrame, tmp_path: Path
) -> None:
    batches = tmp_path / "batches"
    batches.mkdir()
    sample.head(10).to_csv(batches / "20260102T000000Z-second.csv", index=False)
    sample.tail(20).to_csv(batches / "20260101T000000Z-first.csv", index=False)
    params = load_params(ROOT / "params.yaml").prepare
    rows = len(sample)

    appended = load_data(SAMPLE, batches, params.model_copy(update={"new_data": "append"}))
    windowed = load_data(
        SAMPLE, batches, params.model_copy(update={"new_data": "window", "window_rows": 25})
    )

    assert appended.index.tolist() == list(range(rows + 30)), "rows are counted on"
    older = appended.iloc[rows : rows + 20].reset_index(drop=True)
    pd.testing.assert_frame_equal(older, sample.tail(20).reset_index(drop=True), check_names=False)
    assert windowed.index.tolist() == list(range(rows + 5, rows + 30)), "only the newest rows"
    files = [SAMPLE, *batch_files(batches)]
    assert data_version([SAMPLE]) == file_md5(SAMPLE)
    assert data_version(files) != data_version(files[:2]) != file_md5(SAMPLE)


def test_only_a_change_beyond_what_the_pipeline_writes_is_dirty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    identity = ["-c", "user.name=tests", "-c", "user.email=tests@example.com"]
    for path in ("dvc.lock", "reports/validation/validation.md", "params.yaml"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("as committed\n")
    for command in (["init", "--quiet"], ["add", "."], [*identity, "commit", "--quiet", "-m", "x"]):
        subprocess.run(["git", *command], check=True, capture_output=True, timeout=60)

    # the pipeline rewrote its lock and a committed report, as dvc repro does before train
    (tmp_path / "dvc.lock").write_text("rewritten\n")
    (tmp_path / "reports" / "validation" / "validation.md").write_text("rewritten\n")
    assert git_state()["git_dirty"] == "false"

    (tmp_path / "params.yaml").write_text("edited by hand\n")
    assert git_state()["git_dirty"] == "true"


def test_outside_a_git_checkout_the_commit_is_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # no repository above

    assert git_state() == {"git_commit": "unknown", "git_dirty": "unknown"}
