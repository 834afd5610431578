"""Every figure the pipeline and the report draw, for each task: files only, no display.

A figure takes one or more "sides" (a revision's name and its numbers), so that evaluation
draws one model and the report draws the base and the change on the same axes: earlier sides
dashed, the last solid, one colour per label.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI runners

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

CURVES = {  # name -> x, y, title, the per-label value shown in the legend
    "roc": ("fpr", "tpr", "ROC curve", "roc_auc"),
    "precision_recall": ("recall", "precision", "Precision-recall curve", "average_precision"),
}
AXIS_TITLES = {
    "fpr": "False positive rate",
    "tpr": "True positive rate",
    "recall": "Recall",
    "precision": "Precision",
}
LEGEND_NAMES = {"roc_auc": "AUC", "average_precision": "AP"}
Side = tuple[str, pd.DataFrame, pd.DataFrame | None]  # name, points, per-label values (or None)


def plot_curves(name: str, sides: list[Side], path: Path) -> None:
    """One curve per label and side; the legend gives each curve's area (AUC or AP)."""
    x, y, title, value = CURVES[name]
    figure, axes = plt.subplots(figsize=(5.6, 4.6), layout="constrained")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for number, (side, points, per_label) in enumerate(sides, start=1):
        style = {"linewidth": 2} if number == len(sides) else {"linestyle": "--"}
        areas = per_label.set_index("label")[value] if per_label is not None else None
        for index, (label, curve) in enumerate(points.groupby("label", sort=False)):
            legend = str(label) if len(sides) == 1 else f"{label}, {side}"
            if areas is not None and label in areas and not pd.isna(areas[label]):
                legend += f" ({LEGEND_NAMES[value]} {areas[label]:.3f})"
            color = colors[index % len(colors)]
            axes.plot(curve[x], curve[y], label=legend, color=color, **style)
    if name == "roc":
        axes.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1, label="chance")
    axes.set(title=title, xlabel=AXIS_TITLES[x], ylabel=AXIS_TITLES[y], xlim=(0, 1), ylim=(0, 1.02))
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right" if name == "roc" else "lower left", fontsize="small")
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_confusions(sides: list[tuple[str, pd.DataFrame]], labels: list[str], path: Path) -> None:
    """Labelled confusion matrices side by side, one per (title, counts) pair; counts has the
    columns actual, predicted and count."""
    size = max(4.0, 0.9 * len(labels) + 2)
    figure, axes_row = plt.subplots(
        1, len(sides), figsize=(size * len(sides), size), layout="constrained", squeeze=False
    )
    for axes, (title, counts) in zip(axes_row[0], sides, strict=True):
        matrix = confusion_matrix(counts, labels)
        axes.imshow(matrix, cmap="Blues")
        for (row, column), count in np.ndenumerate(matrix):
            color = "white" if count > matrix.max() / 2 else "black"  # legible on dark cells
            axes.text(column, row, f"{count:,}", ha="center", va="center", color=color)
        axes.set(title=title, xlabel="Predicted label", ylabel="True label")
        axes.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 3 else 0)
        axes.set_yticks(range(len(labels)), labels)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def confusion_matrix(counts: pd.DataFrame, labels: list[str]) -> np.ndarray:
    """Rows: true label; columns: predicted label; both in contract order."""
    return (
        counts.pivot(index="actual", columns="predicted", values="count")
        .reindex(index=labels, columns=labels)
        .fillna(0)
        .to_numpy(dtype=int)
    )


def plot_predicted_against_actual(sides: list[tuple[str, pd.DataFrame]], path: Path) -> None:
    """Regression: each row's prediction against its true value; the diagonal is perfect."""
    figure, axes = plt.subplots(figsize=(5.4, 5), layout="constrained")
    values = pd.concat([frame[["actual", "predicted"]] for _, frame in sides]).to_numpy()
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    axes.plot([low, high], [low, high], linestyle=":", color="grey", label="perfect")
    for number, (side, frame) in enumerate(sides, start=1):
        marker = "o" if number == len(sides) else "x"
        axes.scatter(frame["actual"], frame["predicted"], s=8, alpha=0.4, marker=marker, label=side)
    axes.set(title="Predicted against actual", xlabel="Actual", ylabel="Predicted")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize="small")
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_residuals(sides: list[tuple[str, pd.DataFrame]], path: Path) -> None:
    """Regression: how far predictions miss (predicted less actual), on shared bins."""
    residuals = {side: frame["predicted"] - frame["actual"] for side, frame in sides}
    bins = np.histogram_bin_edges(pd.concat(list(residuals.values())).dropna(), bins=40)
    figure, axes = plt.subplots(figsize=(5.6, 4.2), layout="constrained")
    for number, (side, values) in enumerate(residuals.items(), start=1):
        style = {"alpha": 0.6} if number == len(residuals) else {"histtype": "step"}
        axes.hist(values, bins=bins.tolist(), label=side, **style)
    axes.axvline(0, color="black", linewidth=1, linestyle=":")
    axes.set(title="Residuals", xlabel="Predicted less actual", ylabel="Rows")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.savefig(path, dpi=110)
    plt.close(figure)
