"""Report: one Markdown page from which a reviewer decides a change, compared with its base.

Pure: results in, Markdown and comparison plots out. `revisions.py` reads the results of any
revision; the CLI wires the two together.
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }} import charts
from {{ cookiecutter.package_name }}.compare import Change, Paired, verdict
from {{ cookiecutter.package_name }}.drift import DriftResult, strength
from {{ cookiecutter.package_name }}.fairness import FIGURES, MIN_GROUP_ROWS, Group, Segment
from {{ cookiecutter.package_name }}.plots import (
    CURVES,
    confusion_matrix,
    plot_confusions,
    plot_curves,
    plot_predicted_against_actual,
    plot_residuals,
)
from {{ cookiecutter.package_name }}.tasks import gain, higher_is_better
from {{ cookiecutter.package_name }}.tracking import RunRef
from {{ cookiecutter.package_name }}.validate import ValidationResult, describe_repeats, failure_table

# What `dvc repro` did with the train stage in this run (the run-pipeline action says so).
Training = Literal["ran", "restored", "skipped", "failed", "needs-remote"]
TRAINING_NOTES: dict[str, str] = {
    "ran": "",
    "restored": (
        "The model was restored from DVC's run cache: it was trained earlier on exactly these "
        "inputs, so it was not trained again."
    ),
    "skipped": (
        "Training did not run: nothing that feeds the model changed (data, parameters, "
        "pipeline or package code)."
    ),
    "failed": (
        "**The pipeline failed before a model was ready** (see the job's log): the results "
        "below are the ones committed on this branch, not this change's."
    ),
    "needs-remote": (
        "**Training did not run: this change needs the data in the DVC remote, which a fork's "
        "pull request cannot reach.** The results below are the ones committed on this branch, "
        "not this change's; a maintainer trains it by pushing the branch to this repository."
    ),
}


@dataclass(frozen=True)
class Results:
    """What one revision's pipeline produced."""

    revision: str  # a short commit, or "workspace"
    metrics: dict[str, float]
    params: dict[str, Any]  # flattened: "train.model.learning_rate"
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)  # CURVES name -> label, x, y
    confusion: pd.DataFrame | None = None  # actual, predicted, count
    per_class: pd.DataFrame | None = None  # label, precision, recall, f1, support, roc_auc, ...
    predictions: pd.DataFrame | None = None  # regression: actual, predicted (a sample)
    evaluated: dict[str, Any] | None = None  # evaluate's task.json: task, target, labels, rows
    fit: dict[str, Any] | None = None  # evaluate's fit.json: fit time, bytes, train metrics
    segments: list[Segment] | None = None  # evaluate's segments.json: the model by group

    def describes(self) -> str:
        """What this revision's model predicts, for people: "binary income"."""
        if self.evaluated is None:
            return "unknown"
        return f"{self.evaluated['task']} {self.evaluated['target']}"


@dataclass(frozen=True)
class DataChange:
    path: str
    change: str  # added, modified, deleted
    rows_before: int | None
    rows_after: int | None
    # by content (data.row_changes); None where a version could not be read as a table
    rows_added: int | None = None
    rows_removed: int | None = None
    rows_changed: int | None = None
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    head: Results | None  # None when validation failed and nothing was trained
    base: Results | None  # None when the base has no results yet
    gate_metric: str
    commit: str  # what the report is about: a pull request's head commit
    validation: dict[str, Any] | None = None  # validate's validation.json
    data_changes: list[DataChange] = field(default_factory=list)
    training: Training | None = None  # None when unknown (a local preview)
    run: RunRef | None = None
    stale_stages: list[str] = field(default_factory=list)  # stages whose inputs changed since
    # The commit that was checked out and trained, where it is not `commit`: on GitHub, a pull
    # request's merge of its head into its base.
    tested: str | None = None
    # The base's model and this change's on this change's test rows, or why they were not.
    same_rows: Paired | None = None
    same_rows_note: str | None = None
    new_rows: Paired | None = None  # both models on the test rows the base's data lacked
    data_drift: DriftResult | None = None  # this revision's rows against the base's
    data_drift_note: str | None = None  # why there is none, when data changed
    tolerance: float = 0.0  # promote.tolerance: how much worse the gate metric may be
    # Both models by segment on the same rows as same_rows (base None: only this change's).
    segments: list[Segment] = field(default_factory=list)
    base_segments: list[Segment] | None = None
    disparity_tolerance: float | None = None  # promote.disparity_tolerance

    def tolerance_of(self, metric: str) -> float:
        return self.tolerance if metric == self.gate_metric else 0.0


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def render(
    report: Report,
    images: dict[str, str],
    plots_link: str | None = None,
    artifact: str | None = None,
) -> str:
    """The report as Markdown; `images` maps a plot name to the path or URL to show it from.

    The charts are always drawn from the text (Mermaid). With `plots_link`, the images are
    named with the run (and its `artifact`) that holds them instead of shown (where images
    cannot be uploaded next to the Markdown).
    """
    sections = [_headline(report), _staleness(report), _validation(report)]
    if report.head is not None and not validation_failed(report):
        plots = _plots(report, images, plots_link, artifact)
        sections += [_metrics(report), _segments(report), _model(report), _params(report), plots]
    sections += [_data(report), _provenance(report)]
    return "\n\n".join(section for section in sections if section) + "\n"


