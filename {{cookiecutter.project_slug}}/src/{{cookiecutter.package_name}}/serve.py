"""Serve: an HTTP API for the model whose request model is derived from the data contract.

A column added to `schema.py` appears in the API with no other edit. Requests are checked
twice: pydantic checks the shape and types (422 naming the field), then the contract's own
checks run on the batch (422 naming the column and check), so the model never sees data the
pipeline would have refused.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pandera.pandas as pa
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, create_model

from {{ cookiecutter.package_name }}.schema import (
    POSITIVE_LABEL,
    TARGET,
    CensusIncome,
    feature_columns,
    nullable_columns,
)
from {{ cookiecutter.package_name }}.tracking import RunRef
from {{ cookiecutter.package_name }}.train import RUN_FILE
from {{ cookiecutter.package_name }}.validate import summarize

MODEL_DIR = Path(os.environ.get("MODEL_DIR", "models/model"))  # baked into the image
MAX_BATCH = int(os.environ.get("MAX_BATCH", "1000"))
PYTHON_TYPES: dict[str, type] = {"str": str, "int64": int, "float64": float, "bool": bool}


def record_model() -> type[BaseModel]:
    """One request record: every feature of the contract, typed, nullable where it says so."""
    columns = CensusIncome.to_schema().columns
    nullable = set(nullable_columns())
    fields: dict[str, Any] = {}
    for name in feature_columns():
        python_type = PYTHON_TYPES[str(columns[name].dtype)]
        fields[name] = (python_type | None, ...) if name in nullable else (python_type, ...)
    config = ConfigDict(extra="forbid", strict=True)  # "40" is not an age; a typo is not a field
    model: type[BaseModel] = create_model("Record", __config__=config, **fields)
    return model


Record = record_model()


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[Record] = Field(min_length=1, max_length=MAX_BATCH)  # type: ignore[valid-type]


class Prediction(BaseModel):
    label: str
    probability: float  # of POSITIVE_LABEL


class PredictResponse(BaseModel):
    predictions: list[Prediction]


def _feature_checks() -> pa.DataFrameSchema:
    return CensusIncome.to_schema().remove_columns([TARGET])


def load_provenance(model_dir: Path) -> dict[str, str]:
    """Name, version and commit of the served model, from the files training wrote beside it."""
    run_file = model_dir.parent / RUN_FILE
    run = RunRef.read(run_file) if run_file.exists() else RunRef("unknown", "unknown", "unknown")
    return {
        "model_name": os.environ.get("MODEL_NAME", run.model_name),
        "model_version": os.environ.get("MODEL_VERSION", "unregistered"),
        "commit": os.environ.get("GIT_COMMIT", run.git_commit),
        "run_id": run.run_id,
    }


def create_app(model_dir: Path = MODEL_DIR) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Loaded once at start-up: a missing or broken model fails the start, not a request.
        app.state.model = mlflow.sklearn.load_model(str(model_dir))
        app.state.provenance = load_provenance(model_dir)
        yield

    app = FastAPI(title="{{ cookiecutter.project_slug }}", lifespan=lifespan)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/version")
    def version(request: Request) -> dict[str, str]:
        provenance: dict[str, str] = request.app.state.provenance
        return provenance

    @app.post("/predict")
    def predict(body: PredictRequest, request: Request) -> PredictResponse:
        records: list[BaseModel] = body.records  # Record is built at import: mypy can't see it
        frame = pd.DataFrame([record.model_dump() for record in records])
        try:
            frame = _feature_checks().validate(frame, lazy=True)
        except pa.errors.SchemaErrors as errors:
            failures = summarize(errors.failure_cases, max_examples=5)
            detail = [
                {
                    "loc": ["body", "records", example.row, failure.column],
                    "msg": failure.check,
                    "input": example.value,
                }
                for failure in failures
                for example in failure.examples
            ]
            raise HTTPException(status_code=422, detail=detail) from None
        model = request.app.state.model
        positive = list(model.classes_).index(POSITIVE_LABEL)
        probabilities = model.predict_proba(frame[feature_columns()])[:, positive]
        labels = model.predict(frame[feature_columns()])
        return PredictResponse(
            predictions=[
                Prediction(label=str(label), probability=float(probability))
                for label, probability in zip(labels, probabilities, strict=True)
            ]
        )

    return app
