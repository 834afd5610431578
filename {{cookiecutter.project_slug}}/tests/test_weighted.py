"""The bootstrap's hand-written metrics give scikit-learn's values (`tasks.compute`) on the
same rows: for resamples, for groups of rows, and on rows of a single truth."""

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLE

from {{ cookiecutter.package_name }} import contract, tasks, validate, weighted
from {{ cookiecutter.package_name }}.tasks import Scored

TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def noisy() -> Scored:
    """A middling model on the sample's rows: often right, often wrong, with tied scores."""
    rng = np.random.default_rng(3)
    actual = validate.validated(pd.read_csv(SAMPLE))[contract.target()].to_numpy()
    if not contract.is_classification():
        truth = actual.astype(float)
        return Scored(actual, truth + rng.normal(0, truth.std(), len(truth)))
    labels = list(contract.labels())
    raw = rng.integers(1, 5, (len(actual), len(labels))).astype(float)  # small integers: ties
    raw[np.arange(len(actual)), [labels.index(value) for value in actual]] += rng.integers(
        0, 3, len(actual)
    )
    probabilities = raw / raw.sum(axis=1, keepdims=True)
    decided = np.array(labels, dtype=object)[probabilities.argmax(axis=1)]
    return Scored(actual, decided, probabilities)


def assert_as_scikit_learn(scored: Scored, rows: np.ndarray, found: dict[str, float]) -> None:
    expected = tasks.compute(scored.take(rows))
    assert list(found) == list(expected)
    for name, value in expected.items():
        assert found[name] == pytest.approx(value, abs=TOLERANCE, nan_ok=True), name


def test_each_resample_scores_as_scikit_learn_does(noisy: Scored) -> None:
    size = len(noisy.actual)
    resamples = np.random.default_rng(5).integers(0, size, (20, size))

    found = weighted.compute(noisy, weighted.drawn(resamples, size))

    for i, rows in enumerate(resamples):
        assert_as_scikit_learn(noisy, rows, {name: float(found[name][i]) for name in found})


def test_a_group_of_rows_scores_as_scikit_learn_does(noisy: Scored) -> None:
    size = len(noisy.actual)
    groups = np.random.default_rng(7).integers(0, 3, size)

    found = weighted.compute(noisy, np.stack([groups == group for group in range(3)]))

    for group in range(3):
        rows = np.flatnonzero(groups == group)
        assert_as_scikit_learn(noisy, rows, {name: float(found[name][group]) for name in found})


def test_rows_of_one_truth_score_as_scikit_learn_does_or_nan_where_it_refuses(
    noisy: Scored,
) -> None:
    rows = np.zeros(10, dtype=int)  # the first row ten times: one label, or a constant target

    found = {name: float(values[0]) for name, values in weighted.compute(
        noisy, weighted.drawn(rows, len(noisy.actual))
    ).items()}  # fmt: skip

    try:
        assert_as_scikit_learn(noisy, rows, found)
    except ValueError:  # a binary AUC needs both labels: scikit-learn refuses
        assert np.isnan(found["roc_auc"])


def test_a_resample_is_how_often_each_row_is_drawn() -> None:
    counts = weighted.drawn(np.array([[0, 0, 2], [1, 2, 2]]), 4)

    assert counts.tolist() == [[2, 0, 1, 0], [0, 1, 2, 0]]


def test_log_loss_reads_each_probability_column_as_its_own_label(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a contract that declares its labels out of sorted order (its probability columns
    # follow that order), and answers whose columns follow it
    labels = list(contract.labels())
    if not labels:  # a regression has no probabilities, and reports no log loss
        assert "log_loss" not in tasks.metric_names()
        return
    declared = labels[::-1]
    monkeypatch.setattr(contract, "labels", lambda: tuple(declared))
    rng = np.random.default_rng(0)
    actual = rng.choice(declared, 60)
    probabilities = rng.dirichlet(np.ones(len(declared)), 60)

    # when the task's metrics are computed
    value = tasks.compute(Scored(actual, actual, probabilities))["log_loss"]

    # then each row's loss is read from its true label's own column
    truth = [declared.index(label) for label in actual]
    assert value == pytest.approx(-np.mean(np.log(probabilities[np.arange(60), truth])))
