"""The report's plots as Mermaid `xychart-beta` charts: GitHub draws them from the comment's
own text, so a reviewer sees the curves with no image uploaded anywhere.

Hand-written because no maintained Python library writes Mermaid's xychart; its grammar is
small (a title, two axes, line and bar series). The PNGs `plots.py` draws stay in the artifact.
Each chart draws the base first and this change second; the caption under it says which is
which, since not every Mermaid renderer draws a legend.
"""

import itertools

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.plots import AXIS_TITLES, CURVES

CURVE_POINTS = 21  # points per curve: every 0.05 of the fixed 0..1 grid evaluate writes
BINS = 20  # regression: bins of the residual histogram and of actual values
# Each series' colour, by its name: this change (or the live model) blue, a reference line
# (chance, a perfect model, the quality a model was released with) green, the base grey.
# Mermaid takes them as a palette in series order.
THIS_CHANGE = "this change"
CURRENT = (THIS_CHANGE, "live")
REFERENCES = ("chance", "perfect", "released")
BLUE, GREEN, GREY = "#1f77b4", "#2ca02c", "#9e9e9e"
Series = tuple[str, list[float]]  # a side's name and its values, in x order


def chart(
    title: str,
    x_axis: str,
    y_axis: str,
    series: list[Series],
    *,
    categories: list[str] | None = None,
    y_range: tuple[float, float] | None = None,
    kind: str = "line",
) -> str:
    """One fenced Mermaid block. Without `categories`, x runs 0..1 and each series' values are
    spread evenly over it (the fixed grids of the curves)."""
    x = (
        f'x-axis "{_text(x_axis)}" [{", ".join(f"{_quoted(name)}" for name in categories)}]'
        if categories is not None
        else f'x-axis "{_text(x_axis)}" 0 --> 1'
    )
    y = f'y-axis "{_text(y_axis)}"'
    if y_range is not None:
        y += f" {_number(y_range[0])} --> {_number(y_range[1])}"
    palette = ", ".join(_colour(name) for name, _ in series)
    header = (
        "---\nconfig:\n  xyChart:\n    showLegend: true\n  themeVariables:\n    xyChart:\n"
        f'      plotColorPalette: "{palette}"\n---'
    )
    lines = ["```mermaid", header, "xychart-beta", f'  title "{_text(title)}"', f"  {x}", f"  {y}"]
    for name, values in series:
        lines.append(f"  {kind} {_quoted(name)} [{', '.join(_number(v) for v in values)}]")
    return "\n".join([*lines, "```"])


def curve_chart(name: str, sides: list[tuple[str, pd.DataFrame]]) -> str:
    """ROC or precision-recall of one label (binary: the positive one), each side's curve."""
    x, y, title, _ = CURVES[name]
    series = []
    for side, points in sides:
        grid = points.sort_values(x)
        at = np.linspace(0.0, 1.0, CURVE_POINTS)
        series.append((side, list(np.interp(at, grid[x], grid[y]))))
    if name == "roc":
        series.append(("chance", list(np.linspace(0.0, 1.0, CURVE_POINTS))))
    return chart(title, AXIS_TITLES[x], AXIS_TITLES[y], series, y_range=(0, 1))


def per_label_chart(metric: str, sides: list[tuple[str, pd.DataFrame]]) -> str:
    """Multiclass: one metric of each label, one bar per side."""
    labels = [str(label) for label in sides[-1][1]["label"]]
    series = []
    for side, table in sides:
        values = table.assign(label=table["label"].astype(str)).set_index("label")[metric]
        series.append((side, [float(values.get(label, 0.0)) for label in labels]))
    return chart(
        f"{metric} by label", "label", metric, series, categories=labels, y_range=(0, 1), kind="bar"
    )


def residuals_chart(sides: list[tuple[str, pd.DataFrame]]) -> str:
    """Regression: how many rows miss by how much (predicted less actual), on shared bins."""
    residuals = [(side, frame["predicted"] - frame["actual"]) for side, frame in sides]
    edges = np.histogram_bin_edges(pd.concat([r for _, r in residuals]).dropna(), bins=BINS)
    middles = [_number((low + high) / 2) for low, high in itertools.pairwise(edges)]
    series = [(side, list(np.histogram(r.dropna(), bins=edges)[0])) for side, r in residuals]
    return chart("Residuals", "predicted less actual", "rows", series, categories=middles)


def calibration_chart(sides: list[tuple[str, pd.DataFrame]]) -> str:
    """Regression: the mean prediction for each band of actual values, against the perfect
    line (a scatter of thousands of points does not fit a chart drawn from text)."""
    actual = pd.concat([frame["actual"] for _, frame in sides]).dropna()
    edges = np.unique(np.quantile(actual, np.linspace(0, 1, BINS + 1)))
    middles = (edges[:-1] + edges[1:]) / 2
    series: list[Series] = []
    for side, frame in sides:
        band = pd.cut(frame["actual"], edges.tolist(), include_lowest=True, labels=False)
        means = frame["predicted"].groupby(band).mean().reindex(range(len(middles)))
        series.append((side, [float(v) if pd.notna(v) else 0.0 for v in means]))
    series.append(("perfect", list(middles)))
    return chart(
        "Mean prediction by actual value",
        "actual (band middle)",
        "predicted",
        series,
        categories=[_number(v) for v in middles],
    )


def _colour(series: str) -> str:
    if series in CURRENT:
        return BLUE
    return GREEN if series in REFERENCES else GREY


def _number(value: float) -> str:
    return f"{float(value):.4g}" if np.isfinite(value) else "0"


def _text(text: str) -> str:
    """Mermaid has no escape inside a quoted string: double quotes become single ones."""
    return str(text).replace('"', "'").replace("\n", " ")


def _quoted(text: str) -> str:
    return f'"{_text(text)}"'