def not_comparable(report: Report) -> str | None:
    """Why the base's numbers cannot be set against this change's, if they cannot: another
    task, target or set of labels makes every metric mean something else."""
    head, base = report.head, report.base
    if head is None or base is None or head.evaluated is None or base.evaluated is None:
        return None
    for key, what in (("target", "the target"), ("task", "the task"), ("labels", "the labels")):
        if head.evaluated[key] != base.evaluated[key]:
            before, after = base.evaluated[key], head.evaluated[key]
            if key == "labels":
                before, after = ", ".join(before), ", ".join(after)
            return f"{what} changed ({before} → {after})"
    return None


def validation_failed(report: Report) -> bool:
    return report.validation is not None and not report.validation["passed"]


def _headline(report: Report) -> str:
    title = f"## Model report for `{report.commit[:12]}`"
    if validation_failed(report):
        return f"{title}\n\n**The data broke the contract: nothing was trained.**"
    note = TRAINING_NOTES[report.training] if report.training else ""
    if report.head is None:
        return "\n\n".join(
            part for part in (title, note, "No results: the pipeline has not run here.") if part
        )
    return "\n\n".join(part for part in (title, note, _gate(report)) if part)


def _gate(report: Report) -> str:
    assert report.head is not None
    base = f"`{report.base.revision}`" if report.base else "no base results"
    if (why := not_comparable(report)) is not None:
        return (
            f"**Not comparable: {why}.** The base `{report.base.revision if report.base else ''}` "
            "measured another thing, so its metrics are not set against these and there is no "
            "verdict."
        )
    if report.same_rows is not None and report.base is not None:
        change = report.same_rows.changes[report.gate_metric]
        said = verdict(change.low, change.high, report.tolerance)
        return (
            f"Gate metric **{report.gate_metric}** on the same {report.same_rows.rows:,} test "
            f"rows: {change.base:.4f} with base {base} → **{change.candidate:.4f}** with this "
            f"change ({_signed(change)}, 95% interval {_interval(change)}): **{said}**."
        )
    gate = report.head.metrics.get(report.gate_metric)
    if report.base is None or gate is None:
        return f"Compared with {base}."
    before = report.base.metrics.get(report.gate_metric)
    if before is None:
        return f"The base has no `{report.gate_metric}` to compare with."
    return (
        f"Gate metric **{report.gate_metric}**, each model on its own test split: "
        f"{before:.4f} on {base} → **{gate:.4f}** here ({gate - before:+.4f}). Not measured on "
        f"the same rows ({report.same_rows_note or 'not scored'}): no verdict."
    )


def _signed(change: Change) -> str:
    """The change in the metric's own direction (a loss that falls shows as negative)."""
    return f"{change.candidate - change.base:+.4f}"


def _interval(change: Change) -> str:
    """The 95% interval of the change, in the metric's own direction."""
    sign = 1 if higher_is_better(change.metric) else -1
    ends = sorted((sign * change.low, sign * change.high))
    return f"{ends[0]:+.4f} to {ends[1]:+.4f}"


def _staleness(report: Report) -> str:
    if not report.stale_stages:
        return ""
    stages = ", ".join(f"`{stage}`" for stage in report.stale_stages)
    return (
        f"> [!WARNING]\n> Out of date: the inputs of {stages} changed after these results were "
        "produced. Run `dvc repro` before deciding on them."
    )


