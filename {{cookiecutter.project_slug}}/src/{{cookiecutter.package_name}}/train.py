"""Train: fit a scikit-learn pipeline on validated data and log it to MLflow with its provenance.

The estimator follows the contract's task: a gradient-boosted classifier for binary and
multiclass targets, the same family's regressor for a numeric one, with the hyperparameters of
`train.model` in params.yaml either way.
"""

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
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from {{ cookiecutter.package_name }} import contract, tracking
from {{ cookiecutter.package_name }}.settings import MlflowParams, TrainParams

MODEL_DIR = "model"  # MLflow model format: MLmodel, signature, input example, the pipeline
RUN_FILE = "run.json"
# The pipeline is stored with skops, which, unlike pickle, runs no arbitrary code on load; it
# loads only types it is told to trust. These are the ones this pipeline needs beyond skops'
# defaults, for either estimator: extend the list when you add a step
# (skops.io.get_untrusted_types names them).
TRUSTED_TYPES = [
    "functools.partial",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
]
# Infrequent categories beyond this many share one code: the booster takes at most 255 bins.
MAX_CATEGORIES = 254


@dataclass(frozen=True)
class TrainedModel:
    pipeline: Pipeline
    fit_seconds: float


def build_pipeline(params: TrainParams) -> Pipeline:
    """Categories become ordinal codes that the booster treats as categories, not numbers.

    Unknown and missing categories both map to NaN, which the booster handles natively,
    so the model still answers for a category it has never seen. A column with more categories
    than the booster can bin keeps its most frequent ones and pools the rest.
    """
    categorical = contract.categorical_features()
    encode = ColumnTransformer(
        [
            (
                "categorical",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                    max_categories=MAX_CATEGORIES,
                ),
                categorical,
            )
        ],
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    estimator = (
        HistGradientBoostingClassifier
        if contract.is_classification()
        else HistGradientBoostingRegressor
    )
    model = estimator(
        categorical_features=categorical,
        random_state=params.seed,
        **params.model.model_dump(),
    )
    return Pipeline([("encode", encode), ("model", model)])


def fit(train: pd.DataFrame, params: TrainParams) -> TrainedModel:
    features, target = train[contract.feature_columns()], train[contract.target()]
    pipeline = build_pipeline(params)
    started = time.perf_counter()
    pipeline.fit(features, target)
    fit_seconds = time.perf_counter() - started
    return TrainedModel(pipeline=pipeline, fit_seconds=fit_seconds)


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
    features = train[contract.feature_columns()]
    experiment_id = tracking.use_experiment(mlflow_params.experiment)
    tags = {
        **tracking.git_state(),
        "data_version": tracking.data_version(data_files),
        "data_path": ", ".join(path.as_posix() for path in data_files),
        "model_name": mlflow_params.model_name,
        "task": contract.task(),
        "target": contract.target(),
    }
    with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
        mlflow.log_params(
            {"seed": params.seed, "train_rows": len(train), **params.model.model_dump()}
        )
        mlflow.log_metric("fit_seconds", trained.fit_seconds)
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
        fit_seconds=trained.fit_seconds,
    )
    ref.write(out_dir / RUN_FILE)
    return ref


def model_signature() -> ModelSignature:
    """The model's inputs, straight from the data contract rather than inferred from a sample.

    A column the contract lets be null is optional in the signature; every other is required.
    The output is a label for classification, a number for regression.
    """
    mlflow_type = {"str": "string", "int64": "long", "float64": "double", "bool": "boolean"}
    columns = contract.columns()
    nullable = set(contract.nullable_columns())
    inputs = Schema(
        [
            ColSpec(mlflow_type[str(columns[name].dtype)], name, required=name not in nullable)
            for name in contract.feature_columns()
        ]
    )
    output = "string" if contract.is_classification() else "double"
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec(output)]))


def _pinned_requirements() -> list[str]:
    """The exact versions that trained the model (MLflow would otherwise import-scan for them)."""
    packages = ("scikit-learn", "pandas", "numpy", "skops", "mlflow")
    return [f"{name}=={version(name)}" for name in packages]
