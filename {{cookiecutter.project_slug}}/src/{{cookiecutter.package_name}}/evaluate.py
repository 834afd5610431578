"""Evaluate: score the model on the held-out split; write metrics, curves and plots.

Curves are written as small CSVs on fixed grids (so `dvc plots diff` compares two revisions
point by point) and as PNGs (for people and the PR report).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI runners

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.schema import (
    LABELS,
    NEGATIVE_LABEL,
    POSITIVE_LABEL,
    TARGET,
    feature_columns,
)
from {{ cookiecutter.package_name }}.settings import EvaluateParams

GRID = np.linspace(0.0, 1.0, 101)
LOWER_IS_BETTER = frozenset({"log_loss"})  # every other metric here: higher is better
CURVES = {
    "roc": ("fpr", "tpr", "ROC curve"),
    "precision_recall": ("recall", "precision", "Precision-recall curve"),
}
LABEL = {
    "fpr": "False positive rate",
    "tpr": "True positive rate",
    "recall": "Recall",
    "precision": "Precision",
}
PLOT_FILES = {
    "confusion": "confusion.csv",
    "roc": "roc.csv",
    "precision_recall": "precision_recall.csv",
    "confusion_matrix_png": "confusion_matrix.png",
    "roc_png": "roc.png",
    "precision_recall_png": "precision_recall.png",
}


@dataclass(frozen=True)
class Scored:
    is_positive: np.ndarray  # true label == POSITIVE_LABEL
    score: np.ndarray  # predicted probability of POSITIVE_LABEL
    predicted: np.ndarray  # label at the decision threshold


def score(model: Pipeline, test: pd.DataFrame, params: EvaluateParams) -> Scored:
    positive = list(model.classes_).index(POSITIVE_LABEL)
    probability = model.predict_proba(test[feature_columns()])[:, positive]
    return Scored(
        is_positive=(test[TARGET] == POSITIVE_LABEL).to_numpy(),
        score=probability,
        predicted=np.where(probability >= params.threshold, POSITIVE_LABEL, NEGATIVE_LABEL),
    )


def metrics(scored: Scored) -> dict[str, float]:
    """Threshold-free ranking metrics first (the gate metric is one of them), then decisions."""
    decided = scored.predicted == POSITIVE_LABEL
    return {
        "roc_auc": float(roc_auc_score(scored.is_positive, scored.score)),
        "average_precision": float(average_precision_score(scored.is_positive, scored.score)),
        "log_loss": float(log_loss(scored.is_positive, scored.score, labels=[False, True])),
        "accuracy": float(accuracy_score(scored.is_positive, decided)),
        "precision": float(precision_score(scored.is_positive, decided, zero_division=0)),
        "recall": float(recall_score(scored.is_positive, decided)),
        "f1": float(f1_score(scored.is_positive, decided)),
    }


def confusion_counts(scored: Scored) -> pd.DataFrame:
    """Rows per (actual, predicted) pair: small enough for git, enough to redraw the matrix."""
    actual = np.where(scored.is_positive, POSITIVE_LABEL, NEGATIVE_LABEL)
    pairs = pd.DataFrame({"actual": actual, "predicted": scored.predicted})
    counts = pairs.value_counts().reindex(
        pd.MultiIndex.from_product([LABELS, LABELS], names=["actual", "predicted"]), fill_value=0
    )
    return counts.rename("count").reset_index()


def roc_points(scored: Scored) -> pd.DataFrame:
    """The best true positive rate reachable without exceeding each false positive rate."""
    fpr, tpr, _ = roc_curve(scored.is_positive, scored.score)  # fpr ascends, from 0.0
    last_within = np.searchsorted(fpr, GRID, side="right") - 1
    return pd.DataFrame({"fpr": GRID, "tpr": np.maximum.accumulate(tpr)[last_within]}).round(4)


def precision_recall_points(scored: Scored) -> pd.DataFrame:
    """Interpolated precision: the best precision reachable at this recall or more."""
    precision, recall, _ = precision_recall_curve(scored.is_positive, scored.score)
    order = np.argsort(recall, kind="stable")
    recall, precision = recall[order], precision[order]
    best_from_here = np.maximum.accumulate(precision[::-1])[::-1]
    first_reaching = np.searchsorted(recall, GRID, side="left")  # recall reaches 1.0 at the end
    return pd.DataFrame({"recall": GRID, "precision": best_from_here[first_reaching]}).round(4)


def gain(metric: str, before: float, after: float) -> float:
    """How much better `after` is than `before` on `metric`; negative when it is worse."""
    return before - after if metric in LOWER_IS_BETTER else after - before


def write_reports(
    scored: Scored, values: dict[str, float], metrics_path: Path, plots_dir: Path
) -> dict[str, Path]:
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    plots_dir.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    paths = {name: plots_dir / filename for name, filename in PLOT_FILES.items()}
    curves = {"roc": roc_points(scored), "precision_recall": precision_recall_points(scored)}
    counts = confusion_counts(scored)
    counts.to_csv(paths["confusion"], index=False)
    for name, points in curves.items():
        points.to_csv(paths[name], index=False)
        plot_curves(name, {"this model": points}, paths[f"{name}_png"])
    title = f"Confusion matrix ({len(scored.score):,} test rows)"
    plot_confusions([(title, counts)], paths["confusion_matrix_png"])
    return paths


def log_to_run(run_file: Path, values: dict[str, float], plot_paths: dict[str, Path]) -> bool:
    """Add test metrics and plots to the training run; False if that run is not in this store.

    The train stage may have been restored from DVC's run cache on another machine, whose run
    lives in another tracking store: the metrics are still in the metrics file.
    """
    ref = tracking.RunRef.read(run_file)
    mlflow.set_tracking_uri(tracking.tracking_uri())
    try:
        mlflow.get_run(ref.run_id)
    except MlflowException:
        return False
    with mlflow.start_run(run_id=ref.run_id):
        mlflow.log_metrics({f"test_{name}": value for name, value in values.items()})
        for path in plot_paths.values():
            mlflow.log_artifact(str(path), artifact_path="plots")
    return True


def plot_curves(name: str, series: dict[str, pd.DataFrame], path: Path) -> None:
    """One curve of CURVES per series on one image: earlier series dashed, the last solid."""
    x, y, title = CURVES[name]
    figure, axes = plt.subplots(figsize=(5, 4.2), layout="constrained")
    for number, (label, points) in enumerate(series.items(), start=1):
        style = {"linewidth": 2} if number == len(series) else {"linestyle": "--"}
        axes.plot(points[x], points[y], label=label, **style)
    if name == "roc":
        axes.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1, label="chance")
    axes.set(title=title, xlabel=LABEL[x], ylabel=LABEL[y], xlim=(0, 1), ylim=(0, 1.02))
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right" if name == "roc" else "lower left")
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_confusions(sides: list[tuple[str, pd.DataFrame]], path: Path) -> None:
    """Confusion matrices side by side, one per (title, confusion_counts) pair."""
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
        axes.set(title=title, xlabel="Predicted label", ylabel="True label")
        axes.set_xticks(range(len(labels)), labels)
        axes.set_yticks(range(len(labels)), labels)
    figure.savefig(path, dpi=110)
    plt.close(figure)
