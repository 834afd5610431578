"""Live quality: how the production version does on the labels that arrived for what it answered.

`judge` takes the records of the inference log's window that have a label (inference.py joins
them), scores the production version's with the task's metrics (tasks.compute) overall, over
time and per segment of the contract, and compares its gate metric with the one the version was
released with (its test metrics in the registry). The verdict:

- too few labels: fewer than `monitor.min_rows` labelled records of that version; no verdict;
- fine: the live gate metric falls short of the released one by no more than
  `monitor.tolerance`;
- degraded: it falls short by more. The reaction is a rollback to the version production ran
  before it (the latest other version in environments/production.yaml's git history), unless
  there is none, or that version did no better: with `min_rows` labelled records of its own in
  the window, its live gate metric fell short of its released one by more than the tolerance
  too; without them, its released gate metric is no better than the degraded version's live
  one. Then the reaction is retraining on the labelled records.

`write_report` writes what people read: monitor.md (the job summary and the pull request's body,
with the live gate metric over time as a Mermaid chart), monitor.json and monitor.html.
"""

import base64
import io
import json
import math
import subprocess
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any, Literal

import matplotlib
import numpy as np
import pandas as pd
import yaml

from {{ cookiecutter.package_name }} import charts, contract, tasks
from {{ cookiecutter.package_name }}.inference import Window

matplotlib.use("Agg")  # files only, no display

Verdict = Literal["fine", "degraded", "too-few-labels"]
Action = Literal["none", "rollback", "retrain"]
MIN_GROUP_ROWS = 30  # a segment's group with fewer labelled records is listed without a score


@dataclass(frozen=True)
class Quality:
    """One version's live quality on its labelled records."""

    version: str
    rows: int  # labelled records it answered in the window
    metrics: dict[str, float]  # the task's metrics on them (NaN where undefined)
    over_time: list[tuple[str, int, float]] = field(default_factory=list)  # (period, rows, gate)
    segments: list[tuple[str, str, int, float]] = field(default_factory=list)
    # (segment, group, rows, gate metric; NaN under MIN_GROUP_ROWS rows)


@dataclass(frozen=True)
class Earlier:
    """The version production ran before, and the commit whose production.yaml names it."""

    version: str
    commit: str
    released: dict[str, float]
    live: Quality | None  # None: too few labelled records of its own in the window


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    action: Action
    reason: str  # one sentence: why this action
    model: str
    log: str  # where the inference log was read
    feedback: str  # and the labels
    gate_metric: str
    tolerance: float
    min_rows: int
    since: str
    until: str
    answered: int  # records the log holds for the window, every version
    labelled: int  # of them, with a label
    production: Quality
    released: dict[str, float]  # the production version's test metrics
    earlier: Earlier | None


def scored(window: Window, rows: pd.Series) -> tasks.Scored:
    """The answers of `rows` (a boolean mask of the window) next to their labels."""
    assert window.labels is not None
    answers = window.answers[rows]
    if contract.is_classification():
        return tasks.Scored(
            actual=window.labels[rows].astype(str).to_numpy(),
            predicted=answers["predicted"].astype(str).to_numpy(),
            probabilities=answers[list(contract.labels())].to_numpy(dtype=float),
        )
    return tasks.Scored(
        actual=window.labels[rows].astype(float).to_numpy(),
        predicted=answers["predicted"].astype(float).to_numpy(),
    )


def metrics_of(answers: tasks.Scored) -> dict[str, float]:
    """The task's metrics; NaN for each when they are undefined on these rows (one label only,
    a single row)."""
    try:
        with warnings.catch_warnings():  # numpy's "mean of empty slice": the NaN says it
            warnings.simplefilter("ignore", RuntimeWarning)
            return tasks.compute(answers)
    except ValueError:
        return dict.fromkeys(tasks.metric_names(), math.nan)


