"""Prepare: load the data as it is and split it into train, test and a drift reference.

A row's split is decided by its content alone: appending rows (a retraining pull request's
batches) leaves every existing row where it was, so two revisions' test sets share every row
they both have, and a model is never tested on a row identical to one it was trained on.

The data is the raw file followed by the production batches that retraining pull requests
snapshotted into data/batches/ (in name order, which is time order). This stage never judges
the data; the validate stage does. Each row keeps its position in that sequence as the index,
so a validation failure points at a line a person can open.
"""

import csv
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.settings import PrepareParams

ROW_INDEX = "row"  # 0-based data row (header excluded), counted on across the batches
SPLITS = ("train", "test", "reference")
UNREADABLE = "unreadable.json"  # in the prepared folder when a file could not be read
TAIL_BYTES = 1 << 16  # of a file, read to see whether its last line was cut short
BATCH_FILES = "*.csv"
HASH_BUCKETS = 1_000_000  # a row is in test when its hash falls in the first test_size of these


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    test: pd.DataFrame
    reference: pd.DataFrame  # a sample of train: what "normal" looks like to the drift check


class UnreadableError(ValueError):
    """A data file that is not a table: not UTF-8, not well-formed CSV, or cut short. `prepare`
    hands it to validate, which reports it like any other failure."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        super().__init__(f"{path}{'' if line is None else f', line {line}'}: {problem}")
        self.path, self.line, self.problem = str(path), line, problem


def load_raw(path: Path) -> pd.DataFrame:
    """Read the raw CSV without coercing anything; an empty file is an empty frame."""
    try:
        frame = pd.read_csv(path, encoding="utf-8")
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame()
    except UnicodeDecodeError:
        problem = "not UTF-8 text: save the file as UTF-8"
        raise UnreadableError(path, _first_undecodable_line(path), problem) from None
    except pd.errors.ParserError as error:  # "Expected 15 fields in line 5, saw 16"
        where = re.search(r"line (\d+)", str(error))
        problem = f"not well-formed CSV ({str(error).strip()})"
        raise UnreadableError(path, int(where[1]) if where else None, problem) from None
    if (line := _cut_short_line(path, len(frame.columns))) is not None:
        problem = "the last line has fewer fields than the header and no line end: cut short?"
        raise UnreadableError(path, line, problem)
    frame.index.name = ROW_INDEX
    return frame


def _first_undecodable_line(path: Path) -> int | None:
    """The 1-based line of the first byte that is not UTF-8 (pandas reports no position)."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def _cut_short_line(path: Path, fields: int) -> int | None:
    """The 1-based number of a last line that has no line end and fewer fields than the
    header: what a copy or a download stopped partway leaves (pandas fills it with nulls).
    Only the file's tail is read, unless it is cut short: then its lines are counted."""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - TAIL_BYTES))
        tail = handle.read()
    if not tail or tail.endswith(b"\n") or fields == 0 or b"\n" not in tail:
        return None  # a last line longer than TAIL_BYTES is not judged
    last = tail[tail.rfind(b"\n") + 1 :].decode("utf-8", errors="replace")
    if len(next(csv.reader([last]), [])) >= fields:
        return None
    with path.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b"")) + 1


def batch_files(batches_dir: Path | None) -> list[Path]:
    """The snapshotted batches in the order they were taken (names start with a UTC time)."""
    if batches_dir is None or not batches_dir.is_dir():
        return []
    return sorted(batches_dir.glob(BATCH_FILES))


def load_data(raw: Path, batches_dir: Path | None, params: PrepareParams) -> pd.DataFrame:
    """The raw data, then every batch; `window` keeps only the newest `window_rows` rows."""
    frames = [load_raw(path) for path in [raw, *batch_files(batches_dir)]]
    frame = pd.concat([frame for frame in frames if not frame.empty] or frames[:1])
    frame = frame.reset_index(drop=True)
    if params.new_data == "window":
        frame = frame.iloc[-params.window_rows :]
    frame.index.name = ROW_INDEX
    return frame