def _metrics(report: Report) -> str:
    assert report.head is not None
    comparable = report.base is not None and not_comparable(report) is None
    base_label = f"base `{report.base.revision}`" if report.base else "base"
    table = metrics_table(
        report.base.metrics if report.base and comparable else {},
        report.head.metrics,
        report.gate_metric,
        labels=(base_label, "this change"),
        judged=False,
    )
    sections = [same_rows_table(report, base_label)] if report.same_rows is not None else []
    heading = (
        "Metrics each revision recorded (on its own test split)"
        if report.base is not None and comparable
        else "Metrics (test split)"
    )
    sections.append(f"### {heading}\n\n{table}")
    if report.head.per_class is not None:
        base_classes = report.base.per_class if report.base and comparable else None
        sections.append(per_class_table(base_classes, report.head.per_class))
    return "\n\n".join(sections)


def same_rows_table(report: Report, base_label: str) -> str:
    """Both models on this change's test rows: each metric's change, its 95% interval from the
    paired bootstrap, and what the interval says."""
    paired = report.same_rows
    assert paired is not None
    lines = [
        f"### Metrics: both models on the same {paired.rows:,} test rows",
        "",
        f"The base's model scored this change's test split; each interval comes from "
        f"{paired.resamples:,} paired bootstrap resamples of those rows.",
        "",
        f"| metric | {base_label} | this change | change | 95% interval | verdict |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    names = sorted(paired.changes, key=lambda name: (name != report.gate_metric, name))
    for name in names:
        change = paired.changes[name]
        label = f"**{name}** (gate)" if name == report.gate_metric else name
        said = verdict(change.low, change.high, report.tolerance_of(name))
        mark = {"better": " ✅", "worse": " ⚠️"}.get(said, "")
        lines.append(
            f"| {label} | {change.base:.4f} | {change.candidate:.4f} | {_signed(change)} | "
            f"{_interval(change)} | {said}{mark} |"
        )
    lines += _on_new_rows(report, base_label)
    return "\n".join(lines)


def _on_new_rows(report: Report, base_label: str) -> list[str]:
    """The gate metric on the test rows the base's data did not have."""
    if report.new_rows is None:
        return []
    change = report.new_rows.changes[report.gate_metric]
    said = verdict(change.low, change.high, report.tolerance)
    return [
        "",
        f"**On the {report.new_rows.rows:,} test rows that are new** (not in the base's data, "
        f"so neither model trained on them): {report.gate_metric} {change.base:.4f} with "
        f"{base_label} → {change.candidate:.4f} with this change ({_signed(change)}, 95% "
        f"interval {_interval(change)}): {said}.",
    ]


def facts(report: Report) -> dict[str, Any]:
    """What the Markdown shows, as data (reports/pr/report.json): tools and tests read facts."""
    paired = report.same_rows
    same_rows = _paired_facts(report, paired)
    return {
        "commit": report.commit,
        "tested": report.tested,
        "base": report.base.revision if report.base else None,
        "training": report.training,
        "gate_metric": report.gate_metric,
        "tolerance": report.tolerance,
        "not_comparable": not_comparable(report),
        "same_rows": same_rows,
        "same_rows_note": report.same_rows_note if paired is None else None,
        "verdict": same_rows["metrics"][report.gate_metric]["verdict"] if same_rows else None,
        "recorded": {  # each revision's metrics on its own test split, and its rows
            "base": _recorded(report.base),
            "head": _recorded(report.head),
        },
        "model": {
            "base": report.base.fit if report.base else None,
            "head": report.head.fit if report.head else None,
        },
        "data_changes": [asdict(change) for change in report.data_changes],
        "new_rows": _paired_facts(report, report.new_rows),
        "validation": _validated(report.validation),
        "data_drift": asdict(report.data_drift) if report.data_drift else None,
        "data_drift_note": report.data_drift_note,
        "segments": _segment_facts(report),
    }


def _segment_facts(report: Report) -> list[dict[str, Any]]:
    before = {segment.column: segment for segment in report.base_segments or []}
    facts_ = []
    for segment in report.segments:
        base = before.get(segment.column)
        base_groups = {group.name: group for group in base.groups} if base else {}
        facts_.append(
            {
                "column": segment.column,
                "disparity": {
                    figure: {
                        "base": base.disparity.get(figure) if base else None,
                        "candidate": gap,
                        "widened": _widened(
                            report, base.disparity.get(figure) if base else None, gap
                        ),
                    }
                    for figure, gap in segment.disparity.items()
                },
                "groups": [
                    {
                        "name": group.name,
                        "rows": group.rows,
                        "gate": {
                            "base": _gate_of(base_groups.get(group.name)),
                            "candidate": group.gate,
                        },
                        "figures": {
                            figure: {
                                "base": _figure_of(base_groups.get(group.name), figure),
                                "candidate": value,
                            }
                            for figure, value in group.figures.items()
                        },
                    }
                    for group in segment.groups
                ],
            }
        )
    return facts_


def _gate_of(group: Group | None) -> float | None:
    return group.gate if group else None


def _figure_of(group: Group | None, figure: str) -> float | None:
    return group.figures.get(figure) if group else None


def _widened(report: Report, before: float | None, after: float | None) -> bool:
    """A gap that grew by more than the promotion gate allows (promote.disparity_tolerance)."""
    tolerance = report.disparity_tolerance
    if tolerance is None or before is None or after is None:
        return False
    return after - before > tolerance


def _segments(report: Report) -> str:
    """The gate metric by group and each segment's disparity, base → this change on the same
    rows when the base's model scored them."""
    if not report.segments:
        return ""
    before = {segment.column: segment for segment in report.base_segments or []}
    paired = report.base_segments is not None
    task = report.head.evaluated["task"] if report.head and report.head.evaluated else None
    names = FIGURES.get(task or "", {})
    lines = [
        "### Segments" + (" (both models on the same test rows)" if paired else " (this change)"),
        "",
        f"The gate metric ({report.gate_metric}) of each group"
        + (", base → this change" if paired else "")
        + ", and each segment's disparity: the largest gap between groups of at least "
        f"{MIN_GROUP_ROWS} rows.",
    ]
    for segment in report.segments:
        base = before.get(segment.column)
        gaps = []
        for figure, gap in segment.disparity.items():
            previous = base.disparity.get(figure) if base else None
            shown = _gap(previous, gap) if paired else _number(gap)
            mark = ""
            if _widened(report, previous, gap):
                allowed = report.disparity_tolerance
                mark = f" ⚠️ wider by more than promote.disparity_tolerance {allowed}"
            gaps.append(f"{names.get(figure, figure)} gap {shown}{mark}")
        base_groups = {group.name: group for group in base.groups} if base else {}
        headers = [report.gate_metric, *(names.get(figure, figure) for figure in segment.disparity)]
        lines += [
            "",
            f"**{_label(segment.column)}**: " + "; ".join(gaps) + ".",
            "",
            f"| {_label(segment.column)} | rows | " + " | ".join(headers) + " |",
            "| --- | ---: |" + " ---: |" * len(headers),
        ]
        for group in segment.groups:
            was = base_groups.get(group.name)
            values = [(was.gate if was else None, group.gate)]
            values += [
                (was.figures.get(figure) if was else None, group.figures.get(figure))
                for figure in segment.disparity
            ]
            cells = [
                f"{_number(before)} → {_number(after)}" if paired else _number(after)
                for before, after in values
            ]
            lines.append(f"| {_label(group.name)} | {group.rows:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _gap(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return f"{_number(before)} → {_number(after)}"
    return f"{before:.4f} → {after:.4f} ({after - before:+.4f})"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _paired_facts(report: Report, paired: Paired | None) -> dict[str, Any] | None:
    if paired is None:
        return None
    return {
        "rows": paired.rows,
        "resamples": paired.resamples,
        "metrics": {
            name: {
                "base": change.base,
                "candidate": change.candidate,
                "change": change.candidate - change.base,
                "gain_interval": [change.low, change.high],
                "verdict": verdict(change.low, change.high, report.tolerance_of(name)),
            }
            for name, change in paired.changes.items()
        },
    }


def _validated(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """Validation's verdict and its counts, as the report shows them."""
    if summary is None:
        return None
    return {"passed": summary["passed"], "rows": summary["rows"], "repeats": summary.get("repeats")}


def _recorded(results: Results | None) -> dict[str, Any] | None:
    if results is None:
        return None
    rows = results.evaluated.get("rows") if results.evaluated else None
    return {"metrics": results.metrics, "rows": rows}


def per_class_table(before: pd.DataFrame | None, after: pd.DataFrame) -> str:
    """Each label's precision and recall (base → this change), and its rows in the test split."""
    previous = (
        {str(row["label"]): row for row in before.to_dict("records")} if before is not None else {}
    )
    lines = [
        "### Per label (test split)",
        "",
        "| label | precision | recall | test rows |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in after.to_dict("records"):
        label = str(row["label"])
        cells = []
        for name in ("precision", "recall"):
            value = float(row[name])
            if label in previous:
                cells.append(f"{float(previous[label][name]):.4f} → {value:.4f}")
            else:
                cells.append(f"{value:.4f}")
        lines.append(f"| {_label(label)} | {cells[0]} | {cells[1]} | {int(row['support']):,} |")
    return "\n".join(lines)


def _label(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def metrics_table(
    before: dict[str, float],
    after: dict[str, float],
    gate_metric: str,
    labels: tuple[str, str],
    judged: bool = True,
) -> str:
    """Every metric of `after` against `before`, the gate metric first; gains marked if
    `judged` (numbers measured on different rows are shown, not judged)."""
    lines = [f"| metric | {labels[0]} | {labels[1]} | change |", "| --- | ---: | ---: | ---: |"]
    for name in sorted(after, key=lambda name: (name != gate_metric, name)):
        value, previous = after[name], before.get(name)
        label = f"**{name}** (gate)" if name == gate_metric else name
        if previous is None:
            lines.append(f"| {label} | — | {value:.4f} | new |")
            continue
        arrow = "" if value == previous else ("▲" if value > previous else "▼")
        mark = ""
        if judged and value != previous:
            mark = " ✅" if gain(name, previous, value) > 0 else " ⚠️"
        lines.append(
            f"| {label} | {previous:.4f} | {value:.4f} | {arrow} {value - previous:+.4f}{mark} |"
        )
    return "\n".join(lines)


def _model(report: Report) -> str:
    """Fit time, size on disk, and the gate metric on training rows against test rows (the
    gap: how much the model learned only what it saw), for both revisions."""
    assert report.head is not None
    gate = report.gate_metric
    columns = [("this change", report.head)]
    if report.base is not None:
        columns.insert(0, (f"base `{report.base.revision}`", report.base))

    def gap(results: Results) -> str:
        trained = (results.fit or {}).get("train_metrics", {}).get(gate)
        tested = results.metrics.get(gate)
        if trained is None or tested is None:
            return "—"
        return f"{trained:.4f} on training rows, {tested:.4f} on test: gap {trained - tested:+.4f}"

    def seconds(results: Results) -> str:
        value = (results.fit or {}).get("fit_seconds")
        return "—" if value is None else f"{value:,.1f} s"

    def size(results: Results) -> str:
        value = (results.fit or {}).get("model_bytes")
        return "—" if value is None else f"{value / 1e6:,.2f} MB"

    rows = {"fit time": seconds, "size on disk": size, f"{gate}, train against test": gap}
    lines = [
        "### The model",
        "",
        "| | " + " | ".join(label for label, _ in columns) + " |",
        "| --- " * (len(columns) + 1) + "|",
    ]
    for name, show in rows.items():
        lines.append(f"| {name} | " + " | ".join(show(results) for _, results in columns) + " |")
    return "\n".join(lines)


def _params(report: Report) -> str:
    assert report.head is not None
    if report.base is None:
        return ""
    table = params_table(report.base.params, report.head.params, labels=("base", "this change"))
    if not table:
        return "### Parameters\n\nNo parameter changed."
    return f"### Parameters that changed\n\n{table}"


def params_table(before: dict[str, Any], after: dict[str, Any], labels: tuple[str, str]) -> str:
    """The parameters whose values differ; empty when none does."""
    changed = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    if not changed:
        return ""
    lines = [f"| parameter | {labels[0]} | {labels[1]} |", "| --- | --- | --- |"]
    for name in changed:
        lines.append(f"| `{name}` | {_value(before.get(name))} | {_value(after.get(name))} |")
    return "\n".join(lines)


def _value(value: object) -> str:
    return "—" if value is None else f"`{value}`"


PLOT_TITLES = {name: title for name, (_, _, title, _) in CURVES.items()} | {
    "confusion": "Confusion matrices",
    "predicted_vs_actual": "Predicted against actual",
    "residuals": "Residuals",
}


def _plots(report: Report, images: dict[str, str], link: str | None, artifact: str | None) -> str:
    """The charts drawn from the comment's own text (Mermaid), the confusion counts as a table,
    then the PNGs: shown inline where they sit next to the Markdown, otherwise named with the
    artifact that holds them."""
    head = report.head
    if head is None:
        return ""
    base = report.base if not_comparable(report) is None else None
    sides = [(f"base {base.revision}", base)] if base is not None else []
    sides.append((charts.THIS_CHANGE, head))
    lines = ["### Plots", ""]
    lines.append(
        (f"Grey: the base `{base.revision}`; blue: this change" if base else "Blue: this change")
        + "; green, where drawn: chance or a perfect model."
    )
    for drawn in _charts(sides):
        lines += ["", drawn]
    if head.confusion is not None:
        labels = list(head.evaluated["labels"]) if head.evaluated else _labels_of(head.confusion)
        before = None
        if base is not None and base.confusion is not None:
            before = confusion_matrix(base.confusion, labels)
        lines += ["", *_confusion_table(labels, confusion_matrix(head.confusion, labels), before)]
    if images and link:
        names = ", ".join(f"`{path}`" for path in images.values())
        held = f"the artifact `{artifact}` of" if artifact else "the artifacts of"
        lines += ["", f"The plots as images ({names}) are in {held} [this run]({link})."]
    elif images:
        lines += ["", "<details><summary>The plots as images</summary>", ""]
        lines += [f"![{PLOT_TITLES.get(name, name)}]({path})" for name, path in images.items()]
        lines += ["", "</details>"]
    return "\n".join(lines)


def _charts(sides: list[tuple[str, Results]]) -> list[str]:
    """The task's charts, each with every side that has its numbers."""
    head = sides[-1][1]
    drawn = []
    for name in CURVES:
        if name in head.curves and head.curves[name]["label"].nunique() == 1:
            drawn.append(
                charts.curve_chart(
                    name, [(side, r.curves[name]) for side, r in sides if name in r.curves]
                )
            )
    if head.per_class is not None and head.per_class["label"].nunique() > 2:
        drawn.append(
            charts.per_label_chart(
                "f1", [(side, r.per_class) for side, r in sides if r.per_class is not None]
            )
        )
    if head.predictions is not None:
        shown = [(side, r.predictions) for side, r in sides if r.predictions is not None]
        drawn += [charts.calibration_chart(shown), charts.residuals_chart(shown)]
    return drawn


def _confusion_table(labels: list[str], after: np.ndarray, before: np.ndarray | None) -> list[str]:
    """Rows: the true label; columns: the predicted one; each cell base → this change."""
    lines = [
        "**Confusion counts** (rows: true label; columns: predicted"
        + (", base → this change)" if before is not None else ")"),
        "",
        "| true \\ predicted | " + " | ".join(_label(str(label)) for label in labels) + " |",
        "| --- |" + " ---: |" * len(labels),
    ]
    for row, label in enumerate(labels):
        cells = [
            f"{before[row, column]:,} → {count:,}" if before is not None else f"{count:,}"
            for column, count in enumerate(after[row])
        ]
        lines.append(f"| {_label(str(label))} | " + " | ".join(cells) + " |")
    return lines


def _validation(report: Report) -> str:
    summary = report.validation
    if summary is None:
        return ""
    result = ValidationResult.from_json(summary)
    if summary["passed"]:
        repeats = f" {describe_repeats(result.repeats, result.rows)}" if result.repeats else ""
        return f"### Data validation\n\n✅ {summary['rows']:,} rows meet the contract.{repeats}"
    lines = [
        "### Data validation failed ❌",
        "",
        f"{result.rows:,} rows of `{summary['source']}` checked; rows are 0-based data rows.",
        "",
        *failure_table(result.failures),
    ]
    return "\n".join(lines)


def _data(report: Report) -> str:
    if not report.data_changes:
        return "### Data\n\nNo DVC-tracked data changed."
    lines = [
        "### Data that changed",
        "",
        "Rows compared by content: an added or removed row is one no other version holds; a "
        "changed row holds other values at the same line.",
        "",
        "| file | change | rows before | rows after | added | removed | changed |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    columns = []
    for change in report.data_changes:
        counts = [change.rows_before, change.rows_after, change.rows_added, change.rows_removed]
        cells = " | ".join(_rows(count) for count in [*counts, change.rows_changed])
        lines.append(f"| `{change.path}` | {change.change} | {cells} |")
        for verb, names in (("adds", change.columns_added), ("removes", change.columns_removed)):
            if names:
                listed = ", ".join(f"`{name}`" for name in names)
                columns.append(f"- `{change.path}` {verb} the columns {listed}.")
    return "\n".join(lines + (["", *columns] if columns else []) + _data_drift(report))


DRIFT_ROWS = 5  # the most drifted columns the report lists


def _data_drift(report: Report) -> list[str]:
    """Evidently's comparison of this revision's rows with the base's, as a short table."""
    result = report.data_drift
    if result is None:
        note = report.data_drift_note
        return ["", f"Not compared with the base's data for drift: {note}."] if note else []
    lines = [
        "",
        f"**Drift of this data against the base's** (Evidently, the drift check's methods and "
        f"thresholds): {result.drifted_columns} of {len(result.columns)} columns drifted "
        f"({result.share:.0%}; the data drifts at {result.drift_share:.0%}), "
        f"{result.current_rows:,} rows against {result.reference_rows:,}. The most moved:",
        "",
        "| column | method | score | threshold | verdict |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for column in sorted(result.columns, key=lambda column: -strength(column))[:DRIFT_ROWS]:
        mark = "drifted ⚠️" if column.drifted else "ok"
        lines.append(
            f"| {column.column} | {column.method} | {column.score:.4f} | "
            f"{column.threshold:.4f} | {mark} |"
        )
    return lines


def _rows(rows: int | None) -> str:
    return "—" if rows is None else f"{rows:,}"


def _provenance(report: Report) -> str:
    lines = ["### Provenance", "", f"- Commit: `{report.commit}`"]
    if report.tested and report.tested != report.commit:
        lines.append(
            f"- Tested as `{report.tested}`: this commit merged into the base, as merging the "
            "pull request would make it"
        )
    if report.run is not None and not validation_failed(report):
        where = (
            f"[{report.run.run_id}]({report.run.url})"
            if report.run.url
            else f"`{report.run.run_id}`"
        )
        lines.append(f"- MLflow run: {where} (experiment {report.run.experiment_id})")
    return "\n".join(lines)


def plot_comparisons(report: Report, out_dir: Path) -> dict[str, Path]:
    """Each plot of the task with both revisions on it (base dashed or faint, this change
    solid); the confusion matrices side by side. A base that measured something else (another
    target, task or labels) is left out."""
    head = report.head
    if head is None:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    base = report.base if not_comparable(report) is None else None
    base_name = f"base {base.revision}" if base else ""
    paths: dict[str, Path] = {}
    for name in CURVES:
        if name in head.curves:
            sides = (
                [(base_name, base.curves[name], base.per_class)]
                if base and name in base.curves
                else []
            )
            sides.append(("this change", head.curves[name], head.per_class))
            paths[name] = out_dir / f"{name}.png"
            plot_curves(name, sides, paths[name])
    if head.confusion is not None:
        labels = list(head.evaluated["labels"]) if head.evaluated else _labels_of(head.confusion)
        pairs = [("this change", head.confusion)]
        if base is not None and base.confusion is not None:
            pairs.insert(0, (base_name, base.confusion))
        paths["confusion"] = out_dir / "confusion.png"
        plot_confusions(pairs, labels, paths["confusion"])
    if head.predictions is not None:
        shown = [("this change", head.predictions)]
        if base is not None and base.predictions is not None:
            shown.insert(0, (base_name, base.predictions))
        paths["predicted_vs_actual"] = out_dir / "predicted_vs_actual.png"
        plot_predicted_against_actual(shown, paths["predicted_vs_actual"])
        paths["residuals"] = out_dir / "residuals.png"
        plot_residuals(shown, paths["residuals"])
    return paths


def _labels_of(counts: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys([*counts["actual"], *counts["predicted"]]))