def live_quality(window: Window, version: str, gate_metric: str, period: str) -> Quality:
    """`version`'s quality on its labelled records of `window`; `period` ("D" or "h") is the
    length of each step of its gate metric over time."""
    assert window.labels is not None
    mine = (window.records["model_version"] == version) & window.labels.notna()
    if not mine.any():
        return Quality(version, 0, dict.fromkeys(tasks.metric_names(), math.nan))
    over_time = []
    periods = window.records.loc[mine, "time"].dt.floor(period)
    for start in sorted(periods.unique()):
        step = mine & (window.records["time"].dt.floor(period) == start)
        label = pd.Timestamp(start).strftime("%Y-%m-%d" if period == "D" else "%m-%d %H:00")
        gate = metrics_of(scored(window, step))[gate_metric]
        over_time.append((label, int(step.sum()), gate))
    segments = []
    for name in contract.segments():
        groups = contract.segment_groups(window.features, name)
        for group in sorted(groups[mine].unique()):
            member = mine & (groups == group)
            rows = int(member.sum())
            gate = (
                metrics_of(scored(window, member))[gate_metric]
                if rows >= MIN_GROUP_ROWS
                else math.nan
            )
            segments.append((name, group, rows, gate))
    return Quality(version, int(mine.sum()), metrics_of(scored(window, mine)), over_time, segments)


def shortfall(metric: str, released: float, live: float) -> float:
    """How far `live` falls short of `released`: positive when it is worse."""
    return -tasks.gain(metric, released, live)


def earlier_version(
    environment_file: Path, current: str, root: Path = Path()
) -> tuple[str, str] | None:
    """The version production ran before `current` (the latest commit whose environment file
    names another version), and that commit; None when its history has no other version."""
    relative = environment_file.as_posix()
    commits = _git(root, "log", "--format=%H", "--", relative).split()
    for commit in commits:
        shown = yaml.safe_load(_git(root, "show", f"{commit}:{relative}")) or {}
        version = (shown.get("model") or {}).get("version")
        if version is not None and str(version) != current:
            return str(version), commit
    return None


def file_at(commit: str, environment_file: Path, root: Path = Path()) -> str:
    """The environment file as it was at `commit`: what the rollback restores."""
    return _git(root, "show", f"{commit}:{environment_file.as_posix()}") + "\n"


def _git(root: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=60
    )
    return completed.stdout.strip()


def decide(
    production: Quality,
    released: dict[str, float],
    earlier: Earlier | None,
    gate_metric: str,
    tolerance: float,
    min_rows: int,
) -> tuple[Verdict, Action, str]:
    """The verdict, the reaction and why (the rule in the module docstring)."""
    if production.rows < min_rows:
        return (
            "too-few-labels",
            "none",
            f"{production.rows:,} labelled records of version {production.version}, "
            f"{min_rows:,} needed (monitor.min_rows): no verdict yet",
        )
    live, then = production.metrics[gate_metric], released[gate_metric]
    if not math.isfinite(live):  # e.g. a ROC AUC on records that all have one label
        return (
            "too-few-labels",
            "none",
            f"{gate_metric} is not defined on version {production.version}'s "
            f"{production.rows:,} labelled records (too few of some label): no verdict yet",
        )
    if not shortfall(gate_metric, then, live) > tolerance:
        return "fine", "none", f"{gate_metric} is within {tolerance:g} of its released value"
    if earlier is None:
        return "degraded", "retrain", "production has run no other version to roll back to"
    if earlier.live is not None:
        earlier_live = earlier.live.metrics[gate_metric]
        if shortfall(gate_metric, earlier.released[gate_metric], earlier_live) > tolerance:
            return (
                "degraded",
                "retrain",
                f"version {earlier.version}, which ran before, fell short on its own "
                f"{earlier.live.rows:,} labelled records too ({gate_metric} {earlier_live:.4f})",
            )
        return (
            "degraded",
            "rollback",
            f"version {earlier.version}, which ran before, held its released {gate_metric} on "
            f"its own {earlier.live.rows:,} labelled records ({earlier_live:.4f}): roll back to it",
        )
    released_then = earlier.released[gate_metric]
    if tasks.gain(gate_metric, live, released_then) <= 0:
        return (
            "degraded",
            "retrain",
            f"version {earlier.version}, which ran before, was released with no better "
            f"{gate_metric} ({released_then:.4f}) than this one scores live ({live:.4f})",
        )
    return (
        "degraded",
        "rollback",
        f"version {earlier.version}, which ran before, was released with a better {gate_metric} "
        f"({released_then:.4f}) than this one scores live ({live:.4f}): roll back to it",
    )