def split(frame: pd.DataFrame, params: PrepareParams) -> Splits:
    """Each row goes to test or train by a hash of its content (salted with the seed), so rows
    added later never move a row already there, and identical rows always land together. Works
    on any frame, even an empty or malformed one."""
    in_test = row_hashes(frame, params.seed) % HASH_BUCKETS < params.test_size * HASH_BUCKETS
    test, train = frame[in_test], frame[~in_test]
    n_reference = min(params.reference_size, len(train))
    reference = train.sample(n=n_reference, random_state=params.seed).sort_index()
    return Splits(train=train, test=test, reference=reference)


def row_hashes(frame: pd.DataFrame, seed: int) -> np.ndarray:
    """A 64-bit hash of each row's values, the same whatever the other rows: a number hashes as
    a float (39 and 39.0 agree, so a batch that turns an integer column into floats moves
    nothing), anything else as text. Column order does not matter."""
    if frame.columns.empty:
        return np.zeros(len(frame), dtype=np.uint64)
    canonical = pd.DataFrame(
        {str(name): _canonical(frame[name]) for name in sorted(frame.columns, key=str)},
        index=frame.index,
    )
    key = f"{seed:016d}"[-16:]  # pandas' hash key: 16 characters
    hashed = pd.util.hash_pandas_object(canonical, index=False, hash_key=key)
    return np.asarray(hashed, dtype=np.uint64)


@dataclass(frozen=True)
class RowChanges:
    """How one version of a table became another, row by row, by content: rows present in both
    (anywhere, as many times) are unchanged; of the rest, a row whose position holds another
    row in the other version was changed in place, the others were added or removed."""

    added: int
    removed: int
    changed: int
    columns_added: list[str]
    columns_removed: list[str]


def row_changes(before: pd.DataFrame, after: pd.DataFrame) -> RowChanges:
    """Compared on the columns both versions have (a new column alone changes no row)."""
    shared = [name for name in after.columns if name in before.columns]
    old, new = _occurrences(before[shared]), _occurrences(after[shared])
    gone = np.flatnonzero(~old.isin(new))  # positions in `before` whose row is not in `after`
    came = np.flatnonzero(~new.isin(old))
    changed = len(np.intersect1d(gone, came))
    return RowChanges(
        added=len(came) - changed,
        removed=len(gone) - changed,
        changed=changed,
        columns_added=[str(name) for name in after.columns if name not in before.columns],
        columns_removed=[str(name) for name in before.columns if name not in after.columns],
    )


def _occurrences(frame: pd.DataFrame) -> pd.Index:
    """Each row as (its hash, how many identical rows came before it): a multiset of rows."""
    hashes = pd.Series(row_hashes(frame.reset_index(drop=True), seed=0))
    return pd.MultiIndex.from_arrays([hashes, hashes.groupby(hashes).cumcount()])


def _canonical(column: pd.Series) -> pd.Series:
    """Each value on its own, whatever the rest of its column holds: a number as the text of
    its float (39, 39.0 and "39" agree), anything else as its text."""
    numbers = pd.to_numeric(column, errors="coerce")
    text = column.astype("string")
    return text.where(numbers.isna(), numbers.astype("float64").astype("string"))


def write_splits(splits: Splits, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / UNREADABLE).unlink(missing_ok=True)  # from an earlier run on a broken file
    paths = {name: out_dir / f"{name}.parquet" for name in SPLITS}
    for name, path in paths.items():
        getattr(splits, name).to_parquet(path)
    return paths


def write_unreadable(error: UnreadableError, out_dir: Path, params: PrepareParams) -> None:
    """Empty splits and why, for validate to report: prepare never judges the data."""
    write_splits(split(pd.DataFrame(), params), out_dir)
    problem = {"path": error.path, "line": error.line, "problem": error.problem}
    (out_dir / UNREADABLE).write_text(json.dumps(problem, indent=2) + "\n", encoding="utf-8")


def read_unreadable(prepared_dir: Path) -> dict[str, Any] | None:
    """What write_unreadable recorded, or None when every file was read."""
    marker = prepared_dir / UNREADABLE
    return json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else None


def read_split(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)
