"""One measurement for bench/drift.py, run by the generated project's own Python (Evidently and
the package live there). Prints one JSON line.

    python drift_probe.py data ROWS shifted|unshifted FOLDER   reference and batch parquet files
    python drift_probe.py ours FOLDER PARAMS                    the project's `drift` command
    python drift_probe.py plain FOLDER                          a plain DataDriftPreset

Both clocks start after the imports (Evidently's take seconds): they time the work itself.
"""

import json
import resource
import sys
import time
from pathlib import Path

SHIFT = {"age": 6.0, "hours_per_week": -4.0, "education_num": 2.0}  # 3 of 13 columns


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
    else:
        measured = plain(Path(args[0]))
    print(json.dumps(measured))
