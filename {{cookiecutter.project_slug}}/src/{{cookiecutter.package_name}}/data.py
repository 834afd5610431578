"""Prepare: load the data as it is and split it into train, test and a drift reference.

A row's split is decided by its content alone: appending rows (a retraining pull request's
batches) leaves every existing row where it was, so two revisions' test sets share every row
they both have, and a model is never tested on a row identical to one it was trained on.

The data is the raw file followed by the production batches that retraining pull requests
snapshotted into data/batches/ (in name order, which is time order). This stage never judges
the data; the validate stage does. Each row keeps its position in that sequence as the index,
so a validation failure points at a line a person can open.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.settings import PrepareParams

ROW_INDEX = "row"  # 0-based data row (header excluded), counted on across the batches
SPLITS = ("train", "test", "reference")
BATCH_FILES = "*.csv"
HASH_BUCKETS = 1_000_000  # a row is in test when its hash falls in the first test_size of these


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    test: pd.DataFrame
    reference: pd.DataFrame  # a sample of train: what "normal" looks like to the drift check


def load_raw(path: Path) -> pd.DataFrame:
    """Read the raw CSV without coercing anything; an empty file is an empty frame."""
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame()
    frame.index.name = ROW_INDEX
    return frame


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
    """A 64-bit hash of each row's values, the same whatever the other rows: a column that reads
    as numbers hashes as floats (39 and 39.0 agree, so a batch that turns an integer column into
    floats moves nothing), any other as text. Column order does not matter."""
    if frame.columns.empty:
        return np.zeros(len(frame), dtype=np.uint64)
    canonical = pd.DataFrame(
        {str(name): _canonical(frame[name]) for name in sorted(frame.columns, key=str)},
        index=frame.index,
    )
    key = f"{seed:016d}"[-16:]  # pandas' hash key: 16 characters
    hashed = pd.util.hash_pandas_object(canonical, index=False, hash_key=key)
    return np.asarray(hashed, dtype=np.uint64)


def _canonical(column: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.notna().sum() == column.notna().sum():
        return numbers.astype("float64")
    return column.astype("string")


def write_splits(splits: Splits, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"{name}.parquet" for name in SPLITS}
    for name, path in paths.items():
        getattr(splits, name).to_parquet(path)
    return paths


def read_split(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)
