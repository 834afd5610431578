"""Drift: a shifted column is caught, identical data is not, and bad input is neither.

The columns shifted or broken are found in the contract and the sample, not named.
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from conftest import ROOT, RunCli, numeric_feature
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from {{ cookiecutter.package_name }} import contract
from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.drift import (
    BadBatchError,
    CheckedBatch,
    check_batch,
    decide,
    fingerprint,
    make_batch,
    parse_shifts,
    snapshot,
    write_outputs,
)
from {{ cookiecutter.package_name }}.serve import create_app
from {{ cookiecutter.package_name }}.settings import ParamsError, load_params

PARAMS = load_params(ROOT / "params.yaml").drift
FEATURES = contract.feature_columns()


@pytest.fixture
def reference(sample: pd.DataFrame) -> pd.DataFrame:
    return check_batch(sample).frame


@pytest.fixture
def shift(sample: pd.DataFrame) -> tuple[str, float]:
    """The numeric feature with the most distinct values, and a shift of two of its standard
    deviations (every task's contract has one: the drift checks need a number that moves)."""
    spread = {
        name: pd.to_numeric(sample[name], errors="coerce").dropna()
        for name in contract.numeric_features()
    }
    assert spread, "the drift tests shift a numeric feature, and the contract has none"
    name = max(spread, key=lambda column: spread[column].nunique())
    assert spread[name].nunique() >= 5, f"{name} has too few values to shift: {spread[name]}"
    return name, 2 * float(spread[name].std())


@pytest.fixture
def shifted(sample: pd.DataFrame, shift: tuple[str, float]) -> pd.DataFrame:
    return make_batch(sample, len(sample), dict([shift]), seed=1)


def _emptied(frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """A feature with no value at all: a broken feed. The contract allows nulls row by row in a
    nullable column, so the check names the empty column; elsewhere the nulls break it."""
    nullable = [name for name in FEATURES if name in contract.nullable_columns()]
    name = (nullable or FEATURES)[0]
    message = f"every value is missing in {name}" if nullable else "breaks the data contract"
    return frame.assign(**{name: None}), message


def test_a_shifted_column_is_detected(
    shifted: pd.DataFrame, shift: tuple[str, float], reference: pd.DataFrame
) -> None:
    batch = check_batch(shifted)

    result, _ = decide(reference, batch, PARAMS)

    drifted = [column.column for column in result.columns if column.drifted]
    assert drifted[0] == shift[0], result.columns
    top = result.columns[0]
    assert top.score >= top.threshold and top.method == PARAMS.num_method


def test_identical_data_does_not_drift(reference: pd.DataFrame) -> None:
    result, _ = decide(reference, CheckedBatch(reference.copy(), len(reference)), PARAMS)

    assert not result.drifted
    assert not any(column.drifted for column in result.columns)
    assert len(result.columns) == len(FEATURES), "every feature is checked"


def test_the_dataset_verdict_follows_the_drift_share(
    shifted: pd.DataFrame, reference: pd.DataFrame
) -> None:
    # one shifted feature: below a share of every column, at a share of one column in all
    batch = check_batch(shifted)

    lenient, _ = decide(reference, batch, PARAMS.model_copy(update={"drift_share": 1.0}))
    one_column = 0.99 / len(FEATURES)
    strict, _ = decide(reference, batch, PARAMS.model_copy(update={"drift_share": one_column}))

    assert lenient.drifted_columns == strict.drifted_columns >= 1
    assert not lenient.drifted and strict.drifted


def _wrong_type(frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    name = numeric_feature()
    return frame.assign(**{name: "forty"}), name


Breakage = Callable[[pd.DataFrame], tuple[pd.DataFrame, str]]
BAD_INPUT: dict[str, Breakage] = {
    "missing-column": lambda frame: (frame.drop(columns=[FEATURES[-1]]), FEATURES[-1]),
    "all-null-column": _emptied,
    "empty": lambda frame: (frame.iloc[0:0], "breaks the data contract"),
    "wrong-type": _wrong_type,
}


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_is_neither_drift_nor_no_drift(sample: pd.DataFrame, case: str) -> None:
    broken, message = BAD_INPUT[case](sample.copy())
    with pytest.raises(BadBatchError, match=message):
        check_batch(broken)


def test_sampling_bounds_the_rows_checked(sample: pd.DataFrame, reference: pd.DataFrame) -> None:
    sampled = PARAMS.model_copy(update={"sample_rows": 200})
    batch = check_batch(make_batch(sample, 1000, {}, seed=2), sample_rows=200)

    result, _ = decide(reference, batch, sampled)

    assert len(batch.frame) == 200, "the row checks ran on more than the sample"
    assert result.checked_rows == (200, 200) and result.current_rows == 1000


WHOLE_BATCH: dict[str, Breakage] = {
    "missing-column": lambda frame: (frame.drop(columns=[FEATURES[-1]]), f"missing {FEATURES[-1]}"),
    "extra-column": lambda frame: (frame.assign(colour="blue"), "unexpected colour"),
    # with sampling, every column's emptiness is checked on the whole batch, nullable or not
    "all-null-column": lambda frame: (
        frame.assign(**{FEATURES[0]: None}),
        f"every value is missing in {FEATURES[0]}",
    ),
}


@pytest.mark.parametrize("case", WHOLE_BATCH, ids=list(WHOLE_BATCH))
def test_sampling_still_checks_every_column_of_the_whole_batch(
    sample: pd.DataFrame, case: str
) -> None:
    batch, message = WHOLE_BATCH[case](make_batch(sample, 1000, {}, seed=2))

    with pytest.raises(BadBatchError, match=message):
        check_batch(batch, sample_rows=200)


def test_the_outputs_carry_the_table_and_the_plot(
    shifted: pd.DataFrame, shift: tuple[str, float], reference: pd.DataFrame, tmp_path: Path
) -> None:
    batch = check_batch(shifted)
    result, snapshot = decide(reference, batch, PARAMS.model_copy(update={"drift_share": 1.0}))

    markdown = write_outputs(result, snapshot, "batch.csv", tmp_path).read_text()

    assert {path.name for path in tmp_path.iterdir()} == {
        "drift.html", "drift.json", "drift.md", "drift.png"
    }  # fmt: skip
    assert f"| {shift[0]} | {PARAMS.num_method} |" in markdown and "drifted ⚠️" in markdown
    assert "![" in markdown and "drift.png" in markdown
    summary = json.loads((tmp_path / "drift.json").read_text())
    assert summary["drifted"] is False and summary["columns"][0]["column"] == shift[0]


def test_shifts_name_numeric_columns() -> None:
    first = contract.numeric_features()[0]
    assert parse_shifts([f"{first}=10"]) == {first: 10.0}
    assert parse_shifts([f"{first}=-5.5"]) == {first: -5.5}
    not_numeric = (contract.categorical_features() or [contract.target()])[0]
    with pytest.raises(ValueError, match="not a numeric feature"):
        parse_shifts([f"{not_numeric}=1"])


def test_the_cli_exits_2_on_a_bad_batch_and_0_with_a_verdict(
    run_cli: RunCli,
    sample: pd.DataFrame,
    shifted: pd.DataFrame,
    reference: pd.DataFrame,
    tmp_path: Path,
) -> None:
    reference.to_parquet(tmp_path / "reference.parquet")
    sample.drop(columns=[FEATURES[0]]).to_csv(tmp_path / "broken.csv", index=False)
    shifted.to_csv(tmp_path / "ok.csv", index=False)
    outputs = tmp_path / "outputs"

    bad = run_cli("drift", "--batch", tmp_path / "broken.csv", "--reference",
                  tmp_path / "reference.parquet", "--outputs", outputs)  # fmt: skip
    good = run_cli("drift", "--batch", tmp_path / "ok.csv", "--reference",
                   tmp_path / "reference.parquet", "--outputs", outputs)  # fmt: skip

    assert bad.exit_code == 2, bad.output
    assert "Bad batch" in bad.output and FEATURES[0] in bad.output
    assert good.exit_code == 0, good.output
    lines = outputs.read_text().splitlines()
    assert lines[:3] == ["verdict=bad-batch", "drifted=false", "summary=reports/drift/drift.md"]
    assert lines[3:6] == ["verdict=no-drift", "drifted=false", "summary=reports/drift/drift.md"]
    assert lines[6:] == [
        f"fingerprint={fingerprint(pd.read_csv(tmp_path / 'ok.csv'))}",
        f"model={load_params(ROOT / 'params.yaml').mlflow.model_name}",
        "window=",  # a batch, not a window of the inference log
        "until=",
    ]


def test_the_bad_batch_summary_names_the_failing_check(
    run_cli: RunCli, sample: pd.DataFrame, reference: pd.DataFrame, tmp_path: Path
) -> None:
    reference.to_parquet(tmp_path / "reference.parquet")
    sample.drop(columns=[FEATURES[0]]).to_csv(tmp_path / "broken.csv", index=False)

    result = run_cli("drift", "--batch", tmp_path / "broken.csv", "--reference",
                     tmp_path / "reference.parquet")  # fmt: skip

    summary = (tmp_path / "reports" / "drift" / "drift.md").read_text()
    assert result.exit_code == 2
    assert summary.startswith("## Data drift: bad batch, not checked")
    assert f"| {FEATURES[0]} | missing column |" in summary, summary


def test_a_fingerprint_follows_the_content(sample: pd.DataFrame) -> None:
    name = contract.numeric_features()[0]
    assert fingerprint(sample) == fingerprint(sample.copy())
    changed = sample.assign(**{name: sample[name] + 1})
    assert fingerprint(changed) != fingerprint(sample)
    assert fingerprint(sample.rename(columns={name: name.upper()})) != fingerprint(sample)


def test_a_batch_is_snapshotted_once(sample: pd.DataFrame, tmp_path: Path) -> None:
    batches = tmp_path / "batches"
    taken = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    first = snapshot(sample, batches, fingerprint(sample), taken)
    again = snapshot(sample, batches, fingerprint(sample))

    assert first.added and not again.added and again.path == first.path
    assert first.path.name == f"20260102T030405Z-{fingerprint(sample)[:12]}.csv"
    assert list(batches.iterdir()) == [first.path]
    pd.testing.assert_frame_equal(pd.read_csv(first.path), sample)


def test_the_snapshot_cli_refuses_a_batch_that_changed_since_the_check(
    run_cli: RunCli, sample: pd.DataFrame, tmp_path: Path
) -> None:
    sample.to_csv(tmp_path / "batch.csv", index=False)
    checked = fingerprint(sample)
    sample.drop(index=0).to_csv(tmp_path / "batch.csv", index=False)

    result = run_cli("snapshot", "--batch", tmp_path / "batch.csv", "--fingerprint", checked)

    assert result.exit_code == 1
    assert "changed since the drift check" in result.output
    assert not (tmp_path / "data" / "batches").exists()


def test_the_retraining_body_says_what_data_it_adds(
    run_cli: RunCli, sample: pd.DataFrame, tmp_path: Path
) -> None:
    sample.to_csv(tmp_path / "batch.csv", index=False)
    (tmp_path / "drift.md").write_text("## Data drift: **Drift detected**\n")
    outputs = tmp_path / "outputs"

    result = run_cli("snapshot", "--batch", tmp_path / "batch.csv", "--drift-summary",
                     tmp_path / "drift.md", "--body", tmp_path / "body.md",
                     "--outputs", outputs)  # fmt: skip

    assert result.exit_code == 0, result.output
    (kept,) = (tmp_path / "data" / "batches").iterdir()
    body = (tmp_path / "body.md").read_text()
    assert f"`data/batches/{kept.name}` ({len(sample):,} rows" in body
    assert "`prepare.new_data: append`" in body
    assert body.rstrip().endswith("## Data drift: **Drift detected**")
    assert outputs.read_text().splitlines() == ["added=true", f"file=data/batches/{kept.name}"]


def test_snapshotting_the_same_batch_again_adds_nothing(
    run_cli: RunCli, sample: pd.DataFrame, tmp_path: Path
) -> None:
    sample.to_csv(tmp_path / "batch.csv", index=False)
    outputs = tmp_path / "outputs"

    first = run_cli("snapshot", "--batch", tmp_path / "batch.csv")
    again = run_cli("snapshot", "--batch", tmp_path / "batch.csv", "--body", tmp_path / "body.md",
                    "--outputs", outputs)  # fmt: skip

    assert first.exit_code == again.exit_code == 0, again.output
    assert "already in the training data" in again.output
    assert len(list((tmp_path / "data" / "batches").iterdir())) == 1
    assert not (tmp_path / "body.md").exists(), "a body for a pull request with nothing to add"
    assert outputs.read_text().splitlines()[0] == "added=false"


REQUEST_RECORDS = 100  # records per request sent to the server


def serve_traffic(trained: Path, log: Path, traffic: pd.DataFrame) -> list[str]:
    """Send the traffic's features to the real server (the trained model, capture on into
    `log`); the request ids, in order. Leaving the client shuts the server down, which writes
    the log."""
    capture = load_params(ROOT / "params.yaml").serve.capture.model_copy(update={"url": str(log)})
    ids = []
    with TestClient(create_app(trained / "models" / "model", capture=capture)) as client:
        for start in range(0, len(traffic), REQUEST_RECORDS):
            part = traffic[FEATURES].iloc[start : start + REQUEST_RECORDS]
            records = json.loads(part.to_json(orient="records"))  # NaN -> null
            response = client.post("/predict", json={"records": records})
            assert response.status_code == 200, response.text
            ids.append(response.json()["request_id"])
    return ids


@pytest.fixture(scope="module")
def served(
    trained: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, pd.DataFrame, list[str]]]:
    """Two inference logs the server wrote, outside the project: the sample's traffic as it is,
    and shifted (the numeric feature with the most values, by two standard deviations)."""
    sample = pd.read_csv(ROOT / "tests" / "data" / "sample.csv")
    spread = {name: pd.to_numeric(sample[name], errors="coerce").dropna()
              for name in contract.numeric_features()}  # fmt: skip
    name = max(spread, key=lambda column: spread[column].nunique())
    logs = {}
    for case, shifts in (("same", {}), ("shifted", {name: 2 * float(spread[name].std())})):
        traffic = make_batch(sample, len(sample), shifts, seed=1)
        log = tmp_path_factory.mktemp(f"elsewhere-{case}") / "inference"
        logs[case] = (log, traffic, serve_traffic(trained, log, traffic))
    return logs


def run_window(tmp_path: Path, *args: str | Path, **drift: Any) -> tuple[Result, dict[str, str]]:
    """The CLI in `tmp_path` with params.yaml's drift section changed by `drift`; its OUTPUTS."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["drift"] |= drift
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    outputs = tmp_path / "outputs"
    outputs.unlink(missing_ok=True)
    argv = [str(arg) for arg in (*args, "--outputs", outputs, "--params", "params.yaml")]
    result = CliRunner().invoke(app, argv)
    written = outputs.read_text().splitlines() if outputs.exists() else []
    return result, dict(line.split("=", 1) for line in written)


@pytest.mark.parametrize("case", ["same", "shifted"])
def test_the_drift_check_on_a_window_of_the_inference_log_finds_drift_when_the_traffic_shifted(
    served: dict[str, tuple[Path, pd.DataFrame, list[str]]],
    reference: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    # given the log the server wrote, found through INFERENCE_LOG_URL, and drift.window set
    log, traffic, _ = served[case]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFERENCE_LOG_URL", str(log))
    reference.to_parquet(tmp_path / "reference.parquet")
    one_column = 0.99 / len(FEATURES)  # one drifted column is dataset drift

    result, outputs = run_window(tmp_path, "drift", "--reference", "reference.parquet",
                                 window="1h", drift_share=one_column)  # fmt: skip

    assert result.exit_code == 0, result.output
    assert outputs["verdict"] == ("drift" if case == "shifted" else "no-drift"), result.output
    assert outputs["window"] == "1h" and datetime.fromisoformat(outputs["until"]).tzinfo
    summary = (tmp_path / "reports" / "drift" / "drift.md").read_text()
    files = len(list(log.glob("*.parquet")))
    assert f"Inference log {log}, the last 1h: {len(traffic):,} records in {files} files (" in (
        summary
    ), summary


def test_a_drifted_window_is_snapshotted_as_its_labelled_records(
    served: dict[str, tuple[Path, pd.DataFrame, list[str]]],
    reference: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a window judged, and labels for the first request's records only
    log, traffic, ids = served["shifted"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFERENCE_LOG_URL", str(log))
    reference.to_parquet(tmp_path / "reference.parquet")
    _, judged = run_window(tmp_path, "drift", "--window", "2h", "--reference", "reference.parquet")
    window = ("--window", judged["window"], "--until", judged["until"])
    empty, nothing = run_window(
        tmp_path, "snapshot", *window, "--fingerprint", judged["fingerprint"]
    )
    labels = traffic[contract.target()].head(REQUEST_RECORDS).rename("label").to_frame()
    labels = labels.assign(request_id=ids[0], record=range(len(labels)), time="2026-12-06")
    (tmp_path / "data" / "feedback").mkdir(parents=True)
    labels.to_csv(tmp_path / "data" / "feedback" / "labels.csv", index=False)

    # when the window is snapshotted, with the check's fingerprint
    result, outputs = run_window(tmp_path, "snapshot", *window, "--fingerprint",
                                 judged["fingerprint"], "--body", "body.md")  # fmt: skip

    # then nothing was kept without labels, and with them the labelled records are the batch
    assert empty.exit_code == 0 and nothing == {"added": "false", "file": ""}, empty.output
    assert "no record of the window has a label yet" in empty.output
    assert result.exit_code == 0 and outputs["added"] == "true", result.output
    kept = pd.read_csv(outputs["file"])
    expected = traffic.head(REQUEST_RECORDS)[list(contract.columns())].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, expected, check_dtype=False)
    body = (tmp_path / "body.md").read_text()
    left_out = len(traffic) - REQUEST_RECORDS
    assert f"{left_out:,} records without a label yet were left out" in body, body
    assert f"found drift in the inference log {log}, the last 2h" in body


def test_a_window_snapshot_refuses_other_rows_than_the_check_judged(
    served: dict[str, tuple[Path, pd.DataFrame, list[str]]],
    reference: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log, _, _ = served["same"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFERENCE_LOG_URL", str(log))
    reference.to_parquet(tmp_path / "reference.parquet")
    _, judged = run_window(tmp_path, "drift", "--window", "1h", "--reference", "reference.parquet")

    # the same end, a window that starts later: not the window the check judged
    result, _ = run_window(tmp_path, "snapshot", "--window", "1m", "--until",
                           judged["until"], "--fingerprint", judged["fingerprint"])  # fmt: skip

    assert result.exit_code == 1, result.output
    assert "changed since the drift check judged it" in result.output


def test_a_window_with_bad_inputs_is_a_bad_batch(
    reference: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a log with no record in the window: nothing to judge
    from {{ cookiecutter.package_name }}.inference import log_schema

    monkeypatch.chdir(tmp_path)
    (tmp_path / "inference").mkdir()
    pq_path = tmp_path / "inference" / "20200101T000000000000Z-old.parquet"
    log_schema().empty_table().to_pandas().to_parquet(pq_path)
    monkeypatch.setenv("INFERENCE_LOG_URL", str(tmp_path / "inference"))
    reference.to_parquet(tmp_path / "reference.parquet")

    result, outputs = run_window(tmp_path, "drift", "--window", "1h", "--reference",
                                 "reference.parquet")  # fmt: skip

    assert result.exit_code == 2, result.output
    assert outputs["verdict"] == "bad-batch"
    summary = (tmp_path / "reports" / "drift" / "drift.md").read_text()
    assert "no record was answered in the window" in summary


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--batch", "batch.csv", "--window", "1h"), "give --batch or --window, not both"),
        (("--window", "1h", "--until", "2026-12-06T06:17:00"), "has no time zone"),
        (("--window", "1 day"), "'1 day' is not a duration"),
    ],
)
def test_a_window_asked_for_wrongly_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    monkeypatch.chdir(tmp_path)

    result, _ = run_window(tmp_path, "snapshot", *args)

    assert isinstance(result.exception, ParamsError), result.output
    assert message in str(result.exception)
