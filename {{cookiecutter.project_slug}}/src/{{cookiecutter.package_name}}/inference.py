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
"""

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

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

    def __len__(self) -> int:
        return len(self.records)


def log_files(url: str, since: datetime | None = None) -> list[str]:
    """The log's closed files (not the ones being written), oldest first; with `since`, only
    those that can hold a row answered from then on."""
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
        found.append(fs.unstrip_protocol(path) if "://" in url else path)
    return found


def _closed(name: str) -> datetime:
    try:
        return datetime.strptime(name.split("-", 1)[0], NAME_TIME).replace(tzinfo=UTC)
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)  # not named by capture.py: read it, filter rows


def read_window(url: str, since: datetime | None = None, until: datetime | None = None) -> Window:
    """Every record answered in [since, until) (open ends: all of them); LogError when the log
    holds no file at all."""
    paths = log_files(url, since)
    if not paths and not log_files(url):
        raise LogError(f"no inference log at {url}")
    fs, _ = fsspec.core.url_to_fs(url)
    stored = [fsspec.core.url_to_fs(path)[1] for path in paths]
    schema = log_schema()
    table = ds.dataset(stored, schema=schema, filesystem=fs)
    for fragment in table.get_fragments():  # a file of other columns would read as nulls
        if not fragment.physical_schema.equals(schema):
            raise LogError(f"{fragment.path} is not in this contract's inference log format")
    moment = pc.field("time")
    condition = None
    if since is not None:
        condition = moment >= pa.scalar(since, pa.timestamp("us", tz="UTC"))
    if until is not None:
        before = moment < pa.scalar(until, pa.timestamp("us", tz="UTC"))
        condition = before if condition is None else condition & before
    return _window(table.to_table(filter=condition), len(paths))


def _window(table: pa.Table, files: int) -> Window:
    frame = table.flatten().flatten().to_pandas()
    features = frame[[f"input.{name}" for name in contract.feature_columns()]]
    answers = pd.DataFrame(index=frame.index)
    if contract.is_classification():
        answers["predicted"] = frame["output.label"]
        for label in contract.labels():
            answers[label] = frame[f"output.probabilities.{label}"]
    else:
        answers["predicted"] = frame["output.prediction"]
    return Window(
        records=frame[RECORD_COLUMNS],
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
        raise LogError(f"no feedback at {url} (CSV or Parquet files of {expected})")
    feedback = pd.concat(frames, ignore_index=True).sort_values("time", kind="stable")
    return feedback.drop_duplicates(["request_id", "record"], keep="last").reset_index(drop=True)


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
