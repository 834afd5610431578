"""Drift: is a production batch still like the data the current model was trained on?

`check_batch` refuses a batch that breaks the contract: bad input is never "drift" and never
"no drift". `decide` compares a good batch with the training reference using Evidently's
`DataDriftPreset` and returns the verdict; `write_outputs` writes what people read (Evidently's
HTML report, a JSON summary, Markdown with a plot of the most drifted columns). `snapshot` keeps a
drifted batch in data/batches/, where the retraining pull request adds it to the training data.
"""

import glob
import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
import pandera.pandas as pa

from {{ cookiecutter.package_name }} import validate
from {{ cookiecutter.package_name }}.contract import (
    categorical_features,
    columns,
    feature_columns,
    numeric_features,
)
from {{ cookiecutter.package_name }}.settings import DriftParams

matplotlib.use("Agg")  # files only, no display

PLOTTED_COLUMNS = 8  # the most drifted columns in the Markdown summary's plot
FINGERPRINT_CHARS = 12  # of the batch's fingerprint, in its snapshot's file name


class BadBatchError(ValueError):
    """The batch cannot be judged: it breaks the data contract."""

    def __init__(self, message: str, result: validate.ValidationResult | None = None) -> None:
        super().__init__(message)
        self.result = result


class NothingLabelledError(ValueError):
    """A window of the inference log has no labelled record: nothing to train on."""


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class DriftResult:
    drifted: bool  # the dataset verdict: at least `drift_share` of the columns drifted
    drifted_columns: int
    drift_share: float
    columns: list[ColumnDrift]  # most drifted first
    reference_rows: int
    current_rows: int
    checked_rows: tuple[int, int]  # (reference, current) after sampling

    @property
    def share(self) -> float:
        return self.drifted_columns / len(self.columns) if self.columns else 0.0


def read_batch(source: str) -> pd.DataFrame:
    """Every CSV or Parquet file `source` names (a path or a glob; a URL through fsspec)."""
    # glob.glob, unlike Path.glob, takes absolute patterns too
    paths = sorted(glob.glob(source)) if not _is_url(source) else [source]  # noqa: PTH207
    if not paths:
        raise BadBatchError(f"no batch at {source}")
    frames = [
        pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path) for path in paths
    ]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _is_url(source: str) -> bool:
    return "://" in source


def fingerprint(batch: pd.DataFrame) -> str:
    """A content hash of the batch as read (columns and values, not the order of files)."""
    digest = hashlib.sha256(json.dumps([str(column) for column in batch.columns]).encode())
    digest.update(pd.util.hash_pandas_object(batch, index=False).to_numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class CheckedBatch:
    frame: pd.DataFrame  # coerced to the contract: the whole batch, or the sample to judge
    rows: int  # rows in the whole batch


def check_batch(
    batch: pd.DataFrame,
    max_examples: int = 5,
    sample_rows: int | None = None,
    seed: int = 0,
    target: bool = True,
) -> CheckedBatch:
    """The batch coerced to the contract's types; BadBatchError if it breaks the contract.
    With `target=False`, the features only (the inference log's inputs carry no target).

    With `sample_rows` and a larger batch, the column checks (every column there, none empty)
    run on the whole batch and the row checks (types, ranges, categories) on the uniform sample
    that drift is judged on, so the time a check takes is bounded for any batch size.
    """
    judged = batch
    if sample_rows is not None and len(batch) > sample_rows:
        _check_columns(batch, target)
        _check_not_empty(batch)
        judged = sample(batch, sample_rows, seed)
    try:
        checked = (validate.validated if target else validate.validated_features)(
            judged
        )  # one lazy pass: every problem, or the typed frame
    except pa.errors.SchemaErrors as errors:
        failures = validate.summarize(errors.failure_cases, max_examples)
        broken = sorted({failure.column for failure in failures})
        raise BadBatchError(
            f"the batch breaks the data contract ({', '.join(broken)})",
            validate.ValidationResult(rows=len(judged), failures=failures),
        ) from None
    _check_not_empty(checked)
    return CheckedBatch(checked, len(batch))


def _check_columns(batch: pd.DataFrame, target: bool = True) -> None:
    expected = list(columns()) if target else feature_columns()
    missing = [column for column in expected if column not in batch.columns]
    unexpected = [column for column in batch.columns if column not in expected]
    if missing or unexpected:
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"unexpected {', '.join(map(str, unexpected))}"] if unexpected else []
        raise BadBatchError(f"the batch breaks the data contract ({'; '.join(problems)})")


