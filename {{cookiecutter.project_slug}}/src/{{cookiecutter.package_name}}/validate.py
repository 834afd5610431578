"""Validate: check prepared data against the contract and explain every failure in plain words.

Beyond the contract's own checks, the target must fit the task: a classification's declared
labels must all occur (a model cannot learn a label it never sees, and its metrics would be
silently wrong), and a contract that contradicts itself fails here too, as rows of the same
summary. `check` is pure (frame in, result out); `write_summary` and `render_markdown` turn the
result into the files a person and the PR report read.
"""

import json
import re
import warnings
from collections.abc import Hashable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from {{ cookiecutter.package_name }} import contract
from {{ cookiecutter.package_name }}.data import row_hashes
from {{ cookiecutter.package_name }}.schema import Contract, ContractFrame
from {{ cookiecutter.package_name }}.settings import ValidateParams

TABLE = "(table)"  # the "column" of a check on the whole table, such as "has rows"
CONTRACT = "(contract)"  # the "column" of a mistake in schema.py itself
FILE = "(file)"  # the "column" of a file that is not a table at all
MAX_VALUE_CHARS = 60


@dataclass(frozen=True)
class Example:
    row: int | None  # 0-based data row of the data; None when the failure has no row
    value: str


@dataclass(frozen=True)
class Failure:
    column: str
    check: str
    failing_rows: int  # 0 when the check is about the column or the table, not rows
    examples: list[Example]


@dataclass(frozen=True)
class Repeats:
    """Rows that say nothing new: exact copies of an earlier row, and test rows whose features
    a training row already has (a test the model may pass by memory)."""

    duplicate_rows: int
    test_rows: int
    test_rows_seen_in_training: int


@dataclass(frozen=True)
class ValidationResult:
    rows: int
    failures: list[Failure] = field(default_factory=list)
    repeats: Repeats | None = None  # None when validation failed before counting them

    @property
    def passed(self) -> bool:
        return not self.failures

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> "ValidationResult":
        """The result back from the `validation.json` that `write_summary` wrote."""
        failures = [
            Failure(
                column=failure["column"],
                check=failure["check"],
                failing_rows=failure["failing_rows"],
                examples=[Example(**example) for example in failure["examples"]],
            )
            for failure in payload["failures"]
        ]
        repeats = payload.get("repeats")  # absent from a summary written before they were counted
        return cls(payload["rows"], failures, Repeats(**repeats) if repeats else None)


def check_splits(
    train: pd.DataFrame, test: pd.DataFrame, params: ValidateParams
) -> ValidationResult:
    """What the validate stage checks: the contract on every row (train and test together, in
    the order of the data), then the rows that repeat within and across the splits."""
    every_row = pd.concat([train, test]).sort_index()
    result = check(every_row, params.max_examples, params.max_null_share)
    if contract.problems():
        return result
    counted, failures = repeats(train, test, params)
    return ValidationResult(result.rows, result.failures + failures, counted)


def unreadable(path: str, line: int | None, problem: str) -> ValidationResult:
    """A file that could not be read as a table (prepare recorded why): nothing else is checked."""
    where = Example(row=None, value=path if line is None else f"{path}, line {line}")
    return ValidationResult(rows=0, failures=[Failure(FILE, f"unreadable: {problem}", 0, [where])])


def check(frame: pd.DataFrame, max_examples: int, max_null_share: float = 1.0) -> ValidationResult:
    """Validate lazily, so one run reports every problem rather than the first."""
    if contract.problems():
        failures = [Failure(CONTRACT, problem, 0, []) for problem in contract.problems()]
        return ValidationResult(rows=len(frame), failures=failures)
    try:
        with warnings.catch_warnings():
            # pandera's own failure-table assembly trips a pandas FutureWarning: noise to a user.
            warnings.simplefilter("ignore", FutureWarning)
            Contract.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return ValidationResult(
            rows=len(frame), failures=summarize(errors.failure_cases, max_examples)
        )
    nullable = [name for name in contract.feature_columns() if contract.columns()[name].nullable]
    too_null = null_shares(frame, nullable, max_null_share, max_examples)
    return ValidationResult(rows=len(frame), failures=missing_labels(frame) + too_null)