def labelled_records(window: Window) -> pd.DataFrame:
    """Every labelled record of the window, whichever version answered it, as training rows:
    the input under the contract's columns with the label as the target."""
    assert window.labels is not None
    known = window.labels.notna()
    rows = window.features[known].copy()
    rows[contract.target()] = window.labels[known]
    return rows[list(contract.columns())].reset_index(drop=True)


def render_body(judgement: Judgement) -> str:
    """The rollback or retraining pull request's description: what merging it does, then the
    evidence."""
    production = judgement.production
    if judgement.action == "rollback":
        assert judgement.earlier is not None
        earlier = judgement.earlier
        lines = [
            f"## Roll production back to version {earlier.version}",
            "",
            f"The scheduled monitor (`monitor.yml`) found version {production.version}'s live "
            "quality short of what it was released with. This pull request sets "
            "`environments/production.yaml` back to what it was when production ran version "
            f"{earlier.version} (commit {earlier.commit[:7]}). Merging it rolls production back "
            "through `promote.yml`; close it to keep the version that runs now.",
        ]
    else:
        lines = [
            "## Retrain on production's labelled records",
            "",
            f"The scheduled monitor (`monitor.yml`) found version {production.version}'s live "
            "quality short of what it was released with, and no earlier version to roll back "
            "to that did better. This pull request adds the window's labelled records to the "
            "training data (`data/batches/`, tracked by DVC); its checks retrain on them and "
            "report against main. Merge it to release the retrained model.",
        ]
    return "\n".join([*lines, "", render_markdown(judgement).strip()]) + "\n"


def write_report(judgement: Judgement, out_dir: Path) -> Path:
    """monitor.md, monitor.json and monitor.html (with the plot) in `out_dir`; the Markdown's
    path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = out_dir / "monitor.md"
    markdown.write_text(render_markdown(judgement), encoding="utf-8")
    (out_dir / "monitor.json").write_text(
        json.dumps(_jsonable(asdict(judgement)), indent=2) + "\n", encoding="utf-8"
    )
    (out_dir / "monitor.html").write_text(render_html(judgement), encoding="utf-8")
    return markdown


def _jsonable(value: Any) -> Any:
    """NaN (undefined metrics) as null: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


HEADLINES = {
    ("too-few-labels", "none"): "too few labels for a verdict",
    ("fine", "none"): "**fine**",
    ("degraded", "rollback"): "**degraded** ⚠️: roll back",
    ("degraded", "retrain"): "**degraded** ⚠️: retrain",
}


def render_markdown(judgement: Judgement) -> str:
    production = judgement.production
    gate = judgement.gate_metric
    lines = [
        f"## Live quality: {HEADLINES[(judgement.verdict, judgement.action)]}",
        "",
        f"Production runs {judgement.model} version {production.version}. From "
        f"{judgement.since} to {judgement.until} the inference log holds "
        f"{judgement.answered:,} answered records (every version), {judgement.labelled:,} of "
        f"them labelled; **{production.rows:,} labelled records** are this version's (a verdict "
        f"needs {judgement.min_rows:,}: `monitor.min_rows`). Log `{judgement.log}`, labels "
        f"`{judgement.feedback}`.",
        "",
        f"{_sentence(judgement.reason)}",
    ]
    if production.rows:
        lines += ["", *_metrics_table(judgement)]
    if production.over_time:
        lines += ["", *_time_chart(judgement)]
    if production.segments:
        lines += ["", *_segments_table(judgement)]
    if judgement.earlier is not None:
        earlier = judgement.earlier
        live = (
            f"live on its own {earlier.live.rows:,} labelled records: "
            f"{_value(earlier.live.metrics[gate])}."
            if earlier.live is not None
            else "too few labelled records of its own in the window to judge it live."
        )
        lines += [
            "",
            f"Version {earlier.version} ran before it (`environments/production.yaml` at "
            f"{earlier.commit[:7]}), released with {gate} "
            f"{_value(earlier.released.get(gate, math.nan))}; {live}",
        ]
    return "\n".join(lines) + "\n"


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:] + "."


