"""What `schema.py` declares, derived once: the task, the target, the labels, the features.

Every stage reads the contract through here rather than from `schema.py` directly, so that a
contract the pipeline cannot honour (a binary task with three labels, a regression target that
is text, a target that may be empty) fails loudly, naming what to change, instead of training
something silently wrong. `problems()` lists those mistakes; every accessor refuses to answer
while there are any.
"""

import itertools
from functools import cache
from typing import Literal, get_args

import numpy as np
import pandas as pd
import pandera.pandas as pa

from {{ cookiecutter.package_name }} import schema

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[str, ...] = get_args(Task)
# The column types the pipeline trains on and serves (pandera's names for them).
SUPPORTED_TYPES = ("str", "int64", "float64", "bool")
NUMERIC_TARGET_TYPES = ("int64", "float64")


class ContractError(ValueError):
    """`schema.py` declares something the pipeline cannot train on, score or serve."""


@cache
def columns() -> dict[str, pa.Column]:
    """The contract's columns, in contract order."""
    return dict(schema.Contract.to_schema().columns)


def _declared_labels(column: pa.Column) -> tuple[str, ...] | None:
    for check in column.checks:
        if check.name == "isin":
            return tuple(str(label) for label in check.statistics["allowed_values"])
    return None


@cache
def problems() -> tuple[str, ...]:
    """Every way `schema.py` contradicts itself or asks for what the pipeline cannot do."""
    found = []
    task = getattr(schema, "TASK", None)
    target = getattr(schema, "TARGET", None)
    positive = getattr(schema, "POSITIVE_LABEL", None)
    if task not in TASKS:
        found.append(f"TASK is {task!r}: set it to one of {', '.join(map(repr, TASKS))}")
    if target not in columns():
        return (
            *found,
            f"TARGET {target!r} is not a column of the contract: name one of its fields",
        )
    column = columns()[target]
    dtype = str(column.dtype)
    if column.nullable:
        found.append(
            f"the target {target!r} may be null: a row without a target teaches nothing, so "
            "remove nullable=True and drop such rows before they reach the data"
        )
    for name, feature in columns().items():
        if name != target and str(feature.dtype) not in SUPPORTED_TYPES:
            found.append(
                f"column {name!r} is {feature.dtype}: declare it as int, float, str or bool"
            )
    if len(columns()) < 2:
        found.append("the contract has no feature: declare at least one column besides the target")
    labels = _declared_labels(column)
    if task == "regression":
        if dtype not in NUMERIC_TARGET_TYPES:
            found.append(
                f"a regression target must be a number, and {target!r} is {dtype}: declare it "
                "as Series[float] (or Series[int])"
            )
        if positive is not None:
            found.append("POSITIVE_LABEL applies to binary tasks only: remove it")
    elif task in ("binary", "multiclass"):
        if dtype != "str":
            found.append(
                f"a classification target holds labels, and {target!r} is {dtype}: declare it "
                "as Series[str] (a 0/1 column then reads as the labels '0' and '1')"
            )
        if labels is None:
            found.append(
                f"the target {target!r} must list its labels: "
                f"{target}: Series[str] = pa.Field(isin=[...])"
            )
        elif task == "binary" and len(labels) != 2:
            found.append(
                f"TASK is 'binary' but the target {target!r} lists {len(labels)} labels "
                f"({', '.join(labels)}): set TASK = 'multiclass', or list exactly two labels"
            )
        elif task == "multiclass" and len(labels) < 3:
            found.append(
                f"TASK is 'multiclass' but the target {target!r} lists {len(labels)} labels: "
                "set TASK = 'binary' for two labels"
            )
        if task == "binary" and labels is not None and positive not in labels:
            found.append(
                f"POSITIVE_LABEL is {positive!r}: set it to the label whose probability the "
                f"model should give, one of {', '.join(map(repr, labels))}"
            )
        if task == "multiclass" and positive is not None:
            found.append("POSITIVE_LABEL applies to binary tasks only: remove it")
    return (*found, *_segment_problems(target))


