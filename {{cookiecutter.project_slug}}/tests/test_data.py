"""Prepare's split: each row's side is decided by its content, so appending rows (a retraining
pull request's batches) moves no row already there, and two revisions' test sets agree on every
row they share."""

import numpy as np
import pandas as pd
from conftest import ROOT, SAMPLE

from {{ cookiecutter.package_name }}.data import RowChanges, row_changes, row_hashes, split
from {{ cookiecutter.package_name }}.settings import load_params

PARAMS = load_params(ROOT / "params.yaml").prepare


def test_appended_rows_move_no_row_already_there() -> None:
    frame = pd.read_csv(SAMPLE)
    kept = len(frame) * 2 // 3

    before = split(frame.iloc[:kept], PARAMS)
    after = split(frame, PARAMS)  # the same rows, then the rest appended

    assert set(after.test.index) & set(range(kept)) == set(before.test.index)
    assert set(after.train.index) & set(range(kept)) == set(before.train.index)


def test_a_row_hashes_the_same_whatever_its_columns_types_and_order() -> None:
    frame = pd.read_csv(SAMPLE)
    # a batch with a missing value turns an integer column into floats once appended
    integers = frame.select_dtypes("integer").columns
    as_floats = frame.astype(dict.fromkeys(integers, "float64"))
    reordered = as_floats[list(reversed(frame.columns))]

    assert (row_hashes(reordered, PARAMS.seed) == row_hashes(frame, PARAMS.seed)).all()


def test_a_row_hashes_the_same_whatever_the_other_rows_hold() -> None:
    frame = pd.read_csv(SAMPLE)
    # a row appended with text in a numeric column (a broken batch) turns the column to objects
    broken = frame.iloc[[0]].astype(object).assign(**{str(frame.columns[0]): "n/a"})

    hashes = row_hashes(pd.concat([frame, broken], ignore_index=True), PARAMS.seed)

    assert (hashes[: len(frame)] == row_hashes(frame, PARAMS.seed)).all()


def test_identical_rows_land_together_and_the_seed_draws_another_split() -> None:
    frame = pd.read_csv(SAMPLE)
    doubled = pd.concat([frame, frame], ignore_index=True)

    in_test = doubled.index.isin(split(doubled, PARAMS).test.index)
    other = doubled.index.isin(
        split(doubled, PARAMS.model_copy(update={"seed": PARAMS.seed + 1})).test.index
    )

    assert (in_test[: len(frame)] == in_test[len(frame) :]).all(), "a row and its copy split"
    assert (in_test != other).any(), "the seed does not change the split"


def test_the_test_share_follows_test_size() -> None:
    rows = pd.DataFrame({"value": np.arange(20_000)})

    share = len(split(rows, PARAMS).test) / len(rows)

    # a binomial share: its standard deviation here is under 0.003
    assert abs(share - PARAMS.test_size) < 0.015


def _counts(changes: RowChanges) -> tuple[int, int, int]:
    return changes.added, changes.removed, changes.changed


def test_row_changes_tell_appended_removed_and_edited_rows_apart() -> None:
    before = pd.read_csv(SAMPLE).head(100)
    edited = before.copy()
    column = edited.columns[0]
    edited[column] = edited[column].astype(object)
    edited.loc[5, column] = "edited"

    assert _counts(row_changes(before, pd.read_csv(SAMPLE).head(120))) == (20, 0, 0)
    assert _counts(row_changes(before, before.drop(index=[10, 11]))) == (0, 2, 0)
    assert _counts(row_changes(before, edited)) == (0, 0, 1)
    # reordered, or rewritten with integers as floats: the same rows
    assert _counts(row_changes(before, before.sample(frac=1, random_state=1))) == (0, 0, 0)
    numeric = before.select_dtypes("number").columns
    assert _counts(row_changes(before, before.astype({name: float for name in numeric}))) == (
        0,
        0,
        0,
    )


def test_a_new_column_changes_no_row_and_is_named() -> None:
    before = pd.read_csv(SAMPLE).head(50)

    changes = row_changes(before, before.assign(loyalty_score=1.0).drop(columns=before.columns[0]))

    assert _counts(changes) == (0, 0, 0)
    assert (changes.columns_added, changes.columns_removed) == (
        ["loyalty_score"],
        [before.columns[0]],
    )


def test_a_repeated_row_counts_each_time() -> None:
    before = pd.read_csv(SAMPLE).head(10)

    assert _counts(row_changes(before, pd.concat([before, before.iloc[[3, 3]]]))) == (2, 0, 0)
