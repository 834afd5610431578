"""The inference log read back: a window's bounds, the files it opens and refuses, sampling, and
the labels that arrive later (their format, the latest one winning).

The log's files here are built with the log's own schema (`log_schema`) and named as capture.py
names them; test_drift.py checks a window the real server wrote.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from {{ cookiecutter.package_name }} import contract
from {{ cookiecutter.package_name }}.inference import (
    NAME_TIME,
    LogError,
    NoFeedbackError,
    fingerprint,
    labelled,
    log_schema,
    read_feedback,
    read_window,
)

START = datetime(2026, 12, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _answer(index: int) -> dict[str, Any]:
    if contract.is_classification():
        labels = contract.labels()
        chances = {label: 1.0 / len(labels) for label in labels}
        return {"label": labels[index % len(labels)], "probabilities": chances}
    return {"prediction": float(index)}


def write_file(
    log: Path, closed: datetime, times: list[datetime], sample: pd.DataFrame, tag: str = "a"
) -> Path:
    """One closed file of the log: a row answered at each of `times`, inputs from the sample."""
    inputs = sample[contract.feature_columns()].head(len(times)).astype(object)
    rows = [
        {
            "request_id": f"{tag}{index}",
            "record": 0,
            "time": moment,
            "model_name": "model",
            "model_version": "1",
            "input": {k: (None if pd.isna(v) else v) for k, v in row.items()},
            "output": _answer(index),
        }
        for index, (moment, (_, row)) in enumerate(zip(times, inputs.iterrows(), strict=True))
    ]
    log.mkdir(parents=True, exist_ok=True)
    path = log / f"{closed:{NAME_TIME}}-{tag}.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=log_schema()), path)
    return path


@pytest.fixture
def log(tmp_path: Path, sample: pd.DataFrame) -> Path:
    """Two files: one closed at 2:00 (rows at 0:30, 1:30), one at 4:00 (rows at 2:30, 3:30)."""
    folder = tmp_path / "inference"
    write_file(folder, START + 2 * HOUR, [START + 0.5 * HOUR, START + 1.5 * HOUR], sample, "a")
    write_file(folder, START + 4 * HOUR, [START + 2.5 * HOUR, START + 3.5 * HOUR], sample, "b")
    return folder


def test_a_window_holds_the_records_answered_within_its_bounds(log: Path) -> None:
    window = read_window(str(log), START + 1.5 * HOUR, START + 3.5 * HOUR)

    assert list(window.records["time"]) == [START + 1.5 * HOUR, START + 2.5 * HOUR], "bounds"
    assert window.files == 2 and len(window.features) == len(window.answers) == 2
    assert list(window.features.columns) == contract.feature_columns()


def test_files_closed_before_the_window_are_not_opened(log: Path) -> None:
    # given a file closed before the window that no reader could open
    (log / f"{START + 0.75 * HOUR:{NAME_TIME}}-old.parquet").write_bytes(b"not parquet")

    window = read_window(str(log), START + 2.5 * HOUR)

    assert window.files == 1 and len(window) == 2
    with pytest.raises(LogError, match="is not a Parquet file"):
        read_window(str(log))  # the same file, inside an open window


def test_half_written_files_are_ignored(log: Path) -> None:
    (log / f".{START + 5 * HOUR:{NAME_TIME}}-c.parquet.partial").write_bytes(b"PAR1 half")

    assert len(read_window(str(log))) == 4


def test_a_foreign_parquet_file_is_refused_with_one_line(log: Path) -> None:
    pq.write_table(pa.table({"colour": ["blue"]}), log / "colours.parquet")

    with pytest.raises(LogError) as raised:
        read_window(str(log))

    message = str(raised.value)
    assert message.endswith("colours.parquet is not in this contract's inference log format")
    assert "\n" not in message


def test_no_log_at_all_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LogError, match="no inference log at"):
        read_window(str(tmp_path / "nowhere"))


def test_a_fixed_window_reads_only_files_closed_before_its_end(log: Path) -> None:
    # a row answered at 1:30 is in [1:00, 3:00); its file closed at 2:00, the next one at 4:00
    until = START + 3 * HOUR

    loose = read_window(str(log), START + HOUR, until)
    fixed = read_window(str(log), START + HOUR, until, fixed=True)

    assert len(loose) == 2 and loose.files == 2
    assert len(fixed) == 1 and fixed.files == 1, "a file closed after the end was read"
    assert fingerprint(fixed, START + HOUR, until) != fingerprint(loose, START + HOUR, until)


def test_sampling_bounds_the_rows_read_and_counts_the_whole_window(
    tmp_path: Path, sample: pd.DataFrame
) -> None:
    folder = tmp_path / "inference"
    for hour in range(4):
        times = [START + hour * HOUR + timedelta(seconds=s) for s in range(50)]
        write_file(folder, START + (hour + 1) * HOUR, times, sample, f"f{hour}")

    window = read_window(str(folder), columns=["input"], sample_rows=40, seed=1)
    again = read_window(str(folder), columns=["input"], sample_rows=40, seed=1)

    assert window.rows == 200 and len(window) == 40, (window.rows, len(window))
    assert window.features.equals(again.features), "the same seed drew another sample"
    assert list(window.answers.columns) == [], "a column not asked for was read"
    assert window.features.notna().any().all()


def _feedback(folder: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _label(index: int) -> str | float:
    return contract.labels()[index % 2] if contract.is_classification() else float(index)


def test_the_latest_label_wins_and_joins_by_request_and_record(log: Path, tmp_path: Path) -> None:
    folder = tmp_path / "feedback"
    first = {"request_id": "a0", "record": 0, "label": _label(0), "time": "2026-12-02T00:00:00Z"}
    later = first | {"label": _label(1), "time": "2026-12-03T00:00:00Z"}
    _feedback(folder, "2.csv", [later])
    _feedback(folder, "1.csv", [first, {**first, "request_id": "b1"}])

    feedback = read_feedback(str(folder))
    window = labelled(read_window(str(log)), feedback)

    assert window.labels is not None
    by_id = dict(zip(window.records["request_id"], window.labels, strict=True))
    assert by_id["a0"] == _label(1), "the correction did not win"
    assert by_id["b1"] == _label(0) and pd.isna(by_id["a1"]) and pd.isna(by_id["b0"])


BAD_FEEDBACK: dict[str, tuple[dict[str, Any], str]] = {
    "missing-column": ({"request_id": "a0", "record": 0, "label": "x"}, "feedback lacks time"),
    "bad-time": (
        {"request_id": "a0", "record": 0, "label": "x", "time": "yesterday"},
        "1 feedback rows are not valid",
    ),
    "negative-record": (
        {"request_id": "a0", "record": -1, "label": "x", "time": "2026-12-02"},
        "1 feedback rows are not valid",
    ),
}


@pytest.mark.parametrize("case", BAD_FEEDBACK, ids=list(BAD_FEEDBACK))
def test_feedback_that_breaks_the_format_names_its_file(tmp_path: Path, case: str) -> None:
    row, message = BAD_FEEDBACK[case]
    if "label" in row:
        row = row | {"label": _label(0)}
    path = _feedback(tmp_path / "feedback", "labels.csv", [row])

    with pytest.raises(LogError) as raised:
        read_feedback(str(tmp_path / "feedback"))

    assert str(raised.value).startswith(f"{path}: {message}"), raised.value


def test_a_label_the_contract_does_not_allow_is_refused(tmp_path: Path) -> None:
    wrong = "no such label" if contract.is_classification() else "forty"
    row = {"request_id": "a0", "record": 0, "label": wrong, "time": "2026-12-02"}
    _feedback(tmp_path / "feedback", "labels.csv", [row])

    with pytest.raises(LogError, match="1 feedback rows are not valid"):
        read_feedback(str(tmp_path / "feedback"))


def test_no_feedback_yet_is_its_own_error(tmp_path: Path) -> None:
    with pytest.raises(NoFeedbackError, match="no feedback at"):
        read_feedback(str(tmp_path / "feedback"))
