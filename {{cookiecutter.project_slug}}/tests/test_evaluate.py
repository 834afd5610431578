"""Metrics and curves: right for the task, in the contract's label order, on known answers."""

from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLE

from {{ cookiecutter.package_name }} import contract, tasks
from {{ cookiecutter.package_name }}.evaluate import curve_points
from {{ cookiecutter.package_name }}.tasks import Scored


def test_precision_recall_curve_is_the_best_precision_at_each_recall() -> None:
    # given four rows ranked: positive, negative, positive, negative
    is_positive = np.array([True, False, True, False])

    curve = curve_points(is_positive, np.array([0.9, 0.8, 0.7, 0.6]))["precision_recall"]

    by_recall = curve.set_index("recall")["precision"]
    assert by_recall[0.5] == 1.0, "half the positives are found with no false positive"
    assert by_recall[1.0] == 0.6667, "all positives cost one false positive in three"
    assert by_recall.is_monotonic_decreasing


def test_roc_curve_of_a_perfect_ranking_reaches_the_corner() -> None:
    is_positive = np.array([True, True, False, False])

    curve = curve_points(is_positive, np.array([0.9, 0.8, 0.2, 0.1]))["roc"]

    assert curve.set_index("fpr")["tpr"][0.0] == 1.0


def _perfect(actual: np.ndarray) -> Scored:
    """A model that is always right, and sure of it."""
    if not contract.is_classification():
        return Scored(actual=actual, predicted=actual.astype(float))
    labels = list(contract.labels())
    probabilities = np.array([[float(label == truth) for label in labels] for truth in actual])
    return Scored(actual=actual, predicted=actual, probabilities=probabilities)


def test_a_perfect_model_gets_the_best_score_of_every_metric() -> None:
    actual = pd.read_csv(SAMPLE)[contract.target()].to_numpy()
    if contract.is_classification():
        actual = actual.astype(str)

    values = tasks.compute(_perfect(actual))

    assert list(values) == tasks.metric_names()
    best = {"log_loss": 0.0, "rmse": 0.0, "mae": 0.0, "mape": 0.0}
    for name, value in values.items():
        assert value == pytest.approx(best.get(name, 1.0), abs=1e-6), f"{name} is {value}"


def test_probabilities_are_put_in_the_contracts_label_order() -> None:
    # a regression contract lists no labels: any model's classes disagree with it, and are refused
    labels = list(contract.labels()) or ["low", "high"]

    class Learned:  # a model that learned the labels in the reverse order
        classes_ = np.array(labels[::-1])

        def predict_proba(self, features: Any) -> np.ndarray:
            return np.tile(np.arange(1, len(labels) + 1, dtype=float), (len(features), 1))

    if not contract.is_classification():
        with pytest.raises(contract.ContractError, match="the contract \\[\\]"):
            tasks.ordered_probabilities(Learned(), pd.DataFrame({"x": [0, 1]}))
        return
    ordered = tasks.ordered_probabilities(Learned(), pd.DataFrame({"x": [0, 1]}))

    # the last learned label had the largest number; it is the contract's first
    assert ordered[0].tolist() == list(range(len(labels), 0, -1))


def test_losses_are_lower_is_better_and_scores_higher() -> None:
    assert tasks.gain("log_loss", before=0.30, after=0.25) > 0
    assert tasks.gain("rmse", before=10.0, after=12.0) < 0
    assert tasks.gain("roc_auc", before=0.80, after=0.85) > 0
