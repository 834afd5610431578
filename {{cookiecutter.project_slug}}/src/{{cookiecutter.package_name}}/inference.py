"""The inference log's format (`log_schema`, which the server writes through capture.py), the
log read back (what the server answered in a time window), and the labels that arrive later.

Feedback, the labels that arrive after the answer, is any number of CSV or Parquet files under a
folder or fsspec URL (`monitor.feedback` in params.yaml), with the columns
`request_id` (the answer's X-Request-ID), `record` (the record's place in its request, 0 for a
request of one record), `label` (the true value of the contract's target) and `time` (when the
label was known, ISO 8601). A record labelled twice takes its latest label: a correction.

A file's name starts with the time it closed, and none of its rows is younger than that, so a
window's start skips every file closed before it without opening it; the rows of the files left
are filtered by their own time. pyarrow reads the files (any fsspec store: a folder, s3://).

A fixed window (`fixed=True`) reads only the files closed before its end: rows still waiting in
the server's open file when the window was decided never join it later, so the same window read
again is the same rows (the drift check and its snapshot agree). A large window can be read
with only some of the log's columns, and sampled file by file (`sample_rows`): memory stays
bounded by one file and the sample, whatever the window's size.
"""

import hashlib
import json
import math
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from {{ cookiecutter.package_name }} import contract

RECORD_COLUMNS = ["request_id", "record", "time", "model_name", "model_version"]
NAME_TIME = "%Y%m%dT%H%M%S%fZ"  # how capture.py stamps a file's name with the time it closed


PYARROW_TYPES = {
    "str": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
}  # fmt: skip


def log_schema() -> pa.Schema:
    """The inference log's columns: who answered what, when; the input row and the output as
    the API names them."""
    columns = contract.columns()
    features = [
        (name, PYARROW_TYPES[str(columns[name].dtype)]) for name in contract.feature_columns()
    ]
    if contract.is_classification():
        probabilities = [(label, pa.float64()) for label in contract.labels()]
        output = pa.struct([("label", pa.string()), ("probabilities", pa.struct(probabilities))])
    else:
        output = pa.struct([("prediction", pa.float64())])
    return pa.schema(
        [
            ("request_id", pa.string()),
            ("record", pa.int32()),  # the record's place in its request
            ("time", pa.timestamp("us", tz="UTC")),
            ("model_name", pa.string()),
            ("model_version", pa.string()),
            ("input", pa.struct(features)),
            ("output", output),
        ]
    )


FEEDBACK_COLUMNS = ["request_id", "record", "label", "time"]


class LogError(ValueError):
    """The inference log or the feedback cannot be read as the contract's (no files there,
    other columns, labels the contract does not allow)."""


class NoFeedbackError(LogError):
    """No feedback file at all: no label has arrived yet."""


@dataclass(frozen=True)
class Window:
    """The records answered in a window, index for index across its frames: `records` (request
    id, the record's place in its request, time, model name and version), `features` (the input
    rows under the contract's names), `answers` (`predicted`, the label or the number, and for a
    classification each label's probability under the label's name)."""

    records: pd.DataFrame
    features: pd.DataFrame
    answers: pd.DataFrame
    files: int  # the files read
    labels: pd.Series | None = None  # with feedback: each record's true target (NA: none yet)
    rows: int | None = None  # records in the window before sampling (None: not sampled)
    paths: tuple[str, ...] = ()  # the files read, oldest first

    def __len__(self) -> int:
        return len(self.records)


def log_files(url: str, since: datetime | None = None, until: datetime | None = None) -> list[str]:
    """The log's closed files (not the ones being written), oldest first; with `since`, only
    those that can hold a row answered from then on; with `until`, only those closed before."""
    fs, root = fsspec.core.url_to_fs(url)
    if not fs.exists(root):
        return []
    found = []
    for path in sorted(fs.find(root, maxdepth=1)):
        name = path.rsplit("/", 1)[-1]
        if name.startswith(".") or not name.endswith(".parquet"):
            continue  # a file capture.py is still writing, or not the log's
        if since is not None and _closed(name) < since:
            continue
        if until is not None and _closed(name) >= until:
            continue
        found.append(fs.unstrip_protocol(path) if "://" in url else path)
    return found


def _closed(name: str) -> datetime:
    try:
        return datetime.strptime(name.split("-", 1)[0], NAME_TIME).replace(tzinfo=UTC)
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)  # not named by capture.py: read it, filter rows


def read_window(
    url: str,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    columns: Collection[str] | None = None,
    sample_rows: int | None = None,
    seed: int = 0,
    fixed: bool = False,
) -> Window:
    """Every record answered in [since, until) (open ends: all of them); LogError when the log
    holds no file at all, or a file that is not in the log's format.

    `columns`: the log's top-level columns to read (`time` always; the others' frames come back
    without theirs). `sample_rows`: at most about this many records, drawn uniformly file by
    file with `seed`; `rows` says how many the window held. `fixed`: only files closed before
    `until`, so that reading the window again gives the same rows.
    """
    paths = log_files(url, since, until if fixed else None)
    if not paths and not log_files(url):
        raise LogError(f"no inference log at {url}")
    schema = log_schema()
    wanted = [name for name in schema.names if columns is None or name in {*columns, "time"}]
    fs, _ = fsspec.core.url_to_fs(url)
    files = [(path, _open(fs, path)) for path in paths]
    for path, file in files:  # a file of other columns would read as nulls
        if not file.schema_arrow.equals(schema):
            raise LogError(f"{path} is not in this contract's inference log format")
    stored = sum(file.metadata.num_rows for _, file in files)
    random = np.random.default_rng(seed)
    tables, rows = [], 0
    for _, file in files:
        table = file.read(columns=wanted)
        table = _in_window(table, since, until)
        rows += table.num_rows
        if sample_rows is not None and stored > sample_rows:
            # each file's share of the sample follows its share of the stored rows
            share = math.ceil(sample_rows * file.metadata.num_rows / stored)
            if table.num_rows > share:
                picked = np.sort(random.choice(table.num_rows, share, replace=False))
                table = table.take(pa.array(picked))
        tables.append(table)
    table = pa.concat_tables(tables) if tables else schema.empty_table().select(wanted)
    sampled = sample_rows is not None and rows > table.num_rows
    window = _window(table, len(paths))
    return replace(window, rows=rows if sampled else None, paths=tuple(paths))


