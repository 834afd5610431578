"""The model across the groups the contract marks as segments (`SEGMENTS` in schema.py): the
gate metric of each group, and how far apart the groups are, with fairlearn's MetricFrame.

A segment's disparity is, for each figure, the largest gap between two of its groups:
- binary: the selection rate (the share predicted positive) and the true-positive rate
  (recall of the positive label), the gaps behind demographic parity and equal opportunity;
- multiclass: the true-positive rate averaged over labels (macro recall);
- regression: the mean absolute error.
Groups with fewer than `MIN_GROUP_ROWS` rows are listed but left out of the gap: a handful of
rows makes any gap. (MetricFrame gives each group's figures; its `difference()` would span
every group, so the gap is taken here over the groups with enough rows.) `evaluate` records
the disparities with the run, so that the promotion gate can refuse a candidate that widens
one; the report shows both models on the same rows.
"""

from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }} import contract, tasks
from {{ cookiecutter.package_name }}.tasks import Scored

MIN_GROUP_ROWS = 30
FIGURES: dict[str, dict[str, str]] = {  # task -> figure -> what it is, for people
    "binary": {
        "selection_rate": "share predicted positive",
        "true_positive_rate": "recall of the positive label",
    },
    "multiclass": {"true_positive_rate": "recall averaged over labels"},
    "regression": {"mean_absolute_error": "mean absolute error"},
}
PREFIX = "disparity"  # recorded metrics: disparity.<column>.<figure>


@dataclass(frozen=True)
class Group:
    name: str
    rows: int
    gate: float | None  # the gate metric on the group's rows; None where undefined (one label)
    figures: dict[str, float]


@dataclass(frozen=True)
class Segment:
    column: str
    groups: list[Group]
    disparity: dict[str, float | None]  # None: fewer than two groups with enough rows

    @classmethod
    def from_json(cls, facts: dict[str, Any]) -> "Segment":
        groups = [Group(**group) for group in facts["groups"]]
        return cls(facts["column"], groups, facts["disparity"])


def figures() -> dict[str, str]:
    return FIGURES[contract.task()]


def segments(features: pd.DataFrame, scored: Scored, gate_metric: str) -> list[Segment]:
    """Each segment of the contract on these rows (`features` aligned with `scored`)."""
    return [
        _segment(column, contract.segment_groups(features, column).to_numpy(), scored, gate_metric)
        for column in contract.segments()
    ]


def recorded(found: list[Segment]) -> dict[str, float]:
    """The disparities as flat metrics for the tracking server: disparity.<column>.<figure>."""
    return {
        f"{PREFIX}.{segment.column}.{figure}": gap
        for segment in found
        for figure, gap in segment.disparity.items()
        if gap is not None
    }


def to_json(found: list[Segment]) -> list[dict[str, Any]]:
    return [asdict(segment) for segment in found]


def _segment(column: str, groups: np.ndarray, scored: Scored, gate_metric: str) -> Segment:
    from fairlearn.metrics import MetricFrame

    truth, decided = _truth_and_decision(scored)
    frame = MetricFrame(
        metrics=_figure_functions(),
        y_true=truth,
        y_pred=decided,
        sensitive_features=pd.Series(groups, name=column),
    )
    by_group = frame.by_group
    names, counts = np.unique(groups, return_counts=True)
    listed = [
        Group(
            name=str(name),
            rows=int(count),
            gate=_gate_on(scored.take(np.flatnonzero(groups == name)), gate_metric),
            figures={figure: round(float(by_group.loc[name, figure]), 6) for figure in figures()},
        )
        for name, count in zip(names, counts, strict=True)
    ]
    edges = contract.segments()[column]
    if edges is None:  # the largest group first
        listed.sort(key=lambda group: -group.rows)
    else:  # the bands in order, "missing" last
        order = [*contract.band_names(edges), "missing"]
        listed.sort(key=lambda group: order.index(group.name))
    enough = [group for group in listed if group.rows >= MIN_GROUP_ROWS]
    disparity: dict[str, float | None] = {
        figure: (
            round(
                max(g.figures[figure] for g in enough) - min(g.figures[figure] for g in enough), 6
            )
            if len(enough) >= 2
            else None
        )
        for figure in figures()
    }
    return Segment(column, listed, disparity)


def _truth_and_decision(scored: Scored) -> tuple[np.ndarray, np.ndarray]:
    if contract.task() == "binary":
        positive = contract.positive_label()
        return scored.actual == positive, scored.predicted == positive
    if contract.task() == "regression":
        return scored.actual.astype(float), scored.predicted.astype(float)
    return scored.actual.astype(str), scored.predicted.astype(str)


def _figure_functions() -> dict[str, Any]:
    from fairlearn.metrics import selection_rate, true_positive_rate
    from sklearn.metrics import mean_absolute_error, recall_score

    task = contract.task()
    if task == "binary":
        return {
            "selection_rate": partial(selection_rate, pos_label=True),
            "true_positive_rate": partial(true_positive_rate, pos_label=True),
        }
    if task == "multiclass":
        # over the labels the group has or is given: a label a small group lacks is no miss
        return {"true_positive_rate": partial(recall_score, average="macro", zero_division=0)}
    return {"mean_absolute_error": mean_absolute_error}


def _gate_on(scored: Scored, gate_metric: str) -> float | None:
    try:
        value = tasks.compute(scored)[gate_metric]
    except ValueError:  # undefined on these rows: one label only, say
        return None
    return None if np.isnan(value) else round(value, 6)
