"""One measurement for bench/drift.py, run by the generated project's own Python (Evidently and
the package live there). Prints one JSON line.

    python drift_probe.py data ROWS shifted|unshifted FOLDER   reference and batch parquet files
    python drift_probe.py ours FOLDER PARAMS                    the project's `drift` command
    python drift_probe.py plain FOLDER                          a plain DataDriftPreset
    python drift_probe.py log ROWS FILE_ROWS shifted|unshifted FOLDER
                                                an inference log of ROWS records in the last 24h
    python drift_probe.py window FOLDER PARAMS                  `drift --window 24h` on that log

Both clocks start after the imports (Evidently's take seconds): they time the work itself.
"""

import json
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

SHIFT = {"age": 6.0, "hours_per_week": -4.0, "education_num": 2.0}  # 3 of 13 columns


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User and system time: on a shared machine the wall clock also counts others' work."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_data(rows: int, kind: str, folder: Path) -> dict[str, object]:
    from income_classifier import data, drift

    raw = data.load_raw(Path("data/raw/adult.csv"))
    shifts = SHIFT if kind == "shifted" else {}
    drift.make_batch(raw, rows, {}, seed=1).to_parquet(folder / "reference.parquet")
    drift.make_batch(raw, rows, shifts, seed=2).to_parquet(folder / "batch.parquet")
    return {"rows": rows}


def ours(folder: Path, params: Path) -> dict[str, object]:
    import evidently.presets  # noqa: F401 (imported before the clock starts, as for plain)
    from income_classifier.cli import app
    from typer.main import get_command

    argv = ["drift", "--batch", str(folder / "batch.parquet"), "--out-dir", str(folder / "out"),
            "--reference", str(folder / "reference.parquet"), "--params", str(params)]  # fmt: skip
    start = time.perf_counter()
    get_command(app).main(argv, standalone_mode=False)
    seconds = time.perf_counter() - start
    result = json.loads((folder / "out" / "drift.json").read_text())
    columns = {column["column"]: column["drifted"] for column in result["columns"]}
    return {"seconds": seconds, "peak_mib": peak_mib(), "drifted": result["drifted"],
            "columns": columns}  # fmt: skip


def make_log(rows: int, file_rows: int, kind: str, folder: Path) -> dict[str, object]:
    """The inference log the server would have written over the last 24 hours: files of
    `file_rows` records (`serve.capture.file_rows`) in the log's own format, named as capture.py
    names them, built straight with pyarrow (serving ten million records would take hours)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from income_classifier import contract, data, drift, inference

    raw = data.load_raw(Path("data/raw/adult.csv"))
    drift.make_batch(raw, 100_000, {}, seed=1).to_parquet(folder / "reference.parquet")
    schema = inference.log_schema()
    inputs: pa.StructType = schema.field("input").type
    log = folder / "log"
    log.mkdir()
    files = -(-rows // file_rows)
    start, step = datetime.now(UTC) - timedelta(hours=23), timedelta(hours=22) / files
    labels = contract.labels()
    for index in range(files):
        count = min(file_rows, rows - index * file_rows)
        batch = drift.make_batch(raw, count, SHIFT if kind == "shifted" else {}, seed=index)
        opened = start + index * step
        times = np.datetime64(opened.replace(tzinfo=None), "us") + np.sort(
            np.random.default_rng(index).integers(0, int(step.total_seconds() * 1e6), count)
        ).astype("timedelta64[us]")
        features = [pa.array(batch[field.name], from_pandas=True).cast(field.type)
                    for field in inputs]  # fmt: skip
        chances = [pa.array(np.full(count, 1 / len(labels))) for _ in labels]
        output = pa.StructArray.from_arrays(
            [pa.array(np.array(labels, dtype=object)[np.arange(count) % len(labels)]),
             pa.StructArray.from_arrays(chances, names=list(labels))],
            names=["label", "probabilities"],
        )  # fmt: skip
        table = pa.Table.from_arrays(
            [pa.array(np.char.add(f"{index}-", np.arange(count).astype(str))),
             pa.array(np.zeros(count, dtype=np.int32)),
             pa.array(times, schema.field("time").type),
             pa.repeat("model", count), pa.repeat("1", count),
             pa.StructArray.from_arrays(features, fields=list(inputs)), output],
            schema=schema,
        )  # fmt: skip
        closed = opened + step
        pq.write_table(table, log / f"{closed:{inference.NAME_TIME}}-{index:08x}.parquet")
    return {"rows": rows, "files": files}


def window(folder: Path, params: Path) -> dict[str, object]:
    import evidently.presets  # noqa: F401 (imported before the clock starts, as for plain)
    from income_classifier.cli import app
    from typer.main import get_command

    os.environ["INFERENCE_LOG_URL"] = str(folder / "log")
    argv = ["drift", "--window", "24h", "--out-dir", str(folder / "out"),
            "--reference", str(folder / "reference.parquet"), "--params", str(params)]  # fmt: skip
    start, cpu = time.perf_counter(), cpu_seconds()
    get_command(app).main(argv, standalone_mode=False)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    result = json.loads((folder / "out" / "drift.json").read_text())
    columns = {column["column"]: column["drifted"] for column in result["columns"]}
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_mib": peak_mib(),
            "drifted": result["drifted"], "columns": columns,
            "rows": result["current_rows"]}  # fmt: skip


def plain(folder: Path) -> dict[str, object]:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset
    from income_classifier.schema import categorical_features, feature_columns, numeric_features

    start = time.perf_counter()
    definition = DataDefinition(
        numerical_columns=numeric_features(), categorical_columns=categorical_features()
    )
    sides = [
        Dataset.from_pandas(pd.read_parquet(folder / name)[feature_columns()], definition)
        for name in ("batch.parquet", "reference.parquet")
    ]
    Report([DataDriftPreset()]).run(*sides).save_html(str(folder / "plain.html"))
    return {"seconds": time.perf_counter() - start, "peak_mib": peak_mib()}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "data":
        measured = make_data(int(args[0]), args[1], Path(args[2]))
    elif command == "ours":
        measured = ours(Path(args[0]), Path(args[1]))
    elif command == "log":
        measured = make_log(int(args[0]), int(args[1]), args[2], Path(args[3]))
    elif command == "window":
        measured = window(Path(args[0]), Path(args[1]))
    else:
        measured = plain(Path(args[0]))
    print(json.dumps(measured))