def _check_not_empty(batch: pd.DataFrame) -> None:
    empty = [column for column in feature_columns() if batch[column].isna().all()]
    if empty:
        # The contract lets these be empty row by row; a column with no value at all is a
        # broken feed, and no drift test can compare it.
        raise BadBatchError(f"every value is missing in {', '.join(empty)}")


def parse_shifts(specs: list[str]) -> dict[str, float]:
    """`["age=10", "hours_per_week=-5"]` -> {"age": 10.0, "hours_per_week": -5.0}."""
    shifts = {}
    for spec in specs:
        column, _, delta = spec.partition("=")
        if column not in numeric_features():
            numeric = ", ".join(numeric_features())
            raise ValueError(f"{column!r} is not a numeric feature ({numeric})")
        try:
            shifts[column] = float(delta)
        except ValueError:
            raise ValueError(f"{spec!r}: the shift must be COLUMN=NUMBER") from None
    return shifts


def make_batch(
    source: pd.DataFrame, rows: int, shifts: dict[str, float], seed: int
) -> pd.DataFrame:
    """`rows` rows drawn from `source`, numeric columns moved by `shifts` and kept within the
    values the source holds, so that a shifted batch still meets the contract."""
    batch = source.sample(n=rows, replace=rows > len(source), random_state=seed)
    for column, delta in shifts.items():
        low, high = source[column].min(), source[column].max()
        moved = (batch[column] + delta).clip(low, high)
        if pd.api.types.is_integer_dtype(source[column]):
            moved = moved.round()  # an integer column stays whole numbers
        batch[column] = moved.astype(source[column].dtype)
    return batch.reset_index(drop=True)


def sample(frame: pd.DataFrame, rows: int | None, seed: int) -> pd.DataFrame:
    """At most `rows` rows, drawn uniformly; the frame itself when it is no larger."""
    if rows is None or len(frame) <= rows:
        return frame
    return frame.sample(n=rows, random_state=seed)


def decide(
    reference: pd.DataFrame, current: CheckedBatch, params: DriftParams
) -> tuple[DriftResult, Any]:
    """Evidently's verdict on `current` against `reference`, and its snapshot (the HTML)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    features = feature_columns()
    reference_checked = sample(reference, params.sample_rows, params.seed)[features]
    current_checked = sample(current.frame, params.sample_rows, params.seed)[features]
    definition = DataDefinition(
        numerical_columns=numeric_features(), categorical_columns=categorical_features()
    )
    preset = DataDriftPreset(
        columns=features,
        drift_share=params.drift_share,
        num_method=params.num_method,
        cat_method=params.cat_method,
        num_threshold=params.num_threshold,
        cat_threshold=params.cat_threshold,
    )
    snapshot = Report([preset], include_tests=True).run(
        Dataset.from_pandas(current_checked, data_definition=definition),
        Dataset.from_pandas(reference_checked, data_definition=definition),
    )
    result = summarize(
        snapshot.dict(),
        drift_share=params.drift_share,
        rows=(len(reference), current.rows),
        checked=(len(reference_checked), len(current_checked)),
    )
    return result, snapshot


def summarize(
    snapshot: dict[str, Any], drift_share: float, rows: tuple[int, int], checked: tuple[int, int]
) -> DriftResult:
    """The verdicts from Evidently's test statuses: the dataset's from the drifted-share test,
    each column's from its value-drift test (Evidently has no dataset-drift flag of its own)."""
    scores = {metric["id"]: metric["value"] for metric in snapshot["metrics"]}
    dataset_drifted, columns = False, []
    for test in snapshot["tests"]:
        config = test["metric_config"]["params"]
        failed = str(test["status"]).endswith("FAIL")
        if config["type"].endswith("DriftedColumnsCount"):
            dataset_drifted = failed
        elif config["type"].endswith("ValueDrift"):
            columns.append(
                ColumnDrift(
                    column=config["column"],
                    method=config["method"],
                    score=float(scores[test["metric_config"]["metric_id"]]),
                    threshold=float(config["threshold"]),
                    drifted=failed,
                )
            )
    columns.sort(key=lambda column: (not column.drifted, -strength(column)))
    return DriftResult(
        drifted=dataset_drifted,
        drifted_columns=sum(column.drifted for column in columns),
        drift_share=drift_share,
        columns=columns,
        reference_rows=rows[0],
        current_rows=rows[1],
        checked_rows=checked,
    )


