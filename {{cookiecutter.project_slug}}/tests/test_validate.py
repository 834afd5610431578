"""Bad data gets a clear answer: which column, which check, which rows; and no training."""

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from conftest import RunCli

BadData = Callable[[pd.DataFrame], pd.DataFrame]
ROW = 3  # the row each case breaks, as a 0-based data row of the CSV


def _missing_column(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["hours_per_week"])


def _extra_column(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(favourite_colour="blue")


def _wrong_dtype(frame: pd.DataFrame) -> pd.DataFrame:
    frame["age"] = frame["age"].astype(object)
    frame.loc[ROW, "age"] = "forty"
    return frame


def _out_of_range(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[ROW, "age"] = 250
    return frame


def _nulls(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[ROW, "sex"] = None
    return frame


# (how the data breaks, the column the summary names, the check it names, the row it points at)
CASES: dict[str, tuple[BadData, str, str, int | None]] = {
    "missing-column": (_missing_column, "hours_per_week", "missing column", None),
    "extra-column": (_extra_column, "favourite_colour", "unexpected column", None),
    "wrong-dtype": (_wrong_dtype, "age", "wrong type: expected int64", ROW),
    "out-of-range": (_out_of_range, "age", "less_than_or_equal_to(100)", ROW),
    "nulls": (_nulls, "sex", "null values", ROW),
}


def _prepare(run_cli: RunCli, raw: Path) -> None:
    result = run_cli("prepare", raw, "prepared")
    assert result.exit_code == 0, f"prepare must pass any data through: {result.output}"


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_data_fails_validation_with_a_summary(
    case: str, sample: pd.DataFrame, run_cli: RunCli, tmp_path: Path
) -> None:
    # given raw data broken in one way
    breaks, column, check, row = CASES[case]
    raw = tmp_path / "raw.csv"
    breaks(sample.copy()).to_csv(raw, index=False)
    _prepare(run_cli, raw)

    # when it is validated
    result = run_cli("validate", "prepared", "reports", "--source", raw)

    # then it fails, and the summary names the column, the check and the row
    assert result.exit_code == 1, f"{case} passed validation: {result.output}"
    summary = json.loads((tmp_path / "reports" / "validation.json").read_text())
    assert summary["passed"] is False
    matching = [f for f in summary["failures"] if f["column"] == column and check in f["check"]]
    assert matching, f"no failure for {column!r} / {check!r} in {summary['failures']}"
    if row is not None:
        rows = [example["row"] for example in matching[0]["examples"]]
        assert rows == [row], f"summary points at rows {rows}, the broken row is {row}"
    printed = result.output
    assert column in printed and check in printed, f"the printed summary omits it: {printed}"
    assert column in (tmp_path / "reports" / "validation.md").read_text()


def test_empty_file_fails_validation(run_cli: RunCli, tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text("")
    _prepare(run_cli, raw)

    result = run_cli("validate", "prepared", "reports")

    assert result.exit_code == 1
    assert "the data has no rows" in result.output


def test_summary_caps_the_examples_it_lists(
    sample: pd.DataFrame, run_cli: RunCli, tmp_path: Path
) -> None:
    # given 40 rows out of range, more than params.yaml's max_examples
    sample.loc[:39, "hours_per_week"] = 0
    raw = tmp_path / "raw.csv"
    sample.to_csv(raw, index=False)
    _prepare(run_cli, raw)

    run_cli("validate", "prepared", "reports")

    (failure,) = json.loads((tmp_path / "reports" / "validation.json").read_text())["failures"]
    assert failure["failing_rows"] == 40, "every failing row is counted"
    assert len(failure["examples"]) == 5, "only max_examples of them are listed"


def test_valid_data_passes(sample: pd.DataFrame, run_cli: RunCli, tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    sample.to_csv(raw, index=False)
    _prepare(run_cli, raw)

    result = run_cli("validate", "prepared", "reports")

    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "reports" / "validation.json").read_text())["passed"] is True


def test_training_refuses_data_that_failed_validation(
    sample: pd.DataFrame, run_cli: RunCli, tmp_path: Path
) -> None:
    raw = tmp_path / "raw.csv"
    _nulls(sample).to_csv(raw, index=False)
    _prepare(run_cli, raw)
    run_cli("validate", "prepared", "reports")

    result = run_cli(
        "train", "prepared/train.parquet", "reports/validation.json", "models", "--raw", raw
    )

    assert result.exit_code == 1
    assert "Refusing to train" in result.output
    assert not (tmp_path / "models").exists(), "a model was written from bad data"