def _segment_problems(target: str) -> list[str]:
    """SEGMENTS names feature columns, each grouped by its values (None) or, if numeric, cut
    at increasing edges."""
    declared = getattr(schema, "SEGMENTS", {})
    if not isinstance(declared, dict):
        return ["SEGMENTS must map column names to None (by value) or bin edges (numbers)"]
    found = []
    for name, edges in declared.items():
        if name == target:
            found.append(f"SEGMENTS names the target {name!r}: segments are groups of features")
        elif name not in columns():
            found.append(f"SEGMENTS names {name!r}, which is not a column of the contract")
        elif edges is None:
            continue
        elif str(columns()[name].dtype) not in ("int64", "float64"):
            found.append(f"SEGMENTS: {name!r} is not numeric: group it by value with None")
        elif (
            not isinstance(edges, (list, tuple))
            or not edges
            or not all(isinstance(edge, (int, float)) for edge in edges)
            or list(edges) != sorted(set(edges))
        ):
            found.append(
                f"SEGMENTS: the bin edges of {name!r} must be increasing numbers, "
                f"e.g. {name!r}: (25, 45, 65); got {edges!r}"
            )
    return found


def check() -> None:
    """Raise ContractError, listing every problem, unless the contract is usable."""
    if problems():
        listed = "\n".join(f"- {problem}" for problem in problems())
        raise ContractError(f"schema.py cannot be used as it is:\n{listed}")


def task() -> Task:
    check()
    return schema.TASK


def is_classification() -> bool:
    return task() != "regression"


def target() -> str:
    check()
    return str(schema.TARGET)


def labels() -> tuple[str, ...]:
    """Classification: every label, in the order probabilities are given. Regression: ()."""
    check()
    if not is_classification():
        return ()
    declared = _declared_labels(columns()[target()])
    assert declared is not None  # problems() requires them
    return declared


def positive_label() -> str:
    """Binary: the label whose probability the model gives, and which precision and recall
    are about."""
    if task() != "binary":
        raise ContractError("only a binary task has a positive label")
    return str(getattr(schema, "POSITIVE_LABEL", None))


def negative_label() -> str:
    return next(label for label in labels() if label != positive_label())


def target_is_positive() -> bool:
    """Regression: the contract keeps the target above zero, so a percentage error is defined."""
    for check_ in columns()[target()].checks:
        stats = check_.statistics
        if check_.name == "greater_than" and stats["min_value"] >= 0:
            return True
        if check_.name in ("greater_than_or_equal_to", "in_range") and stats["min_value"] > 0:
            return True
    return False


def feature_columns() -> list[str]:
    """Every column of the contract except the target, in contract order."""
    return [name for name in columns() if name != target()]


def categorical_features() -> list[str]:
    return [name for name in feature_columns() if str(columns()[name].dtype) == "str"]


def numeric_features() -> list[str]:
    categorical = set(categorical_features())
    return [name for name in feature_columns() if name not in categorical]


def segments() -> dict[str, tuple[float, ...] | None]:
    """The columns the report and the promotion gate compare the model across: None for one
    grouped by its values, the bin edges of a numeric one cut into bands. Empty: none."""
    check()
    declared = getattr(schema, "SEGMENTS", {})
    return {name: None if edges is None else tuple(edges) for name, edges in declared.items()}


def segment_groups(frame: pd.DataFrame, name: str) -> pd.Series:
    """Each row's group in segment `name`: its value, or its band ("25 to 44" for the edges
    (25, 45)); a missing value is the group "missing"."""
    edges = segments()[name]
    values = frame[name]
    if edges is None:
        return values.astype("string").fillna("missing").astype(str)
    bounds = [-np.inf, *edges, np.inf]
    banded = pd.cut(values.astype(float), bounds, right=False, labels=band_names(edges))
    return banded.astype("string").fillna("missing").astype(str)


def band_names(edges: tuple[float, ...]) -> list[str]:
    """The bands a numeric segment is cut into, in order: "under 25", "25 to under 45", ..."""
    names = [f"under {_edge(edges[0])}"]
    names += [f"{_edge(low)} to under {_edge(high)}" for low, high in itertools.pairwise(edges)]
    return [*names, f"{_edge(edges[-1])} and over"]


def _edge(value: float) -> str:
    return f"{value:g}"


def nullable_columns() -> list[str]:
    return [name for name, column in columns().items() if column.nullable]


def name() -> str:
    """The contract's class name in `schema.py`, for messages."""
    return schema.Contract.__name__
