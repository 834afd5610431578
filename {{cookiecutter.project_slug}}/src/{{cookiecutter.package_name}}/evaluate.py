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
    ConfusionMatrixDisplay,
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


def write_reports(scored: Scored, metrics_path: Path, plots_dir: Path) -> dict[str, Path]:
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    plots_dir.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics(scored), indent=2) + "\n", encoding="utf-8")
    paths = {name: plots_dir / filename for name, filename in PLOT_FILES.items()}
    roc, pr = roc_points(scored), precision_recall_points(scored)
    confusion_counts(scored).to_csv(paths["confusion"], index=False)
    roc.to_csv(paths["roc"], index=False)
    pr.to_csv(paths["precision_recall"], index=False)
    _plot_confusion_matrix(scored, paths["confusion_matrix_png"])
    _plot_curve(roc, paths["roc_png"], title="ROC curve", diagonal=True)
    _plot_curve(pr, paths["precision_recall_png"], title="Precision-recall curve")
    return paths


def log_to_run(run_file: Path, metrics_path: Path, plot_paths: dict[str, Path]) -> bool:
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
    values = json.loads(metrics_path.read_text(encoding="utf-8"))
    with mlflow.start_run(run_id=ref.run_id):
        mlflow.log_metrics({f"test_{name}": value for name, value in values.items()})
        for path in plot_paths.values():
            mlflow.log_artifact(str(path), artifact_path="plots")
    return True


def _plot_confusion_matrix(scored: Scored, path: Path) -> None:
    truth = np.where(scored.is_positive, POSITIVE_LABEL, NEGATIVE_LABEL)
    figure, axes = plt.subplots(figsize=(5, 4.2), layout="constrained")
    ConfusionMatrixDisplay.from_predictions(
        truth, scored.predicted, labels=list(LABELS), ax=axes, colorbar=False, cmap="Blues"
    )
    axes.set_title(f"Confusion matrix ({len(truth):,} test rows)")
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_curve(points: pd.DataFrame, path: Path, *, title: str, diagonal: bool = False) -> None:
    """Plot the second column against the first; the column names label the axes."""
    x, y = points.columns[:2]
    figure, axes = plt.subplots(figsize=(5, 4.2), layout="constrained")
    axes.plot(points[x], points[y], linewidth=2)
    if diagonal:
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
        axes.legend(loc="lower right")
    axes.set(title=title, xlabel=LABEL[x], ylabel=LABEL[y], xlim=(0, 1), ylim=(0, 1.02))
    axes.grid(alpha=0.3)
    figure.savefig(path, dpi=110)
    plt.close(figure)
