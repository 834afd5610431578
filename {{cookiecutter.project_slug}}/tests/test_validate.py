"""Bad data gets a clear answer: which column, which check, which rows; and no training.

Each case breaks a column the contract describes (found in the contract, not named), so the
tests keep testing what they say after the data and the schema are swapped.
"""

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, RunCli, bounded_feature, numeric_feature, required_feature

from {{ cookiecutter.package_name }} import contract
from {{ cookiecutter.package_name }}.settings import load_params
from {{ cookiecutter.package_name }}.validate import Repeats, null_shares, repeats

PARAMS = load_params(ROOT / "params.yaml").validate_

Breakage = Callable[[pd.DataFrame], tuple[pd.DataFrame, str, str | None, int | None]]
ROW = 3  # the row each case breaks, as a 0-based data row of the CSV


def _missing_column(frame: pd.DataFrame) -> tuple[pd.DataFrame, str, str | None, int | None]:
    name = contract.feature_columns()[-1]
    return frame.drop(columns=[name]), name, "missing column", None


def _extra_column(frame: pd.DataFrame) -> tuple[pd.DataFrame, str, str | None, int | None]:
    return frame.assign(favourite_colour="blue"), "favourite_colour", "unexpected column", None


def _wrong_dtype(frame: pd.DataFrame) -> tuple[pd.DataFrame, str, str | None, int | None]:
    name = numeric_feature()
    frame[name] = frame[name].astype(object)
    frame.loc[ROW, name] = "forty"
    return frame, name, "wrong type: expected", ROW


def _out_of_range(frame: pd.DataFrame) -> tuple[pd.DataFrame, str, str | None, int | None]:
    """Past a bound; where the contract bounds nothing, a value far from the rest is allowed."""
    bounded = bounded_feature()
    name, value, check = bounded or (numeric_feature(), 10**9, None)
    frame[name] = frame[name].astype(object)
    frame.loc[ROW, name] = value
    return frame, name, check, ROW


def _nulls(frame: pd.DataFrame) -> tuple[pd.DataFrame, str, str | None, int | None]:
    """A null in a required feature; where every feature may be null, the null is allowed."""
    name = required_feature() or contract.feature_columns()[0]
    frame[name] = frame[name].astype(object)
    frame.loc[ROW, name] = None
    return frame, name, "null values" if required_feature() else None, ROW


def _null_target(frame: pd.DataFrame) -> tuple[pd.DataFrame, str, str | None, int | None]:
    frame[contract.target()] = frame[contract.target()].astype(object)
    frame.loc[ROW, contract.target()] = None
    return frame, contract.target(), "null values", ROW


def _unknown_label_or_text_target(
    frame: pd.DataFrame,
) -> tuple[pd.DataFrame, str, str | None, int | None]:
    """Classification: a label the contract does not list. Regression: a target that is text."""
    target = contract.target()
    frame[target] = frame[target].astype(object)
    if contract.is_classification():
        frame.loc[ROW, target] = "an-undeclared-label"
        return frame, target, "isin", ROW
    frame.loc[ROW, target] = "a lot"
    return frame, target, "wrong type: expected", ROW


# how the data breaks -> (broken frame, the column the summary names, its check, the row); a
# check of None: this contract does not forbid the edit, and the data must pass
CASES: dict[str, Breakage] = {
    "missing-column": _missing_column,
    "extra-column": _extra_column,
    "wrong-dtype": _wrong_dtype,
    "out-of-range": _out_of_range,
    "nulls": _nulls,
    "null-target": _null_target,
    "unknown-label-or-text-target": _unknown_label_or_text_target,
}


def _prepare(run_cli: RunCli, raw: Path) -> None:
    result = run_cli("prepare", raw, "prepared")
    assert result.exit_code == 0, f"prepare must pass any data through: {result.output}"


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_data_fails_validation_with_a_summary(
    case: str, sample: pd.DataFrame, run_cli: RunCli, tmp_path: Path
) -> None:
    # given raw data broken in one way
    broken, column, check, row = CASES[case](sample.copy())
    raw = tmp_path / "raw.csv"
    broken.to_csv(raw, index=False)
    _prepare(run_cli, raw)

    # when it is validated
    result = run_cli("validate", "prepared", "reports", "--source", raw)

    if check is None:
        assert result.exit_code == 0, f"{case} is allowed here, yet failed: {result.output}"
        return
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


def _not_utf8(text: str) -> bytes:
    lines = text.splitlines(keepends=True)
    lines[4] = lines[4].replace(",", ",\xe9", 1)  # Latin-1's é: the file was saved as Latin-1
    return "".join(lines).encode("latin-1", errors="replace")


def _extra_field(text: str) -> bytes:
    lines = text.splitlines(keepends=True)
    lines[4] = lines[4].rstrip("\n") + ",surplus\n"
    return "".join(lines).encode()


def _cut_short(text: str) -> bytes:
    return text.encode()[: text.encode().rindex(b",", 0, len(text.encode()) - 1)]


# a file that is not a table -> the 1-based line the summary points at (of 6: header and 5 rows)
UNREADABLE = {
    "not-utf8": (_not_utf8, "line 5", "not UTF-8 text"),
    "extra-field": (_extra_field, "line 5", "not well-formed CSV"),
    "cut-short": (_cut_short, "line 6", "cut short"),
}


