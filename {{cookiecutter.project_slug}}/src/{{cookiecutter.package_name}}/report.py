"""Report: one Markdown page from which a reviewer decides a change, compared with its base.

Pure: results in, Markdown and comparison plots out. `revisions.py` reads the results of any
revision; the CLI wires the two together.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI runners

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.evaluate import LOWER_IS_BETTER
from {{ cookiecutter.package_name }}.schema import LABELS

CURVES = {
    "roc": ("fpr", "tpr", "ROC curve", "False positive rate", "True positive rate"),
    "precision_recall": ("recall", "precision", "Precision-recall curve", "Recall", "Precision"),
}


@dataclass(frozen=True)
class Results:
    """What one revision's pipeline produced."""

    revision: str  # a short commit, or "workspace"
    metrics: dict[str, float]
    params: dict[str, Any]  # flattened: "train.model.learning_rate"
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)  # name in CURVES -> points
    confusion: pd.DataFrame | None = None  # actual, predicted, count


@dataclass(frozen=True)
class DataChange:
    path: str
    change: str  # added, modified, deleted
    rows_before: int | None
    rows_after: int | None


@dataclass(frozen=True)
class Run:
    run_id: str
    experiment_id: str
    tracking_uri: str

    @property
    def url(self) -> str | None:
        if self.tracking_uri.startswith(("http://", "https://")):
            base = self.tracking_uri.rstrip("/")
            return f"{base}/#/experiments/{self.experiment_id}/runs/{self.run_id}"
        return None


@dataclass(frozen=True)
class Report:
    head: Results | None  # None when validation failed and nothing was trained
    base: Results | None  # None when the base has no results yet
    gate_metric: str
    commit: str
    validation: dict[str, Any] | None = None  # validate's validation.json
    data_changes: list[DataChange] = field(default_factory=list)
    trained: bool | None = None  # whether this run trained; None when unknown
    run: Run | None = None
    stale_stages: list[str] = field(default_factory=list)  # stages whose inputs changed since


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def render(report: Report, images: dict[str, str]) -> str:
    """The report as Markdown; `images` maps a plot name to the path or URL to show it from."""
    sections = [_headline(report), _staleness(report), _validation(report)]
    if report.head is not None and not _validation_failed(report):
        sections += [_metrics(report), _params(report), _plots(images)]
    sections += [_data(report), _provenance(report)]
    return "\n\n".join(section for section in sections if section) + "\n"


def _validation_failed(report: Report) -> bool:
    return report.validation is not None and not report.validation["passed"]


def _headline(report: Report) -> str:
    title = f"## Model report for `{report.commit[:12]}`"
    if _validation_failed(report):
        return f"{title}\n\n**The data broke the contract: nothing was trained.**"
    if report.head is None:
        return f"{title}\n\nNo results: the pipeline has not run on this revision."
    base = f"`{report.base.revision}`" if report.base else "no base results"
    if report.trained is False:
        return (
            f"{title}\n\nTraining did not run: nothing that feeds the model changed "
            f"(data, parameters, pipeline or package code). The results are unchanged from {base}."
        )
    gate = report.head.metrics.get(report.gate_metric)
    if report.base is None or gate is None:
        return f"{title}\n\nCompared with {base}."
    before = report.base.metrics.get(report.gate_metric)
    if before is None:
        return f"{title}\n\nThe base has no `{report.gate_metric}` to compare with."
    verdict = "better" if _improved(report.gate_metric, before, gate) else "worse"
    if gate == before:
        verdict = "unchanged"
    return (
        f"{title}\n\nGate metric **{report.gate_metric}**: {before:.4f} on {base} → "
        f"**{gate:.4f}** here ({verdict}, {gate - before:+.4f})."
    )


def _staleness(report: Report) -> str:
    if not report.stale_stages:
        return ""
    stages = ", ".join(f"`{stage}`" for stage in report.stale_stages)
    return (
        f"> [!WARNING]\n> Out of date: the inputs of {stages} changed after these results were "
        "produced. Run `dvc repro` before deciding on them."
    )


def _improved(metric: str, before: float, after: float) -> bool:
    return after < before if metric in LOWER_IS_BETTER else after > before


def _metrics(report: Report) -> str:
    assert report.head is not None
    base = report.base.metrics if report.base else {}
    base_label = f"base `{report.base.revision}`" if report.base else "base"
    lines = [
        "### Metrics (test split)",
        "",
        f"| metric | {base_label} | this change | change |",
        "| --- | ---: | ---: | ---: |",
    ]
    names = sorted(report.head.metrics, key=lambda name: (name != report.gate_metric, name))
    for name in names:
        after = report.head.metrics[name]
        before = base.get(name)
        label = f"**{name}** (gate)" if name == report.gate_metric else name
        if before is None:
            lines.append(f"| {label} | — | {after:.4f} | new |")
            continue
        arrow = "" if after == before else ("▲" if after > before else "▼")
        mark = "" if after == before else (" ✅" if _improved(name, before, after) else " ⚠️")
        lines.append(
            f"| {label} | {before:.4f} | {after:.4f} | {arrow} {after - before:+.4f}{mark} |"
        )
    return "\n".join(lines)