def _metrics_table(judgement: Judgement) -> list[str]:
    production, released = judgement.production, judgement.released
    lines = [
        f"| metric | live ({production.rows:,} records) | released (test split) | "
        "change (+: better) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, live in production.metrics.items():
        then = released.get(name, math.nan)
        change = tasks.gain(name, then, live)
        shown = f"{change:+.4f}" if math.isfinite(change) else "n/a"
        if name == judgement.gate_metric and -change > judgement.tolerance:
            shown += f" ⚠️ (tolerance {judgement.tolerance:g})"
        title = f"**{name}** (gate)" if name == judgement.gate_metric else name
        lines.append(f"| {title} | {_value(live)} | {_value(then)} | {shown} |")
    return lines


def _value(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "n/a"


def _time_chart(judgement: Judgement) -> list[str]:
    production = judgement.production
    gate = judgement.gate_metric
    periods = [period for period, _, _ in production.over_time]
    live = [value for _, _, value in production.over_time]
    released = [judgement.released.get(gate, math.nan)] * len(periods)
    chart = charts.chart(
        f"{gate}, live against released",
        "period (UTC)",
        gate,
        [("released", released), ("live", live)],
        categories=periods,
    )
    rows = ", ".join(f"{period}: {count:,}" for period, count, _ in production.over_time)
    return [chart, "", f"Live is the version's {gate} on each period's labelled records ({rows})."]


def _segments_table(judgement: Judgement) -> list[str]:
    gate = judgement.gate_metric
    lines = [
        f"Live {gate} by segment (groups under {MIN_GROUP_ROWS} labelled records: n/a):",
        "",
        f"| segment | group | records | live {gate} |",
        "| --- | --- | ---: | ---: |",
    ]
    for name, group, rows, value in judgement.production.segments:
        lines.append(f"| {name} | {group} | {rows:,} | {_value(value)} |")
    return lines


def render_html(judgement: Judgement) -> str:
    """The same report as one self-contained page: the tables, and the plot as an embedded
    PNG (the run's artifact, opened in a browser)."""
    production, gate = judgement.production, judgement.gate_metric
    title = f"{judgement.model} version {production.version}: live quality"
    parts = [
        f"<h1>{escape(title)}</h1>",
        f"<p><strong>{escape(judgement.verdict)}</strong>, action "
        f"<strong>{escape(judgement.action)}</strong>: {escape(_sentence(judgement.reason))}</p>",
        f"<p>{production.rows:,} labelled records of this version from "
        f"{escape(judgement.since)} to {escape(judgement.until)} (a verdict needs "
        f"{judgement.min_rows:,}).</p>",
    ]
    if production.over_time:
        png = base64.b64encode(plot_over_time(judgement)).decode()
        parts.append(f'<img alt="live {escape(gate)} over time" src="data:image/png;base64,{png}">')
    if production.rows:
        metrics = pd.DataFrame(
            {
                "metric": list(production.metrics),
                "live": list(production.metrics.values()),
                "released": [judgement.released.get(name, math.nan) for name in production.metrics],
            }
        )
        parts += ["<h2>Metrics</h2>", _table(metrics)]
    if production.segments:
        segments = pd.DataFrame(
            production.segments, columns=["segment", "group", "records", f"live {gate}"]
        )
        parts += ["<h2>By segment</h2>", _table(segments)]
    body = "\n".join(parts)
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"</head><body>\n{body}\n</body></html>\n"
    )


def _table(frame: pd.DataFrame) -> str:
    return str(frame.to_html(index=False, na_rep="n/a", float_format="{:.4f}".format))


def plot_over_time(judgement: Judgement) -> bytes:
    """The live gate metric per period against the released one, as a PNG."""
    import matplotlib.pyplot as plt

    production, gate = judgement.production, judgement.gate_metric
    periods = [period for period, _, _ in production.over_time]
    figure, axes = plt.subplots(figsize=(7, 3.6), layout="constrained")
    axes.plot(periods, [value for _, _, value in production.over_time], marker="o",
              color=charts.BLUE, label="live")  # fmt: skip
    axes.axhline(judgement.released.get(gate, np.nan), color=charts.GREEN, linestyle="--",
                 label="released (test split)")  # fmt: skip
    axes.set_xlabel("period (UTC)")
    axes.set_ylabel(gate)
    axes.set_title(f"{judgement.model} version {production.version}: live {gate}")
    axes.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def period_for(window: timedelta) -> str:
    """Steps of a day for a window of three days or more, of an hour below."""
    return "D" if window >= timedelta(days=3) else "h"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
