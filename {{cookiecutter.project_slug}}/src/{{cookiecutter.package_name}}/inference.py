"""The inference log's format (`log_schema`, which the server writes through capture.py), and
the log read back: what the server answered in a time window.

A file's name starts with the time it closed, and none of its rows is younger than that, so a
window's start skips every file closed before it without opening it; the rows of the files left
are filtered by their own time. pyarrow reads the files (any fsspec store: a folder, s3://).
"""

from dataclasses import dataclass
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


class LogError(ValueError):
    """The inference log cannot be read as the contract's (no files there, or other columns)."""


@dataclass(frozen=True)
class Window:
    """The records answered in a window, index for index across the three frames."""

    records: pd.DataFrame  # request_id, record (its place in the request), time, model name
    # and version
    features: pd.DataFrame  # the input rows under the contract's feature names
    answers: pd.DataFrame  # `predicted` (the label, or the number), and for a classification
    # each label's probability under the label's name
    files: int  # the files read

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
