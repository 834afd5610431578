"""The four stages, run through the CLI on real rows, leave what the user is promised."""

import json
from pathlib import Path

import mlflow
import pandas as pd
from conftest import ROOT, SAMPLE, RunCli

from {{ cookiecutter.package_name }}.data import batch_files, load_data
from {{ cookiecutter.package_name }}.schema import LABELS, TARGET, feature_columns, nullable_columns
from {{ cookiecutter.package_name }}.settings import load_params
from {{ cookiecutter.package_name }}.tracking import RunRef, data_version, file_md5


def test_prepare_splits_every_row_once(run_cli: RunCli, tmp_path: Path) -> None:
    run_cli("prepare", SAMPLE, "prepared")

    train = pd.read_parquet(tmp_path / "prepared" / "train.parquet")
    test = pd.read_parquet(tmp_path / "prepared" / "test.parquet")
    reference = pd.read_parquet(tmp_path / "prepared" / "reference.parquet")
    assert len(train) + len(test) == len(pd.read_csv(SAMPLE))
    assert set(train.index).isdisjoint(test.index), "a row is in both train and test"
    assert set(reference.index) <= set(train.index), "the drift reference must come from train"


def test_pipeline_writes_metrics_and_plots(trained: Path) -> None:
    metrics = json.loads((trained / "reports" / "metrics.json").read_text())
    assert {"roc_auc", "accuracy", "f1"} <= metrics.keys()
    assert 0.5 < metrics["roc_auc"] <= 1.0, f"the model ranks no better than chance: {metrics}"
    for plot in ("roc.csv", "precision_recall.csv", "confusion_matrix.png", "roc.png"):
        assert (trained / "reports" / "plots" / plot).stat().st_size > 0, plot
    roc = pd.read_csv(trained / "reports" / "plots" / "roc.csv")
    assert roc["tpr"].is_monotonic_increasing, "an ROC curve never goes down"


def test_training_run_is_logged_with_its_provenance(trained: Path) -> None:
    ref = RunRef.read(trained / "models" / "run.json")
    mlflow.set_tracking_uri(ref.tracking_uri)
    run = mlflow.get_run(ref.run_id)

    assert run.data.params["learning_rate"] == "0.1"
    assert "test_roc_auc" in run.data.metrics, "evaluate did not add test metrics to the run"
    assert run.data.tags["data_version"] == file_md5(SAMPLE)
    assert run.data.tags["git_commit"], "the run does not say which commit trained it"

    model_info = mlflow.models.get_model_info(f"runs:/{ref.run_id}/model")
    assert model_info.signature is not None
    assert model_info.signature.inputs.input_names() == feature_columns()
    assert TARGET not in model_info.signature.inputs.input_names()
    optional = [spec.name for spec in model_info.signature.inputs.inputs if not spec.required]
    assert optional == nullable_columns(), "the signature disagrees with the contract on nulls"
    assert model_info.saved_input_example_info is not None, "no input example was logged"


def test_saved_model_predicts_from_raw_records(trained: Path) -> None:
    model = mlflow.pyfunc.load_model(str(trained / "models" / "model"))
    records = pd.read_csv(SAMPLE).head(3)[feature_columns()]

    predictions = model.predict(records)

    assert set(predictions) <= set(LABELS)


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