def null_shares(
    frame: pd.DataFrame, columns: list[str], ceiling: float, max_examples: int
) -> list[Failure]:
    """One failure per column whose share of nulls is over `ceiling` (validate.max_null_share):
    a column the contract lets be null can still be emptied by a broken export, and a model
    trained on it would learn nothing from it, silently."""
    failures = []
    for name in columns:
        nulls = frame[name].isna()
        if len(frame) and nulls.mean() > ceiling:
            rows = [Example(int(row), "null") for row in frame.index[nulls][:max_examples]]
            check = f"nulls in {nulls.mean():.1%} of rows, over validate.max_null_share {ceiling:g}"
            failures.append(Failure(name, check, int(nulls.sum()), rows))
    return failures


def repeats(
    train: pd.DataFrame, test: pd.DataFrame, params: ValidateParams
) -> tuple[Repeats, list[Failure]]:
    """Count duplicate rows (train and test together) and test rows whose features occur in
    training; each over its ceiling in params.yaml is a failure listing the rows. Rows are
    compared by a hash of their values (`data.row_hashes`), as `prepare` splits them."""
    every_row = pd.concat([train, test]).sort_index()
    copies = every_row.index[pd.Series(row_hashes(every_row, seed=0)).duplicated().to_numpy()]
    # a column the contract misses is reported above; compare on the features both splits have
    shared = set(train.columns) & set(test.columns)
    features = [name for name in contract.feature_columns() if name in shared]
    seen = np.isin(row_hashes(test[features], seed=0), row_hashes(train[features], seed=0))
    counted = Repeats(len(copies), len(test), int(seen.sum()))
    failures = []
    if len(every_row) and len(copies) / len(every_row) > params.max_duplicate_share:
        check = (
            f"duplicate rows: {len(copies) / len(every_row):.1%} repeat an earlier row, over "
            f"validate.max_duplicate_share {params.max_duplicate_share:g}"
        )
        examples = [Example(int(row), "a copy of an earlier row") for row in copies]
        failures.append(Failure(TABLE, check, len(copies), examples[: params.max_examples]))
    if len(test) and seen.mean() > params.max_seen_share:
        check = (
            f"test rows seen in training: {seen.mean():.1%} of the test split have the features "
            f"of a training row, over validate.max_seen_share {params.max_seen_share:g}"
        )
        rows = sorted(int(row) for row in test.index[seen])
        examples = [Example(row, "features also in training") for row in rows]
        failures.append(Failure(TABLE, check, len(rows), examples[: params.max_examples]))
    return counted, failures


def missing_labels(frame: pd.DataFrame) -> list[Failure]:
    """One failure per declared label that no row carries (classification only)."""
    present = set(frame[contract.target()].astype(str)) if len(frame) else set()
    return [
        Failure(contract.target(), f"declared label never occurs: {label!r}", 0, [])
        for label in contract.labels()
        if label not in present
    ]


def validated(frame: pd.DataFrame) -> ContractFrame:
    """The frame coerced to the contract's types; raises if it breaks the contract."""
    return Contract.validate(frame, lazy=True)


def validated_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The features coerced to the contract's types, as `validated`: what a service is asked
    (the inference log) carries no target."""
    features = Contract.to_schema().remove_columns([contract.target()])
    return features.validate(frame, lazy=True)


_PLAIN = {
    "column_in_schema": "unexpected column: not in the contract",
    "column_in_dataframe": "missing column",
    "not_nullable": "null values",
    "field_uniqueness": "duplicate values",
}
_ABOUT_COLUMNS = ("column_in_schema", "column_in_dataframe")
_WRONG_TYPE = "wrong type"


def summarize(cases: pd.DataFrame, max_examples: int) -> list[Failure]:
    """Group pandera's table (one line per failing value) into one entry per column and check."""
    records = [
        {
            "column": _column_of(case),
            "check": _describe(str(case["check"])),
            "row": None if pd.isna(case["index"]) else int(case["index"]),
            "value": case["failure_case"],
        }
        for case in cases.to_dict("records")
    ]
    mistyped = {record["column"] for record in records if record["check"].startswith(_WRONG_TYPE)}
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        if record["column"] in mistyped and str(record["value"]).startswith("TypeError("):
            continue  # a range check cannot run on a mistyped column; the type is reported
        grouped.setdefault((record["column"], record["check"]), []).append(record)

    failures = []
    for (column, description), group in grouped.items():
        value_at = {record["row"]: record["value"] for record in group}
        rows = sorted(row for row in value_at if row is not None)
        examples = [Example(row=row, value=_show(value_at[row])) for row in rows[:max_examples]]
        if not rows and description not in (_PLAIN[check] for check in _ABOUT_COLUMNS):
            examples = [Example(row=None, value=_show(group[0]["value"]))]
        failures.append(Failure(column, description, len(rows), examples))
    return sorted(failures, key=lambda failure: (failure.column == TABLE, failure.column))