def _open(fs: fsspec.AbstractFileSystem, path: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(fsspec.core.url_to_fs(path)[1], filesystem=fs)
    except pa.ArrowException as error:
        raise LogError(f"{path} is not a Parquet file: {error}") from None


def _in_window(table: pa.Table, since: datetime | None, until: datetime | None) -> pa.Table:
    kind = pa.timestamp("us", tz="UTC")
    if since is not None:
        table = table.filter(pc.greater_equal(table["time"], pa.scalar(since, kind)))
    if until is not None:
        table = table.filter(pc.less(table["time"], pa.scalar(until, kind)))
    return table


def fingerprint(window: Window, since: datetime | None, until: datetime | None) -> str:
    """The window's identity: its bounds, the files it read and how many records it held. A
    closed file is never written again (its name is its close time and a random part), so
    the same fingerprint means the same rows."""
    names = [path.rsplit("/", 1)[-1] for path in window.paths]
    bounds = [moment.isoformat() if moment else None for moment in (since, until)]
    rows = window.rows if window.rows is not None else len(window)
    return hashlib.sha256(json.dumps([bounds, names, rows]).encode()).hexdigest()


def _window(table: pa.Table, files: int) -> Window:
    frame = table.flatten().flatten().to_pandas()
    inputs = [f"input.{name}" for name in contract.feature_columns()]
    read = "input" in table.column_names
    features = frame[inputs] if read else pd.DataFrame(index=frame.index, columns=inputs)
    answers = pd.DataFrame(index=frame.index)  # without columns when the output was not read
    if "output" in table.column_names and contract.is_classification():
        answers["predicted"] = frame["output.label"]
        for label in contract.labels():
            answers[label] = frame[f"output.probabilities.{label}"]
    elif "output" in table.column_names:
        answers["predicted"] = frame["output.prediction"]
    return Window(
        records=frame[[name for name in RECORD_COLUMNS if name in frame.columns]],
        features=features.set_axis(contract.feature_columns(), axis="columns"),
        answers=answers,
        files=files,
    )


def read_feedback(url: str) -> pd.DataFrame:
    """Every label under `url` (CSV or Parquet files), the latest per record; LogError naming
    the file and the problem when one does not follow the format."""
    fs, root = fsspec.core.url_to_fs(url)
    paths = [root] if fs.isfile(root) else sorted(fs.find(root)) if fs.exists(root) else []
    frames = []
    for path in paths:
        name = path.rsplit("/", 1)[-1]
        if name.startswith(".") or not name.endswith((".csv", ".parquet")):
            continue
        with fs.open(path, "rb") as handle:
            read = pd.read_parquet if name.endswith(".parquet") else pd.read_csv
            try:
                frame = read(handle)
            except (ValueError, UnicodeDecodeError, pa.ArrowException) as error:
                raise LogError(f"{path}: unreadable feedback: {error}") from None
        frames.append(_feedback_frame(frame, path))
    if not frames:
        expected = ", ".join(FEEDBACK_COLUMNS)
        raise NoFeedbackError(f"no feedback at {url} (CSV or Parquet files of {expected})")
    feedback = pd.concat(frames, ignore_index=True).sort_values("time", kind="stable")
    return feedback.drop_duplicates(["request_id", "record"], keep="last").reset_index(drop=True)


def no_feedback() -> pd.DataFrame:
    """No label yet: an empty frame typed as `read_feedback`'s."""
    return _feedback_frame(pd.DataFrame(columns=FEEDBACK_COLUMNS), "")


def _feedback_frame(frame: pd.DataFrame, path: str) -> pd.DataFrame:
    missing = [column for column in FEEDBACK_COLUMNS if column not in frame.columns]
    if missing:
        raise LogError(f"{path}: feedback lacks {', '.join(missing)}")
    frame = frame[FEEDBACK_COLUMNS].copy()
    frame["request_id"] = frame["request_id"].astype(str)
    record = pd.to_numeric(frame["record"], errors="coerce")
    time = pd.to_datetime(frame["time"], errors="coerce", utc=True)
    if contract.is_classification():
        label = frame["label"].astype("string")
        wrong = label.notna() & ~label.isin(contract.labels())
    else:
        label = pd.to_numeric(frame["label"], errors="coerce")
        wrong = label.isna() & frame["label"].notna()
    bad = record.isna() | (record < 0) | (record % 1 != 0) | time.isna() | wrong | label.isna()
    if bad.any():
        row = frame[bad].iloc[0].to_dict()
        raise LogError(f"{path}: {int(bad.sum())} feedback rows are not valid, the first: {row}")
    frame["record"], frame["label"], frame["time"] = record.astype("int32"), label, time
    return frame


def labelled(window: Window, feedback: pd.DataFrame) -> Window:
    """The window with each record's label from `feedback` (NA where none has arrived)."""
    keys = window.records[["request_id", "record"]].astype({"record": "int32"})
    joined = keys.merge(feedback[["request_id", "record", "label"]], how="left")
    return replace(window, labels=joined["label"].set_axis(window.records.index))