def strength(column: ColumnDrift) -> float:
    """How far past its threshold a column is: above 1 is drift, whichever way its method reads
    (distances drift above the threshold, p-values below it)."""
    if "p_value" in column.method:
        return column.threshold / max(column.score, 1e-12)
    return column.score / column.threshold


def write_outputs(
    result: DriftResult,
    snapshot: Any,
    source: str,
    out_dir: Path,
    plots_link: str | None = None,
    described: str | None = None,
) -> Path:
    """drift.html (Evidently), drift.json, drift.md and its plot; returns the Markdown's path.

    With `plots_link`, the Markdown links there for the plot rather than showing it (a job
    summary or pull-request body cannot show a local image). `described`: what was checked, in
    words, instead of `Batch <source>: N rows` (a window of the inference log).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(out_dir / "drift.html"))
    payload = {**asdict(result), "share": result.share, "source": source}
    (out_dir / "drift.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    plot = plot_columns(result, out_dir / "drift.png")
    markdown = out_dir / "drift.md"
    text = render_markdown(result, source, plot.name, plots_link, described)
    markdown.write_text(text, encoding="utf-8")
    return markdown


def write_bad_batch(error: BadBatchError, source: str, out_dir: Path) -> Path:
    """drift.md for a batch that could not be judged: why, with the contract's failures."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        "## Data drift: bad batch, not checked ❌",
        "",
        f"{_capital(source) if _is_window(source) else f'Batch `{source}`'}: {error}. "
        "A batch that breaks the data contract is never judged for "
        "drift; fix the feed (or the contract in `schema.py`) and run the check again.",
    ]
    if error.result is not None:
        lines += ["", *validate.failure_table(error.result.failures)]
    markdown = out_dir / "drift.md"
    markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return markdown