def _column_of(case: dict[Hashable, Any]) -> str:
    if case["schema_context"] == "DataFrameSchema":
        if case["check"] in _ABOUT_COLUMNS:
            return str(case["failure_case"])  # the missing or unexpected column's name
        return TABLE
    return str(case["column"])


def _describe(check_name: str) -> str:
    if check_name in _PLAIN:
        return _PLAIN[check_name]
    dtype = re.fullmatch(r"(?:coerce_)?dtype\('(.+)'\)", check_name)
    if dtype:
        return f"{_WRONG_TYPE}: expected {dtype.group(1)}"
    return check_name


def _show(value: object) -> str:
    text = "null" if value is None or (isinstance(value, float) and pd.isna(value)) else repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def describe_repeats(repeats: Repeats, rows: int) -> str:
    """One sentence: how many rows copy another, how many test rows training has seen."""
    return (
        f"{repeats.duplicate_rows:,} rows ({_share(repeats.duplicate_rows, rows)}) copy an "
        f"earlier row; {repeats.test_rows_seen_in_training:,} of the {repeats.test_rows:,} test "
        f"rows ({_share(repeats.test_rows_seen_in_training, repeats.test_rows)}) have the "
        "features of a training row."
    )


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def render_markdown(result: ValidationResult, source: str) -> str:
    if result.passed:
        repeats = f" {describe_repeats(result.repeats, result.rows)}" if result.repeats else ""
        return (
            "### Data validation: passed ✅\n\n"
            f"{result.rows:,} rows of `{source}` meet the contract "
            f"(`{Contract.__name__}` in `schema.py`).{repeats}\n"
        )
    lines = [
        "### Data validation: failed ❌",
        "",
        f"{result.rows:,} rows of `{source}` checked against the contract "
        f"(`{Contract.__name__}` in `schema.py`): {_count(result.failures, 'check')} failed. "
        "Rows are 0-based data rows (the header is not a row), counted on from one file to "
        "the next.",
        "",
        *failure_table(result.failures),
        "",
        "Nothing is trained on this data until every check passes.",
        "",
    ]
    return "\n".join(lines)


def failure_table(failures: list[Failure]) -> list[str]:
    """The failures as Markdown table lines: column, check, failing rows, examples."""
    lines = [
        "| column | check | failing rows | examples (row: value) |",
        "| --- | --- | ---: | --- |",
    ]
    for failure in failures:
        examples = ", ".join(
            example.value if example.row is None else f"{example.row}: {example.value}"
            for example in failure.examples
        )
        rows = f"{failure.failing_rows:,}" if failure.failing_rows else "—"
        lines.append(
            f"| {_cell(failure.column)} | {_cell(failure.check)} | {rows} | {_cell(examples)} |"
        )
    return lines


def _count(items: list[Failure], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "—"


def write_summary(result: ValidationResult, source: str, out_dir: Path) -> tuple[Path, Path]:
    """Write the summary as JSON (for tools and the PR report) and Markdown (for people)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = out_dir / "validation.json", out_dir / "validation.md"
    payload = {"passed": result.passed, "source": source, **asdict(result)}
    json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    markdown_path.write_text(render_markdown(result, source), encoding="utf-8")
    return json_path, markdown_path


def read_passed(summary: Path) -> bool:
    return bool(json.loads(summary.read_text(encoding="utf-8"))["passed"])
