"""The candidate against its base on the same rows, and how sure the difference is.

Both models score the same test rows (the candidate's test split), so their metrics differ only
by the models. A paired bootstrap (scipy.stats.bootstrap over row indices: one draw of rows per
resample, both models scored on it) recomputes every metric of the task for both, for a batch
of resamples at once (weighted.py); the spread of the differences is each change's 95%
interval, with the noise of which rows happen to be hard shared by both models and so
cancelled.

`verdict` is the one rule the report and the promotion gate share.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np

from {{ cookiecutter.package_name }} import tasks, weighted
from {{ cookiecutter.package_name }}.tasks import Scored

Verdict = Literal[
    "better",
    "no clear difference",
    "worse, within the tolerance",
    "worse, near the tolerance",
    "worse",
]
CONFIDENCE = 0.95
BATCH_CELLS = 2_000_000  # resamples x rows scored at once: 16 MB a matrix


@dataclass(frozen=True)
class Change:
    """One metric of both models on the same rows, and its change as a gain (positive: better)
    with the gain's 95% interval."""

    metric: str
    base: float
    candidate: float
    low: float  # the gain's interval
    high: float

    @property
    def gain(self) -> float:
        return tasks.gain(self.metric, before=self.base, after=self.candidate)


@dataclass(frozen=True)
class Paired:
    rows: int  # the test rows both models scored
    resamples: int
    changes: dict[str, Change]  # every metric of the task, in metric_names() order


def verdict(low: float, high: float, tolerance: float) -> Verdict:
    """What the interval of a gain (positive: better) says, against the tolerance the gate
    allows: worse only when all of it is beyond the tolerance, better only when all of it is
    above zero. A single measurement is the interval (value, value)."""
    if low > 0:
        return "better"
    if high < -tolerance:
        return "worse"
    if high >= 0:
        return "no clear difference"
    return "worse, within the tolerance" if low >= -tolerance else "worse, near the tolerance"


def paired(base: Scored, candidate: Scored, resamples: int, seed: int) -> Paired:
    """Both models' metrics on the same rows, and the 95% interval of each change."""
    from scipy.stats import bootstrap  # here: the gate imports `verdict` alone

    if not np.array_equal(base.actual, candidate.actual):
        raise ValueError("the two models were not scored on the same rows")
    names = tasks.metric_names()
    size = len(candidate.actual)

    def gains(rows: np.ndarray, axis: int = -1) -> np.ndarray:
        """Each metric's gain (metrics x resamples) on resamples of row positions (resamples x
        rows; one resample alone: the gains, one per metric): all resamples at once."""
        counts = weighted.drawn(rows, size)
        before, after = weighted.compute(base, counts), weighted.compute(candidate, counts)
        found = np.stack(
            [
                after[name] - before[name]
                if tasks.higher_is_better(name)
                else before[name] - after[name]
                for name in names
            ]
        )
        return found[:, 0] if np.ndim(rows) == 1 else found

    result = bootstrap(
        (np.arange(size),),
        gains,
        vectorized=True,
        n_resamples=resamples,
        batch=max(1, BATCH_CELLS // max(size, 1)),
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    before, after = tasks.compute(base), tasks.compute(candidate)
    low, high = result.confidence_interval
    return Paired(
        rows=size,
        resamples=resamples,
        changes={
            name: Change(name, before[name], after[name], float(low[i]), float(high[i]))
            for i, name in enumerate(names)
        },
    )