def _params(report: Report) -> str:
    assert report.head is not None
    if report.base is None:
        return ""
    before, after = report.base.params, report.head.params
    changed = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    if not changed:
        return "### Parameters\n\nNo parameter changed."
    lines = [
        "### Parameters that changed",
        "",
        "| parameter | base | this change |",
        "| --- | --- | --- |",
    ]
    for name in changed:
        lines.append(f"| `{name}` | {_value(before.get(name))} | {_value(after.get(name))} |")
    return "\n".join(lines)


def _value(value: object) -> str:
    return "—" if value is None else f"`{value}`"


def _plots(images: dict[str, str]) -> str:
    if not images:
        return ""
    titles = {
        "roc": "ROC curve",
        "precision_recall": "Precision-recall curve",
        "confusion": "Confusion matrices",
    }
    lines = ["### Plots (base dashed, this change solid)", ""]
    lines += [f"![{titles.get(name, name)}]({path})" for name, path in images.items()]
    return "\n".join(lines)


def _validation(report: Report) -> str:
    summary = report.validation
    if summary is None:
        return ""
    if summary["passed"]:
        return f"### Data validation\n\n✅ {summary['rows']:,} rows meet the contract."
    lines = [
        "### Data validation failed ❌",
        "",
        f"{summary['rows']:,} rows of `{summary['source']}` checked; rows are 0-based data rows.",
        "",
        "| column | check | failing rows | examples (row: value) |",
        "| --- | --- | ---: | --- |",
    ]
    for failure in summary["failures"]:
        examples = ", ".join(
            example["value"] if example["row"] is None else f"{example['row']}: {example['value']}"
            for example in failure["examples"]
        )
        rows = f"{failure['failing_rows']:,}" if failure["failing_rows"] else "—"
        lines.append(f"| {failure['column']} | {failure['check']} | {rows} | {examples} |")
    return "\n".join(lines)


def _data(report: Report) -> str:
    if not report.data_changes:
        return "### Data\n\nNo DVC-tracked data changed."
    lines = [
        "### Data that changed",
        "",
        "| file | change | rows before | rows after |",
        "| --- | --- | ---: | ---: |",
    ]
    for change in report.data_changes:
        before, after = _rows(change.rows_before), _rows(change.rows_after)
        lines.append(f"| `{change.path}` | {change.change} | {before} | {after} |")
    return "\n".join(lines)


def _rows(rows: int | None) -> str:
    return "—" if rows is None else f"{rows:,}"


def _provenance(report: Report) -> str:
    lines = ["### Provenance", "", f"- Commit: `{report.commit}`"]
    if report.run is not None and not _validation_failed(report):
        where = (
            f"[{report.run.run_id}]({report.run.url})"
            if report.run.url
            else f"`{report.run.run_id}`"
        )
        lines.append(f"- MLflow run: {where} (experiment {report.run.experiment_id})")
    return "\n".join(lines)


def plot_comparisons(report: Report, out_dir: Path) -> dict[str, Path]:
    """Each curve with both revisions on one image; the confusion matrices side by side."""
    if report.head is None:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name in CURVES:
        if name in report.head.curves:
            paths[name] = out_dir / f"{name}.png"
            _plot_curves(name, report.base, report.head, paths[name])
    if report.head.confusion is not None:
        sides = [("this change", report.head.confusion)]
        if report.base is not None and report.base.confusion is not None:
            sides.insert(0, (f"base {report.base.revision}", report.base.confusion))
        paths["confusion"] = out_dir / "confusion.png"
        _plot_confusions(sides, paths["confusion"])
    return paths


def _plot_curves(name: str, base: Results | None, head: Results, path: Path) -> None:
    x, y, title, x_label, y_label = CURVES[name]
    figure, axes = plt.subplots(figsize=(5, 4.2), layout="constrained")
    if base is not None and name in base.curves:
        points = base.curves[name]
        axes.plot(points[x], points[y], linestyle="--", label=f"base {base.revision}")
    points = head.curves[name]
    axes.plot(points[x], points[y], linewidth=2, label="this change")
    axes.set(title=title, xlabel=x_label, ylabel=y_label, xlim=(0, 1), ylim=(0, 1.02))
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right" if name == "roc" else "lower left")
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_confusions(sides: list[tuple[str, pd.DataFrame]], path: Path) -> None:
    labels = list(LABELS)
    figure, axes_row = plt.subplots(
        1, len(sides), figsize=(4.6 * len(sides), 4), layout="constrained", squeeze=False
    )
    for axes, (title, counts) in zip(axes_row[0], sides, strict=True):
        matrix = (
            counts.pivot(index="actual", columns="predicted", values="count")
            .reindex(index=labels, columns=labels)
            .fillna(0)
            .to_numpy(dtype=int)
        )
        axes.imshow(matrix, cmap="Blues")
        for (row, column), count in np.ndenumerate(matrix):
            color = "white" if count > matrix.max() / 2 else "black"  # legible on dark cells
            axes.text(column, row, f"{count:,}", ha="center", va="center", color=color)
        axes.set(title=title, xlabel="Predicted", ylabel="Actual")
        axes.set_xticks(range(len(labels)), labels)
        axes.set_yticks(range(len(labels)), labels)
    figure.savefig(path, dpi=110)
    plt.close(figure)
