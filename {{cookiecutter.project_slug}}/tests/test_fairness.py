"""The model across the contract's segments: groups named from the contract, the gate metric
of each, and each segment's disparity (the largest gap between groups with enough rows)."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from {{ cookiecutter.package_name }} import contract, fairness, schema, tasks
from {{ cookiecutter.package_name }}.tasks import Scored
from {{ cookiecutter.package_name }}.tracking import RunRef

Declare = Callable[[object], None]


@pytest.fixture
def segments_declared(monkeypatch: pytest.MonkeyPatch) -> Iterator[Declare]:
    """Declare other SEGMENTS for one test; the contract's cached answers are cleared."""

    def declare(segments: object) -> None:
        monkeypatch.setattr(schema, "SEGMENTS", segments)
        contract.problems.cache_clear()

    yield declare
    contract.problems.cache_clear()


def test_the_bundled_contract_declares_segments_that_it_has() -> None:
    assert contract.segments(), "the bundled data comes with segments to show"
    assert set(contract.segments()) <= set(contract.feature_columns())


@pytest.mark.parametrize(
    ("declared", "problem"),
    [
        ({"nope": None}, "SEGMENTS names 'nope', which is not a column of the contract"),
        ("target", "SEGMENTS names the target"),
        ("text-with-edges", "is not numeric: group it by value with None"),
        ("number-with-bad-edges", "must be increasing numbers"),
    ],
)
def test_a_segment_the_contract_cannot_group_by_is_named(
    declared: object, problem: str, segments_declared: Declare
) -> None:
    text = contract.categorical_features()
    numeric = contract.numeric_features()
    cases = {
        "target": {contract.target(): None},
        "text-with-edges": {(text or numeric)[0]: (1, 2)},
        "number-with-bad-edges": {(numeric or text)[0]: (5, 1)},
    }
    segments_declared(cases.get(declared, declared) if isinstance(declared, str) else declared)

    found = contract.problems()

    if declared == "text-with-edges" and not text:  # a contract of numbers only: edges are fine
        assert not found
    elif declared == "number-with-bad-edges" and not numeric:
        assert any("is not numeric" in line for line in found), found
    else:
        assert any(problem in line for line in found), found


def test_a_numeric_segment_is_cut_into_named_bands(segments_declared: Declare) -> None:
    column = contract.numeric_features()[0]
    segments_declared({column: (10, 20)})
    frame = pd.DataFrame({column: [5, 10, 19.5, 20, 400, None]})

    groups = contract.segment_groups(frame, column)

    assert list(groups) == [
        "under 10",
        "10 to under 20",
        "10 to under 20",
        "20 and over",
        "20 and over",
        "missing",
    ]


def test_a_perfect_model_leaves_only_the_datas_own_gaps(sample: pd.DataFrame) -> None:
    # given answers that are all right, with the probabilities to match
    actual = sample[contract.target()].to_numpy()
    probabilities = None
    if contract.is_classification():
        actual = actual.astype(str)
        probabilities = np.array(
            [[float(a == label) for label in contract.labels()] for a in actual]
        )
    scored = Scored(actual, actual.copy(), probabilities)

    # when each segment is measured
    found = fairness.segments(sample, scored, tasks.metric_names()[0])

    # then no error figure differs between groups; a selection rate differs as the data's
    # share of the positive label does
    assert [segment.column for segment in found] == list(contract.segments())
    for segment in found:
        assert sum(group.rows for group in segment.groups) == len(sample)
        groups = contract.segment_groups(sample, segment.column)
        for figure, gap in segment.disparity.items():
            if figure != "selection_rate":
                assert gap in (0.0, None), (segment.column, figure, gap)
                continue
            shares = (actual == contract.positive_label()).astype(float)
            counts = groups.value_counts()
            large = counts[counts >= fairness.MIN_GROUP_ROWS].index
            rates = pd.Series(shares).groupby(groups.to_numpy()).mean()[large]
            expected = round(float(rates.max() - rates.min()), 6) if len(large) > 1 else None
            assert gap == expected


def test_evaluate_records_the_segments_and_their_gaps(trained: Path) -> None:
    written = json.loads((trained / "reports" / "plots" / "segments.json").read_text())
    found = [fairness.Segment.from_json(facts) for facts in written]

    assert [segment.column for segment in found] == list(contract.segments())
    ref = RunRef.read(trained / "models" / "run.json")
    logged = MlflowClient(tracking_uri=ref.tracking_uri).get_run(ref.run_id).data.metrics
    assert {f"test_{key}": value for key, value in fairness.recorded(found).items()} == {
        key: value for key, value in logged.items() if key.startswith("test_disparity.")
    }
