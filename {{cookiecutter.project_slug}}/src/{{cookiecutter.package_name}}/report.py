"""Report: one Markdown page from which a reviewer decides a change, compared with its base.

Pure: results in, Markdown and comparison plots out. `revisions.py` reads the results of any
revision; the CLI wires the two together.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from {{ cookiecutter.package_name }}.evaluate import CURVES, gain, plot_confusions, plot_curves
from {{ cookiecutter.package_name }}.tracking import RunRef
from {{ cookiecutter.package_name }}.validate import ValidationResult, failure_table

# What `dvc repro` did with the train stage in this run (the run-pipeline action says so).
Training = Literal["ran", "restored", "skipped", "failed"]
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
class Report:
    head: Results | None  # None when validation failed and nothing was trained
    base: Results | None  # None when the base has no results yet
    gate_metric: str
    commit: str
    validation: dict[str, Any] | None = None  # validate's validation.json
    data_changes: list[DataChange] = field(default_factory=list)
    training: Training | None = None  # None when unknown (a local preview)
    run: RunRef | None = None
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


def render(report: Report, images: dict[str, str], plots_link: str | None = None) -> str:
    """The report as Markdown; `images` maps a plot name to the path or URL to show it from.

    With `plots_link`, the plots are listed with a link to where they are attached instead of
    shown inline (where images cannot be uploaded next to the Markdown).
    """
    sections = [_headline(report), _staleness(report), _validation(report)]
    if report.head is not None and not _validation_failed(report):
        sections += [_metrics(report), _params(report), _plots(images, plots_link)]
    sections += [_data(report), _provenance(report)]
    return "\n\n".join(section for section in sections if section) + "\n"


def _validation_failed(report: Report) -> bool:
    return report.validation is not None and not report.validation["passed"]


def _headline(report: Report) -> str:
    title = f"## Model report for `{report.commit[:12]}`"
    if _validation_failed(report):
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
    gate = report.head.metrics.get(report.gate_metric)
    if report.base is None or gate is None:
        return f"Compared with {base}."
    before = report.base.metrics.get(report.gate_metric)
    if before is None:
        return f"The base has no `{report.gate_metric}` to compare with."
    verdict = "better" if gain(report.gate_metric, before, gate) > 0 else "worse"
    if gate == before:
        verdict = "unchanged"
    return (
        f"Gate metric **{report.gate_metric}**: {before:.4f} on {base} → "
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


def _metrics(report: Report) -> str:
    assert report.head is not None
    base_label = f"base `{report.base.revision}`" if report.base else "base"
    table = metrics_table(
        report.base.metrics if report.base else {},
        report.head.metrics,
        report.gate_metric,
        labels=(base_label, "this change"),
    )
    return f"### Metrics (test split)\n\n{table}"


def metrics_table(
    before: dict[str, float], after: dict[str, float], gate_metric: str, labels: tuple[str, str]
) -> str:
    """Every metric of `after` against `before`, the gate metric first, gains marked."""
    lines = [f"| metric | {labels[0]} | {labels[1]} | change |", "| --- | ---: | ---: | ---: |"]
    for name in sorted(after, key=lambda name: (name != gate_metric, name)):
        value, previous = after[name], before.get(name)
        label = f"**{name}** (gate)" if name == gate_metric else name
        if previous is None:
            lines.append(f"| {label} | — | {value:.4f} | new |")
            continue
        arrow = "" if value == previous else ("▲" if value > previous else "▼")
        mark = "" if value == previous else (" ✅" if gain(name, previous, value) > 0 else " ⚠️")
        lines.append(
            f"| {label} | {previous:.4f} | {value:.4f} | {arrow} {value - previous:+.4f}{mark} |"
        )
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


def _plots(images: dict[str, str], link: str | None) -> str:
    if not images:
        return ""
    titles = {name: title for name, (_, _, title) in CURVES.items()}
    titles["confusion"] = "Confusion matrices"
    if link:
        names = ", ".join(f"`{path}` ({titles.get(name, name)})" for name, path in images.items())
        return f"### Plots\n\nBase against this change: {names}, attached to [{link}]({link})."
    lines = ["### Plots (base dashed, this change solid)", ""]
    lines += [f"![{titles.get(name, name)}]({path})" for name, path in images.items()]
    return "\n".join(lines)


def _validation(report: Report) -> str:
    summary = report.validation
    if summary is None:
        return ""
    if summary["passed"]:
        return f"### Data validation\n\n✅ {summary['rows']:,} rows meet the contract."
    result = ValidationResult.from_json(summary)
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
    base = report.base
    paths: dict[str, Path] = {}
    for name in CURVES:
        if name in report.head.curves:
            series = (
                {f"base {base.revision}": base.curves[name]} if base and name in base.curves else {}
            )
            series["this change"] = report.head.curves[name]
            paths[name] = out_dir / f"{name}.png"
            plot_curves(name, series, paths[name])
    if report.head.confusion is not None:
        sides = [("this change", report.head.confusion)]
        if base is not None and base.confusion is not None:
            sides.insert(0, (f"base {base.revision}", base.confusion))
        paths["confusion"] = out_dir / "confusion.png"
        plot_confusions(sides, paths["confusion"])
    return paths
