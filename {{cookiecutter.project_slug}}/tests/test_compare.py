"""The candidate against its base on the same rows: each change with its 95% interval, and the
verdict the report and the promotion gate share."""

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, SAMPLE

from {{ cookiecutter.package_name }} import contract, validate
from {{ cookiecutter.package_name }}.compare import paired, verdict
from {{ cookiecutter.package_name }}.settings import load_params
from {{ cookiecutter.package_name }}.tasks import Scored, metric_names

PARAMS = load_params(ROOT / "params.yaml")


@pytest.mark.parametrize(
    ("low", "high", "said"),
    [
        (0.001, 0.01, "better"),
        (-0.001, 0.01, "no clear difference"),
        (-0.004, -0.001, "worse, within the tolerance"),
        (-0.008, -0.001, "worse, near the tolerance"),
        (-0.02, -0.006, "worse"),
        (-0.005, -0.005, "worse, within the tolerance"),  # exactly the tolerance is allowed
    ],
)
def test_the_verdict_reads_the_interval_against_the_tolerance(
    low: float, high: float, said: str
) -> None:
    assert verdict(low, high, tolerance=0.005) == said


@pytest.fixture(scope="module")
def oracle() -> Scored:
    """A model that is always right, on the sample's rows."""
    actual = validate.validated(pd.read_csv(SAMPLE))[contract.target()].to_numpy()
    if not contract.is_classification():
        return Scored(actual, actual.astype(float))
    labels = list(contract.labels())
    one_hot = np.array([[float(value == label) for label in labels] for value in actual])
    return Scored(actual, actual, one_hot)


def constant(scored: Scored) -> Scored:
    """A model that knows nothing: the mean, or equal probabilities and the commonest label."""
    if scored.probabilities is None:
        mean = float(np.mean(scored.actual.astype(float)))
        return Scored(scored.actual, np.full(len(scored.actual), mean))
    values, counts = np.unique(scored.actual, return_counts=True)
    commonest = np.full(len(scored.actual), values[counts.argmax()], dtype=object)
    equal = np.full(scored.probabilities.shape, 1 / scored.probabilities.shape[1])
    return Scored(scored.actual, commonest, equal)


def test_a_model_against_itself_changes_nothing(oracle: Scored) -> None:
    result = paired(oracle, oracle, resamples=50, seed=1)

    assert result.rows == len(oracle.actual) and list(result.changes) == metric_names()
    for change in result.changes.values():
        assert change.base == change.candidate and change.low == change.high == 0
        assert verdict(change.low, change.high, 0.0) == "no clear difference"


def test_a_model_that_knows_better_than_a_constant_is_better_and_back_is_worse(
    oracle: Scored,
) -> None:
    gate = PARAMS.evaluate.gate_metric

    up = paired(constant(oracle), oracle, resamples=50, seed=1).changes[gate]
    down = paired(oracle, constant(oracle), resamples=50, seed=1).changes[gate]

    assert up.gain > 0 and up.low > 0 and down.gain < 0 and down.high < 0
    assert verdict(up.low, up.high, PARAMS.promote.tolerance) == "better"
    assert verdict(down.low, down.high, PARAMS.promote.tolerance) == "worse"


def test_the_interval_is_seeded(oracle: Scored) -> None:
    first = paired(constant(oracle), oracle, resamples=50, seed=1)
    again = paired(constant(oracle), oracle, resamples=50, seed=1)

    assert first == again


def test_models_scored_on_different_rows_are_refused(oracle: Scored) -> None:
    fewer = oracle.take(np.arange(len(oracle.actual) - 1))

    with pytest.raises(ValueError, match="not scored on the same rows"):
        paired(fewer, oracle, resamples=50, seed=1)
