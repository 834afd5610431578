"""Evaluate: score the model on the held-out split; write its metrics, the numbers behind its
plots, and the plots, all as the contract's task calls for.

The numbers (`reports/plots/*.csv`: curves on fixed grids, confusion counts, per-label scores,
a sample of regression predictions) are small and committed, so that the report can redraw any
revision's plots next to another's; the images go to `reports/figures/` (DVC-cached).
"""

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from sklearn.metrics import precision_recall_curve, roc_curve
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }} import contract, fairness, plots, tasks, tracking
from {{ cookiecutter.package_name }}.settings import EvaluateParams
from {{ cookiecutter.package_name }}.tasks import Scored

GRID = np.linspace(0.0, 1.0, 101)
PREDICTIONS_SHOWN = 2000  # regression: rows of actual against predicted kept for the plots
# The files evaluate writes into the plots directory (numbers) and the figures directory.
TASK_FILE = "task.json"  # what was evaluated: task, target, labels, rows
SEGMENTS_FILE = "segments.json"  # the model across the contract's segments (fairness.py)
FIT_FILE = "fit.json"  # the model itself: fit time, size on disk, its metrics on training rows
CURVE_FILES = {"roc": "roc.csv", "precision_recall": "precision_recall.csv"}
CONFUSION_FILE = "confusion.csv"
PER_CLASS_FILE = "per_class.csv"
PREDICTIONS_FILE = "predictions.csv"


def score(model: Pipeline, test: pd.DataFrame, params: EvaluateParams) -> Scored:
    """The model's answers on `test`; classification probabilities in the contract's order."""
    features = test[contract.feature_columns()]
    actual = test[contract.target()].to_numpy()
    if not contract.is_classification():
        return Scored(actual=actual, predicted=np.asarray(model.predict(features), dtype=float))
    probabilities = tasks.ordered_probabilities(model, features)
    labels = np.array(contract.labels(), dtype=object)
    if contract.task() == "binary":
        positive = contract.labels().index(contract.positive_label())
        assert params.threshold is not None  # settings require it for a binary task
        decided = probabilities[:, positive] >= params.threshold
        predicted = np.where(decided, contract.positive_label(), contract.negative_label())
    else:
        predicted = labels[probabilities.argmax(axis=1)]
    return Scored(actual=actual, predicted=predicted, probabilities=probabilities)


def curve_points(is_positive: np.ndarray, score_: np.ndarray) -> dict[str, pd.DataFrame]:
    """ROC and precision-recall of one label, on fixed grids so that revisions line up.

    ROC: the best true positive rate reachable without exceeding each false positive rate.
    Precision-recall: the best precision reachable at each recall or more (interpolated).
    """
    fpr, tpr, _ = roc_curve(is_positive, score_)  # fpr ascends, from 0.0
    last_within = np.searchsorted(fpr, GRID, side="right") - 1
    roc = pd.DataFrame({"fpr": GRID, "tpr": np.maximum.accumulate(tpr)[last_within]})
    precision, recall, _ = precision_recall_curve(is_positive, score_)
    order = np.argsort(recall, kind="stable")
    recall, precision = recall[order], precision[order]
    best_from_here = np.maximum.accumulate(precision[::-1])[::-1]
    first_reaching = np.searchsorted(recall, GRID, side="left")  # recall reaches 1.0 at the end
    pr = pd.DataFrame({"recall": GRID, "precision": best_from_here[first_reaching]})
    return {"roc": roc.round(4), "precision_recall": pr.round(4)}


def curves(scored: Scored) -> dict[str, pd.DataFrame]:
    """Binary: the positive label's curves. Multiclass: each label's against the rest."""
    if contract.task() == "binary":
        shown = [contract.positive_label()]
    else:
        shown = [label for label in contract.labels() if (scored.actual == label).sum() > 0]
    frames: dict[str, list[pd.DataFrame]] = {name: [] for name in CURVE_FILES}
    for label in shown:
        for name, points in curve_points(
            scored.actual == label, scored.probability_of(label)
        ).items():
            frames[name].append(points.assign(label=label)[["label", *points.columns]])
    return {name: pd.concat(parts, ignore_index=True) for name, parts in frames.items()}