@pytest.mark.parametrize("case", UNREADABLE, ids=list(UNREADABLE))
def test_a_file_that_is_not_a_table_fails_validation_naming_the_line(
    case: str, sample: pd.DataFrame, run_cli: RunCli, tmp_path: Path
) -> None:
    # given raw data that pandas cannot read as the table it is, or reads wrongly
    breaks, line, problem = UNREADABLE[case]
    raw = tmp_path / "raw.csv"
    raw.write_bytes(breaks(sample.head(5).to_csv(index=False)))

    # when it is prepared (which passes anything through) and validated
    _prepare(run_cli, raw)
    result = run_cli("validate", "prepared", "reports")

    # then validation fails, naming the file, the line and what is wrong, and nothing trains
    assert result.exit_code == 1, result.output
    [failure] = json.loads((tmp_path / "reports" / "validation.json").read_text())["failures"]
    assert (failure["column"], failure["failing_rows"]) == ("(file)", 0)
    assert problem in failure["check"], failure
    assert failure["examples"] == [{"row": None, "value": f"{raw}, {line}"}]
    assert problem in result.output


def test_a_file_read_whole_again_after_a_broken_one_passes(
    sample: pd.DataFrame, run_cli: RunCli, tmp_path: Path
) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_bytes(_cut_short(sample.to_csv(index=False)))
    _prepare(run_cli, raw)
    sample.to_csv(raw, index=False)
    _prepare(run_cli, raw)

    assert run_cli("validate", "prepared", "reports").exit_code == 0


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
    # given 40 rows of the wrong type, more than params.yaml's max_examples
    name = numeric_feature()
    sample[name] = sample[name].astype(object)
    sample.loc[:39, name] = "forty"
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
    summary = json.loads((tmp_path / "reports" / "validation.json").read_text())
    assert summary["passed"] is True
    # the repeats are counted even when under their ceilings, and the summary says them
    repeats = summary["repeats"]
    assert repeats["test_rows"] == len(pd.read_parquet(tmp_path / "prepared" / "test.parquet"))
    assert f"{repeats['duplicate_rows']:,} rows" in result.output


def test_training_refuses_data_that_failed_validation(
    sample: pd.DataFrame, run_cli: RunCli, tmp_path: Path
) -> None:
    raw = tmp_path / "raw.csv"
    _wrong_dtype(sample)[0].to_csv(raw, index=False)
    _prepare(run_cli, raw)
    run_cli("validate", "prepared", "reports")

    result = run_cli(
        "train", "prepared/train.parquet", "reports/validation.json", "models", "--raw", raw
    )

    assert result.exit_code == 1
    assert "Refusing to train" in result.output
    assert not (tmp_path / "models").exists(), "a model was written from bad data"


def test_a_declared_label_that_never_occurs_fails_validation(
    sample: pd.DataFrame, run_cli: RunCli, tmp_path: Path
) -> None:
    # given data in which the last declared label never occurs (regression, which declares no
    # labels: in which the upper half of the target's values never occurs)
    target = sample[contract.target()]
    if contract.is_classification():
        missing = contract.labels()[-1]
        kept = sample[target != missing]
    else:
        kept = sample[target <= target.median()]
    raw = tmp_path / "raw.csv"
    kept.to_csv(raw, index=False)
    _prepare(run_cli, raw)

    result = run_cli("validate", "prepared", "reports")

    if not contract.is_classification():  # a range of numbers is not a list of labels
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 1, result.output
    assert f"declared label never occurs: {missing!r}" in result.output


def test_a_column_over_the_null_ceiling_fails_with_its_rows() -> None:
    frame = pd.DataFrame({"mostly_empty": [1.0, None, None, None], "fine": [None, 1, 2, 3]})

    [failure] = null_shares(frame, ["mostly_empty", "fine"], ceiling=0.5, max_examples=2)

    assert (failure.column, failure.failing_rows) == ("mostly_empty", 3)
    assert failure.check == "nulls in 75.0% of rows, over validate.max_null_share 0.5"
    assert [(example.row, example.value) for example in failure.examples] == [
        (1, "null"),
        (2, "null"),
    ]
    assert null_shares(frame, ["mostly_empty", "fine"], ceiling=1.0, max_examples=2) == []


def _splits_with_repeats(sample: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Distinct rows split in two, then two exact copies of training row 0 appended to
    training, and test rows 0 and 1 given the features of training rows 1 and 2 (and another
    target: the same features, not the same row)."""
    target = contract.target()
    distinct = sample.drop_duplicates(subset=contract.feature_columns()).reset_index(drop=True)
    train, test = distinct.iloc[:100].copy(), distinct.iloc[100:150].copy()
    copies = train.iloc[[0, 0]].set_axis([1000, 1001])
    seen = train.iloc[[1, 2]]
    seen = seen.assign(**{target: [_another_target(value) for value in seen[target]]})
    test = pd.concat([seen.set_axis(test.index[:2]), test.iloc[2:]])
    return pd.concat([train, copies]), test


def _another_target(value: str | float) -> str | float:
    if contract.is_classification():
        return next(label for label in contract.labels() if label != value)
    return float(value) + 1


def test_duplicates_and_test_rows_seen_in_training_are_counted(sample: pd.DataFrame) -> None:
    train, test = _splits_with_repeats(sample)

    counted, failures = repeats(
        train, test, PARAMS.model_copy(update={"max_duplicate_share": 1.0, "max_seen_share": 1.0})
    )

    assert failures == []
    assert counted == Repeats(duplicate_rows=2, test_rows=50, test_rows_seen_in_training=2)


def test_repeats_over_their_ceilings_fail_with_their_rows(sample: pd.DataFrame) -> None:
    train, test = _splits_with_repeats(sample)

    _, (duplicates, seen) = repeats(
        train, test, PARAMS.model_copy(update={"max_duplicate_share": 0.01, "max_seen_share": 0.01})
    )

    assert duplicates.check.startswith("duplicate rows: 1.3% repeat an earlier row, over ")
    assert [example.row for example in duplicates.examples] == [1000, 1001]
    assert seen.check.startswith("test rows seen in training: 4.0% of the test split have ")
    assert [example.row for example in seen.examples] == list(test.index[:2])
