import numpy as np

from {{ cookiecutter.package_name }}.evaluate import (
    Scored,
    metrics,
    precision_recall_points,
    roc_points,
)


def _scored(is_positive: list[bool], score: list[float]) -> Scored:
    predicted = np.where(np.array(score) >= 0.5, ">50K", "<=50K")
    return Scored(is_positive=np.array(is_positive), score=np.array(score), predicted=predicted)


def test_precision_recall_curve_is_the_best_precision_at_each_recall() -> None:
    # given four rows ranked: positive, negative, positive, negative
    scored = _scored([True, False, True, False], [0.9, 0.8, 0.7, 0.6])

    curve = precision_recall_points(scored).set_index("recall")["precision"]

    assert curve[0.5] == 1.0, "half the positives are found with no false positive"
    assert curve[1.0] == 0.6667, "all positives cost one false positive in three"
    assert curve.is_monotonic_decreasing


def test_roc_curve_of_a_perfect_ranking_reaches_the_corner() -> None:
    scored = _scored([True, True, False, False], [0.9, 0.8, 0.2, 0.1])

    curve = roc_points(scored).set_index("fpr")["tpr"]

    assert curve[0.0] == 1.0
    assert metrics(scored)["roc_auc"] == 1.0
