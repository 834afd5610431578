"""Prepare: load the data as it is and split it into train, test and a drift reference.

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
    """Shuffle with a fixed seed and cut; works on any frame, even an empty or malformed one."""
    order = np.random.default_rng(params.seed).permutation(len(frame))
    n_test = round(len(frame) * params.test_size)
    test = frame.iloc[np.sort(order[:n_test])]
    train = frame.iloc[np.sort(order[n_test:])]
    n_reference = min(params.reference_size, len(train))
    reference = train.sample(n=n_reference, random_state=params.seed).sort_index()
    return Splits(train=train, test=test, reference=reference)


def write_splits(splits: Splits, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"{name}.parquet" for name in SPLITS}
    for name, path in paths.items():
        getattr(splits, name).to_parquet(path)
    return paths


def read_split(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def read_every_row(prepared_dir: Path) -> pd.DataFrame:
    """Train and test together (reference is a sample of train): the raw file, in its order."""
    splits = [read_split(prepared_dir / f"{name}.parquet") for name in ("train", "test")]
    return pd.concat(splits).sort_index()