def confusion_counts(scored: Scored) -> pd.DataFrame:
    """Rows per (actual, predicted) pair, every pair listed: small enough for git."""
    labels = list(contract.labels())
    pairs = pd.DataFrame({"actual": scored.actual, "predicted": scored.predicted})
    counts = pairs.value_counts().reindex(
        pd.MultiIndex.from_product([labels, labels], names=["actual", "predicted"]), fill_value=0
    )
    return counts.rename("count").reset_index()


def per_class(scored: Scored) -> pd.DataFrame:
    """Each label's precision, recall, F1, support, ROC AUC and average precision."""
    from sklearn.metrics import average_precision_score

    table = tasks.per_class(scored)
    table["average_precision"] = [
        round(float(average_precision_score(is_label, scored.probability_of(label))), 4)
        if 0 < (is_label := scored.actual == label).sum() < len(is_label)
        else np.nan
        for label in table["label"]
    ]
    return table


def prediction_sample(scored: Scored) -> pd.DataFrame:
    frame = pd.DataFrame({"actual": scored.actual.astype(float), "predicted": scored.predicted})
    if len(frame) > PREDICTIONS_SHOWN:
        frame = frame.sample(n=PREDICTIONS_SHOWN, random_state=0).sort_index()
    return frame.round(4)


def write_reports(
    scored: Scored, values: dict[str, float], metrics_path: Path, plots_dir: Path, figures: Path
) -> dict[str, Path]:
    """Metrics, the numbers behind the plots and the plots; returns the figures' paths."""
    for directory in (metrics_path.parent, plots_dir, figures):
        directory.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    described: dict[str, Any] = {
        "task": contract.task(),
        "target": contract.target(),
        "labels": list(contract.labels()),
        "rows": len(scored.actual),
    }
    (plots_dir / TASK_FILE).write_text(json.dumps(described, indent=2) + "\n", encoding="utf-8")
    drawn: dict[str, Path] = {}
    if not contract.is_classification():
        sample = prediction_sample(scored)
        sample.to_csv(plots_dir / PREDICTIONS_FILE, index=False)
        drawn["predicted_vs_actual"] = figures / "predicted_vs_actual.png"
        plots.plot_predicted_against_actual([("test split", sample)], drawn["predicted_vs_actual"])
        drawn["residuals"] = figures / "residuals.png"
        plots.plot_residuals([("test split", sample)], drawn["residuals"])
        return drawn
    table = per_class(scored)
    table.to_csv(plots_dir / PER_CLASS_FILE, index=False)
    for name, points in curves(scored).items():
        points.to_csv(plots_dir / CURVE_FILES[name], index=False)
        drawn[name] = figures / f"{name}.png"
        plots.plot_curves(name, [("this model", points, table)], drawn[name])
    counts = confusion_counts(scored)
    counts.to_csv(plots_dir / CONFUSION_FILE, index=False)
    drawn["confusion_matrix"] = figures / "confusion_matrix.png"
    title = f"Confusion matrix ({len(scored.actual):,} test rows)"
    plots.plot_confusions([(title, counts)], list(contract.labels()), drawn["confusion_matrix"])
    return drawn


def write_fit(
    model_dir: Path, run: tracking.RunRef, train_values: dict[str, float], plots_dir: Path
) -> Path:
    """What a reviewer asks of the model beyond its test metrics: how long it took to fit, its
    size on disk, and its metrics on the rows it was trained on (against the test metrics,
    how much it learned only what it saw)."""
    model_bytes = sum(path.stat().st_size for path in model_dir.rglob("*") if path.is_file())
    facts = {
        "fit_seconds": run.fit_seconds,
        "model_bytes": model_bytes,
        "train_metrics": train_values,
    }
    path = plots_dir / FIT_FILE
    path.write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
    return path


def write_segments(found: list[fairness.Segment], plots_dir: Path) -> Path:
    """Each segment's groups and disparities on the test split (fairness.py), for the report."""
    path = plots_dir / SEGMENTS_FILE
    path.write_text(json.dumps(fairness.to_json(found), indent=2) + "\n", encoding="utf-8")
    return path


def log_to_run(
    run_file: Path,
    values: dict[str, float],
    train_values: dict[str, float],
    figure_paths: dict[str, Path],
) -> bool:
    """Add the test metrics, the same metrics on the training rows (how far the model fits only
    what it saw) and the plots to the training run; False if that run is not in this store.

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
        mlflow.log_metrics({f"train_{name}": value for name, value in train_values.items()})
        for path in figure_paths.values():
            mlflow.log_artifact(str(path), artifact_path="plots")
    return True
