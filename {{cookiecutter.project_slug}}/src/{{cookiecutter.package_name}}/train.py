"""Train: fit a scikit-learn pipeline on validated data and log it to MLflow with its provenance."""

import shutil
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.schema import (
    POSITIVE_LABEL,
    TARGET,
    CensusIncome,
    categorical_features,
    feature_columns,
    nullable_columns,
)
from {{ cookiecutter.package_name }}.settings import MlflowParams, TrainParams

MODEL_DIR = "model"  # MLflow model format: MLmodel, signature, input example, the pipeline
RUN_FILE = "run.json"
# The pipeline is stored with skops, which, unlike pickle, runs no arbitrary code on load; it
# loads only types it is told to trust. These are the ones this pipeline needs beyond skops'
# defaults: extend the list when you add a step (skops.io.get_untrusted_types names them).
TRUSTED_TYPES = [
    "functools.partial",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
]


@dataclass(frozen=True)
class TrainedModel:
    pipeline: Pipeline
    fit_seconds: float
    train_roc_auc: float


def build_pipeline(params: TrainParams) -> Pipeline:
    """Categories become ordinal codes that the booster treats as categories, not numbers.

    Unknown and missing categories both map to NaN, which the booster handles natively,
    so the model still answers for a category it has never seen.
    """
    categorical = categorical_features()
    encode = ColumnTransformer(
        [
            (
                "categorical",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                ),
                categorical,
            )
        ],
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    model = HistGradientBoostingClassifier(
        categorical_features=categorical,
        random_state=params.seed,
        **params.model.model_dump(),
    )
    return Pipeline([("encode", encode), ("model", model)])


def fit(train: pd.DataFrame, params: TrainParams) -> TrainedModel:
    features, labels = train[feature_columns()], train[TARGET]
    pipeline = build_pipeline(params)
    started = time.perf_counter()
    pipeline.fit(features, labels)
    fit_seconds = time.perf_counter() - started
    positive = list(pipeline.classes_).index(POSITIVE_LABEL)
    scores = pipeline.predict_proba(features)[:, positive]
    return TrainedModel(
        pipeline=pipeline,
        fit_seconds=fit_seconds,
        train_roc_auc=float(roc_auc_score(labels == POSITIVE_LABEL, scores)),
    )


def save_and_log(
    trained: TrainedModel,
    train: pd.DataFrame,
    params: TrainParams,
    mlflow_params: MlflowParams,
    data_files: list[Path],
    out_dir: Path,
) -> tracking.RunRef:
    """Log the model, params and provenance to MLflow, then copy that same model out for DVC.

    `data_files` are the files the data came from: the raw file, then any batches.
    """
    features = train[feature_columns()]
    experiment_id = tracking.use_experiment(mlflow_params.experiment)
    tags = {
        **tracking.git_state(),
        "data_version": tracking.data_version(data_files),
        "data_path": ", ".join(path.as_posix() for path in data_files),
        "model_name": mlflow_params.model_name,
    }
    with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
        mlflow.log_params(
            {"seed": params.seed, "train_rows": len(train), **params.model.model_dump()}
        )
        mlflow.log_metrics(
            {"train_roc_auc": trained.train_roc_auc, "fit_seconds": trained.fit_seconds}
        )
        logged = mlflow.sklearn.log_model(
            trained.pipeline,
            name=MODEL_DIR,
            signature=model_signature(),
            input_example=features.dropna().head(5),
            pip_requirements=_pinned_requirements(),
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            skops_trusted_types=TRUSTED_TYPES,
        )
    model_path = out_dir / MODEL_DIR
    shutil.rmtree(model_path, ignore_errors=True)
    model_path.mkdir(parents=True)
    mlflow.artifacts.download_artifacts(artifact_uri=logged.model_uri, dst_path=str(model_path))
    ref = tracking.RunRef(
        run_id=run.info.run_id,
        experiment_id=experiment_id,
        tracking_uri=tracking.tracking_uri(),
        model_name=mlflow_params.model_name,
        git_commit=tags["git_commit"],
        data_version=tags["data_version"],
    )
    ref.write(out_dir / RUN_FILE)
    return ref


def model_signature() -> ModelSignature:
    """The model's inputs, straight from the data contract rather than inferred from a sample.

    A column the contract lets be null is optional in the signature; every other is required.
    """
    mlflow_type = {"str": "string", "int64": "long", "float64": "double", "bool": "boolean"}
    columns = CensusIncome.to_schema().columns
    nullable = set(nullable_columns())
    inputs = Schema(
        [
            ColSpec(mlflow_type[str(columns[name].dtype)], name, required=name not in nullable)
            for name in feature_columns()
        ]
    )
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("string")]))


def _pinned_requirements() -> list[str]:
    """The exact versions that trained the model (MLflow would otherwise import-scan for them)."""
    packages = ("scikit-learn", "pandas", "numpy", "skops", "mlflow")
    return [f"{name}=={version(name)}" for name in packages]
