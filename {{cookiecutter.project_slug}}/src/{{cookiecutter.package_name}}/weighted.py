"""Every metric of the task on many weightings of the same rows at once: bootstrap resamples
(how often each row is drawn) and groups (which rows belong).

Hand-written, not scikit-learn's metric functions: the report's paired bootstrap scores two
models on hundreds of resamples, and scikit-learn validates its input on each call (some 30 ms
per call of `tasks.compute` on ten thousand rows, most of the report's time; its
`skip_parameter_validation` leaves the input checks, `type_of_target` and `check_array`, which
are most of that). Here each row's part is found once (is it a true positive, its log loss,
its error) and every weighting is a matrix product, and ROC AUC and average precision come
from the rows' order by score, sorted once. The definitions are scikit-learn's as
`tasks.compute` calls them (tests compare the two on the same rows, to 1e-9); a metric
undefined on some rows (AUC with one label) is NaN where scikit-learn raises.
"""

import warnings
from typing import Any

import numpy as np

from {{ cookiecutter.package_name }} import contract, tasks
from {{ cookiecutter.package_name }}.tasks import Scored


def drawn(rows: np.ndarray, size: int) -> np.ndarray:
    """How often each of `size` rows is drawn in each resample: `rows` holds one resample of
    row positions per line (resamples x draws)."""
    rows = np.atleast_2d(rows)
    offsets = np.arange(len(rows))[:, None] * size
    counts = np.bincount((rows + offsets).ravel(), minlength=len(rows) * size)
    return counts.reshape(len(rows), size).astype(float)


def compute(scored: Scored, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of the task (`tasks.metric_names()` order) for each line of `weights`
    (weightings x rows: a row's count in a resample, or 1 for a group's rows, 0 elsewhere)."""
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    task = contract.task()
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a mean of no labels is NaN
        values = {"binary": _binary, "multiclass": _multiclass, "regression": _regression}[task](
            scored, weights
        )
    return {name: np.asarray(values[name], dtype=float) for name in tasks.metric_names()}


def _ratio(top: np.ndarray, bottom: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """top / bottom, `empty` where bottom is 0 (scikit-learn's zero_division)."""
    return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), empty)


def _log_loss_of_rows(probability_of_truth: np.ndarray) -> np.ndarray:
    """Each row's log loss, its probability clipped as scikit-learn clips it."""
    eps = np.finfo(probability_of_truth.dtype).eps
    loss: np.ndarray = -np.log(np.clip(probability_of_truth, eps, 1 - eps))
    return loss


def _by_threshold(
    score: np.ndarray, is_label: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The weight of positive and of negative rows at each distinct score, highest first
    (weightings x scores): rows of equal score form one threshold, as in a ROC curve."""
    order = np.argsort(-score, kind="stable")
    ranked = score[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    ordered = weights[:, order]
    positives = np.add.reduceat(ordered * is_label[order], starts, axis=1)
    negatives = np.add.reduceat(ordered * ~is_label[order], starts, axis=1)
    return positives, negatives


def _auc(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """ROC AUC: the share of (positive, negative) pairs ordered right, a tie counting half
    (the ROC curve's trapezoid); NaN where a weighting has rows of one outcome only."""
    total_pos, total_neg = positives.sum(axis=1), negatives.sum(axis=1)
    lower = total_neg[:, None] - np.cumsum(negatives, axis=1)  # negatives scored below
    pairs = (positives * (lower + 0.5 * negatives)).sum(axis=1)
    defined = (total_pos > 0) & (total_neg > 0)
    return np.where(defined, pairs / np.where(defined, total_pos * total_neg, 1), np.nan)


def _average_precision(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """Each threshold's precision weighted by the share of positives it adds (scikit-learn's
    step sum); 0 with no positives, as scikit-learn has it."""
    true_pos = np.cumsum(positives, axis=1)
    precision = _ratio(true_pos, true_pos + np.cumsum(negatives, axis=1))
    return _ratio((positives * precision).sum(axis=1), positives.sum(axis=1))


def _binary(scored: Scored, weights: np.ndarray) -> dict[str, Any]:
    positive = contract.positive_label()
    is_positive = np.asarray(scored.actual == positive, dtype=bool)
    decided = np.asarray(scored.predicted == positive, dtype=bool)
    score = scored.probability_of(positive)
    rows = weights.sum(axis=1)
    hit = weights @ (is_positive & decided).astype(float)
    claimed = weights @ decided.astype(float)  # true and false positives
    there = weights @ is_positive.astype(float)  # true positives and misses
    thresholds = _by_threshold(score, is_positive, weights)
    truth = np.where(is_positive, score, 1 - score)
    return {
        "roc_auc": _auc(*thresholds),
        "average_precision": _average_precision(*thresholds),
        "log_loss": weights @ _log_loss_of_rows(truth) / rows,
        "accuracy": weights @ (is_positive == decided).astype(float) / rows,
        "precision": _ratio(hit, claimed),
        "recall": _ratio(hit, there),
        "f1": _ratio(2 * hit, claimed + there),
    }


def _multiclass(scored: Scored, weights: np.ndarray) -> dict[str, Any]:
    labels = list(contract.labels())
    assert scored.probabilities is not None
    actual = np.stack([scored.actual == label for label in labels], axis=1).astype(bool)
    predicted = np.stack([scored.predicted == label for label in labels], axis=1)
    rows = weights.sum(axis=1)
    there = weights @ actual.astype(float)  # weightings x labels
    claimed = weights @ predicted.astype(float)
    hit = weights @ (actual & predicted).astype(float)
    recall = np.where(there > 0, hit / np.where(there > 0, there, 1), np.nan)
    aucs = np.stack(
        [
            _auc(*_by_threshold(scored.probabilities[:, k], actual[:, k], weights))
            for k in range(len(labels))
        ],
        axis=1,
    )
    truth = (scored.probabilities * actual).sum(axis=1)
    return {
        # the mean recall over the labels the rows have, like scikit-learn's
        "balanced_accuracy": np.nanmean(recall, axis=1),
        "roc_auc_ovr": np.nanmean(aucs, axis=1),  # over the labels with both outcomes
        "log_loss": weights @ _log_loss_of_rows(truth) / rows,
        "accuracy": hit.sum(axis=1) / rows,
        "f1_macro": _ratio(2 * hit, claimed + there).mean(axis=1),
    }


def _regression(scored: Scored, weights: np.ndarray) -> dict[str, Any]:
    actual, predicted = scored.actual.astype(float), scored.predicted.astype(float)
    rows = weights.sum(axis=1)
    error = actual - predicted
    squared = weights @ error**2
    mean = weights @ actual / rows
    spread = (weights * (actual[None, :] - mean[:, None]) ** 2).sum(axis=1)
    # scikit-learn's force_finite: constant truth scores 1 if predicted exactly, else 0
    explained = np.where(spread > 0, 1 - squared / np.where(spread > 0, spread, 1), 0.0)
    values = {
        "r2": np.where((spread == 0) & (squared == 0), 1.0, explained),
        "rmse": np.sqrt(squared / rows),
        "mae": weights @ np.abs(error) / rows,
    }
    if "mape" in tasks.metric_names():
        relative = np.abs(error) / np.maximum(np.abs(actual), np.finfo(np.float64).eps)
        values["mape"] = weights @ relative / rows
    return values
