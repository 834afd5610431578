"""The metrics of each task, and which way is better: one definition for evaluation, the
report and the promotion gate.

Light to import (scikit-learn's metrics load only when something is computed), so that the
registry and report code can ask "is this better?" without loading a model's dependencies.
"""

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }} import contract
from {{ cookiecutter.package_name }}.contract import Task
from {{ cookiecutter.package_name }}.settings import ParamsError


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    title: str  # what it is, for people


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("roc_auc", True, "ROC AUC"),
        Metric("average_precision", True, "average precision (area under precision-recall)"),
        Metric("roc_auc_ovr", True, "ROC AUC, each label against the rest, averaged"),
        Metric("log_loss", False, "log loss of the predicted probabilities"),
        Metric("accuracy", True, "accuracy"),
        Metric("balanced_accuracy", True, "balanced accuracy (mean recall over labels)"),
        Metric("precision", True, "precision of the positive label"),
        Metric("recall", True, "recall of the positive label"),
        Metric("f1", True, "F1 of the positive label"),
        Metric("f1_macro", True, "F1 averaged over labels"),
        Metric("rmse", False, "root mean squared error"),
        Metric("mae", False, "mean absolute error"),
        Metric("r2", True, "R², the share of variance explained"),
        Metric("mape", False, "mean absolute percentage error"),
    )
}
# Threshold-free or scale-free metrics first: the gate metric is usually one of them.
BY_TASK: dict[Task, tuple[str, ...]] = {
    "binary": (
        "roc_auc", "average_precision", "log_loss", "accuracy", "precision", "recall", "f1",
    ),
    "multiclass": ("balanced_accuracy", "roc_auc_ovr", "log_loss", "accuracy", "f1_macro"),
    "regression": ("r2", "rmse", "mae", "mape"),
}  # fmt: skip
DEFAULT_GATE: dict[Task, str] = {
    "binary": "roc_auc",
    "multiclass": "balanced_accuracy",
    "regression": "r2",
}


def metric_names(task: Task | None = None) -> list[str]:
    """The metrics this project's task reports. MAPE only where the target cannot be zero."""
    task = task or contract.task()
    names = list(BY_TASK[task])
    if task == "regression" and not contract.target_is_positive():
        names.remove("mape")
    return names


def check_gate_metric(name: str) -> str:
    """`name` if the task reports it; otherwise a ParamsError that lists the choices."""
    names = metric_names()
    if name not in names:
        raise ParamsError(
            f"evaluate.gate_metric {name!r} in params.yaml is not a metric of this "
            f"{contract.task()} task: choose one of {', '.join(names)} "
            f"(the usual one is {DEFAULT_GATE[contract.task()]})"
        )
    return name


def higher_is_better(metric: str) -> bool:
    """Unknown metrics (a revision's extra ones) read as higher-is-better, like most scores;
    a disparity (fairness.py: a gap between groups) is better smaller."""
    if metric.startswith("disparity."):
        return False
    known = METRICS.get(metric)
    return known.higher_is_better if known else True


def gain(metric: str, before: float, after: float) -> float:
    """How much better `after` is than `before` on `metric`; negative when it is worse."""
    return after - before if higher_is_better(metric) else before - after


@dataclass(frozen=True)
class Scored:
    """A model's answers on some rows, next to the truth."""

    actual: np.ndarray  # the target: labels, or numbers for regression
    predicted: np.ndarray  # the decided label, or the predicted number
    probabilities: np.ndarray | None = None  # classification: one column per label, in order

    def take(self, rows: np.ndarray) -> "Scored":
        """The same answers for `rows` (positions, repeats allowed): a bootstrap resample."""
        probabilities = None if self.probabilities is None else self.probabilities[rows]
        return Scored(self.actual[rows], self.predicted[rows], probabilities)

    def probability_of(self, label: str) -> np.ndarray:
        assert self.probabilities is not None
        return np.asarray(self.probabilities[:, contract.labels().index(label)])