def render_markdown(
    result: DriftResult,
    source: str,
    plot: str | None = None,
    plots_link: str | None = None,
    described: str | None = None,
) -> str:
    verdict = "**Drift detected**" if result.drifted else "**No drift**"
    reference, current = result.reference_rows, result.current_rows
    lines = [
        f"## Data drift: {verdict}",
        "",
        f"{result.drifted_columns} of {len(result.columns)} columns drifted "
        f"({result.share:.0%}; the dataset drifts at {result.drift_share:.0%}). "
        f"{_capital(described) if described else f'Batch `{source}`: {current:,} rows'}, "
        f"against {reference:,} reference rows.",
    ]
    if result.checked_rows != (reference, current):
        lines += [
            "",
            f"Checked on a uniform sample of {result.checked_rows[1]:,} batch and "
            f"{result.checked_rows[0]:,} reference rows (`drift.sample_rows` in params.yaml).",
        ]
    lines += [
        "",
        "| column | method | score | threshold | verdict |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for column in result.columns:
        mark = "drifted ⚠️" if column.drifted else "ok"
        lines.append(
            f"| {column.column} | {column.method} | {column.score:.4f} | "
            f"{column.threshold:.4f} | {mark} |"
        )
    if plots_link:
        lines += [
            "",
            f"The plot of the most drifted columns and Evidently's full report are in the "
            f"[run's `drift-report` artifact]({plots_link}).",
        ]
    elif plot:
        lines += ["", f"![Drift strength of the most drifted columns]({plot})"]
    return "\n".join(lines) + "\n"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _is_window(source: str) -> bool:
    return source.startswith("inference log ")


def plot_columns(result: DriftResult, path: Path) -> Path:
    """Drift strength of the most drifted columns: past 1 is drift."""
    import matplotlib.pyplot as plt

    shown = result.columns[:PLOTTED_COLUMNS][::-1]
    figure, axes = plt.subplots(figsize=(7, 0.45 * len(shown) + 1.2))
    ratios = [min(strength(column), 100.0) for column in shown]
    colors = ["#d62728" if column.drifted else "#7f7f7f" for column in shown]
    axes.barh([column.column for column in shown], ratios, color=colors)
    axes.axvline(1.0, color="black", linewidth=1, linestyle="--")
    axes.set_xlabel("drift strength: score against threshold (past the dashed line: drifted)")
    axes.set_title("Most drifted columns")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


@dataclass(frozen=True)
class Snapshot:
    path: Path  # the batch's file in the batches directory
    rows: int
    added: bool  # False: a file with this batch's fingerprint was already there


def snapshot(
    batch: pd.DataFrame, batches_dir: Path, batch_fingerprint: str, now: datetime | None = None
) -> Snapshot:
    """Write the batch to `batches_dir` as `<UTC time>-<fingerprint>.csv`, once.

    The time first makes name order the order batches were taken in, which is the order
    `data.load_data` appends them; the fingerprint makes a batch already there a no-op, so a
    batch is never trained on twice.
    """
    short = batch_fingerprint[:FINGERPRINT_CHARS]
    existing = sorted(batches_dir.glob(f"*-{short}.csv"))
    if existing:
        return Snapshot(existing[0], len(batch), added=False)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    path = batches_dir / f"{stamp}-{short}.csv"
    batches_dir.mkdir(parents=True, exist_ok=True)
    batch.to_csv(path, index=False)
    return Snapshot(path, len(batch), added=True)


def render_retraining_body(
    added: Snapshot,
    carried_over: list[str],
    new_data: str,
    drift_summary: str,
    window: str | None = None,
    left_out: int = 0,
) -> str:
    """The retraining pull request's description: what data it adds, then the drift summary.
    `window`: the inference log's window described, whose labelled records are the batch."""
    checked = f"the {window}" if window else "the newest production batch"
    lines = [
        "## Retrain on drifted production data",
        "",
        f"The scheduled drift check (`drift.yml`) found drift in {checked}. "
        f"This pull request adds it to the training data as `{added.path.as_posix()}` "
        f"({added.rows:,} rows, tracked by DVC in `data/batches.dvc`).",
    ]
    if window:
        lines += [
            "",
            f"Its rows are the window's records with a label (`monitor.feedback`, the target "
            f"filled from the labels); {left_out:,} records without a label yet were left out.",
        ]
    if carried_over:
        kept = ", ".join(f"`{name}`" for name in carried_over)
        lines += [
            "",
            f"It keeps the batches this pull request already proposed: {kept}.",
        ]
    lines += [
        "",
        f"How they enter training is `prepare.new_data: {new_data}` in `params.yaml`. The pull "
        "request's checks retrain on the new data; their report compares the new model with "
        "main's. Merge it to release the retrained model; close it and delete its branch to "
        "drop these batches.",
        "",
        drift_summary.strip(),
    ]
    return "\n".join(lines) + "\n"
