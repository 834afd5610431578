"""What `schema.py` declares, derived once: the task, the target, the labels, the features.

Every stage reads the contract through here rather than from `schema.py` directly, so that a
contract the pipeline cannot honour (a binary task with three labels, a regression target that
is text, a target that may be empty) fails loudly, naming what to change, instead of training
something silently wrong. `problems()` lists those mistakes; every accessor refuses to answer
while there are any.
"""

from functools import cache
from typing import Literal, get_args

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
    return tuple(found)


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


def nullable_columns() -> list[str]:
    return [name for name, column in columns().items() if column.nullable]


def name() -> str:
    """The contract's class name in `schema.py`, for messages."""
    return schema.Contract.__name__