def ordered_probabilities(model: Any, features: pd.DataFrame) -> np.ndarray:
    """predict_proba's columns put in the contract's label order, whatever order the model
    learned them in, so that a probability can never be read as another label's."""
    learned = [str(label) for label in model.classes_]
    missing = [label for label in contract.labels() if label not in learned]
    if missing or len(learned) != len(contract.labels()):
        raise contract.ContractError(
            f"the model knows the labels {learned}, the contract {list(contract.labels())}: "
            f"retrain on data where every label occurs (missing: {', '.join(missing) or '-'})"
        )
    probabilities: np.ndarray = model.predict_proba(features)
    return probabilities[:, [learned.index(label) for label in contract.labels()]]


def compute(scored: Scored) -> dict[str, float]:
    """Every metric of the task, in `metric_names()` order."""
    task = contract.task()
    with warnings.catch_warnings():
        # scikit-learn warns when a label is absent from a small split; the value is still
        # defined (recall over the labels present), which is what we report.
        warnings.simplefilter("ignore", UserWarning)
        values = {"binary": _binary, "multiclass": _multiclass, "regression": _regression}[task](
            scored
        )
    return {name: float(values[name]) for name in metric_names()}


def _binary(scored: Scored) -> dict[str, Any]:
    from sklearn import metrics

    positive = contract.positive_label()
    is_positive = scored.actual == positive
    score = scored.probability_of(positive)
    decided = scored.predicted == positive
    # one confusion matrix for all three: the bootstrap computes them hundreds of times
    precision, recall, f1, _ = metrics.precision_recall_fscore_support(
        is_positive, decided, average="binary", zero_division=0
    )
    return {
        "roc_auc": metrics.roc_auc_score(is_positive, score),
        "average_precision": metrics.average_precision_score(is_positive, score),
        "log_loss": metrics.log_loss(is_positive, score, labels=[False, True]),
        "accuracy": metrics.accuracy_score(is_positive, decided),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def _multiclass(scored: Scored) -> dict[str, Any]:
    from sklearn import metrics

    labels = list(contract.labels())
    assert scored.probabilities is not None
    # log_loss reads the probability columns in sorted label order, whatever order `labels`
    # is given in: put the contract's order (the columns') into that one
    order = np.argsort(labels)
    return {
        "balanced_accuracy": metrics.balanced_accuracy_score(scored.actual, scored.predicted),
        "roc_auc_ovr": float(np.mean(list(one_vs_rest_auc(scored).values()))),
        "log_loss": metrics.log_loss(
            scored.actual, scored.probabilities[:, order], labels=[labels[i] for i in order]
        ),
        "accuracy": metrics.accuracy_score(scored.actual, scored.predicted),
        "f1_macro": metrics.f1_score(
            scored.actual, scored.predicted, labels=labels, average="macro", zero_division=0
        ),
    }


def one_vs_rest_auc(scored: Scored) -> dict[str, float]:
    """Each label's ROC AUC against the rest, for the labels present with both outcomes.

    Their mean is scikit-learn's macro one-vs-rest AUC; computed per label, it stays defined
    when a small split lacks a label.
    """
    from sklearn.metrics import roc_auc_score

    aucs = {}
    for label in contract.labels():
        is_label = scored.actual == label
        if 0 < is_label.sum() < len(is_label):
            aucs[label] = float(roc_auc_score(is_label, scored.probability_of(label)))
    return aucs


def _regression(scored: Scored) -> dict[str, Any]:
    from sklearn import metrics

    actual, predicted = scored.actual.astype(float), scored.predicted.astype(float)
    values = {
        "r2": metrics.r2_score(actual, predicted),
        "rmse": metrics.root_mean_squared_error(actual, predicted),
        "mae": metrics.mean_absolute_error(actual, predicted),
    }
    if "mape" in metric_names():
        values["mape"] = metrics.mean_absolute_percentage_error(actual, predicted)
    return values


def per_class(scored: Scored) -> pd.DataFrame:
    """Classification: precision, recall, F1, support and one-vs-rest AUC of every label."""
    from sklearn.metrics import precision_recall_fscore_support

    labels = list(contract.labels())
    precision, recall, f1, support = precision_recall_fscore_support(
        scored.actual, scored.predicted, labels=labels, zero_division=0
    )
    aucs = one_vs_rest_auc(scored)
    return pd.DataFrame(
        {
            "label": labels,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
            "roc_auc": [aucs.get(label, np.nan) for label in labels],
        }
    ).round(4)
