"""Typed view of params.yaml: a typo or a wrong type fails at start-up, not mid-training."""

import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_PARAMS = Path("params.yaml")


class ParamsError(ValueError):
    """params.yaml asks for something the contract's task cannot do."""


DURATION = r"^[1-9][0-9]*[mhd]$"  # minutes, hours or days: "30m", "24h", "7d"
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> timedelta:
    """ "24h" -> timedelta(hours=24); a params field checked against DURATION."""
    found = re.fullmatch(DURATION, text)
    if found is None:
        raise ParamsError(f"{text!r} is not a duration: a whole number and m, h or d (24h)")
    return timedelta(**{UNITS[text[-1]]: int(text[:-1])})


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class DataParams(Section):
    raw: str = Field(min_length=1)  # the raw data file, tracked by DVC
    batches: str = Field(min_length=1)  # production batches that retraining added (DVC)


class PrepareParams(Section):
    test_size: float = Field(gt=0, lt=1)
    reference_size: int = Field(gt=0)
    new_data: Literal["append", "window"] = "append"
    window_rows: int = Field(default=50_000, gt=0)
    seed: int


class ValidateParams(Section):
    max_examples: int = Field(gt=0)
    max_null_share: float = Field(gt=0, le=1)  # of a nullable column; 1 turns the check off
    max_duplicate_share: float = Field(ge=0, le=1)  # rows that copy an earlier row
    max_seen_share: float = Field(ge=0, le=1)  # test rows with a training row's features


class ModelParams(Section):
    learning_rate: float = Field(gt=0)
    max_iter: int = Field(gt=0)
    max_leaf_nodes: int = Field(ge=2)
    min_samples_leaf: int = Field(ge=1)
    l2_regularization: float = Field(ge=0)
    early_stopping: bool


class TrainParams(Section):
    seed: int
    model: ModelParams


class EvaluateParams(Section):
    # Binary only: the positive label's probability from which a row is predicted positive.
    threshold: float | None = Field(default=None, gt=0, lt=1)
    gate_metric: str

    def for_task(self, task: str) -> "EvaluateParams":
        """These parameters if they fit `task`; ParamsError naming the one that does not."""
        if task == "binary" and self.threshold is None:
            raise ParamsError("evaluate.threshold is missing: a binary task needs one (0.5)")
        if task != "binary" and self.threshold is not None:
            raise ParamsError(f"evaluate.threshold applies to binary tasks only, not {task}")
        return self


class PromoteParams(Section):
    tolerance: float = Field(ge=0)
    minimum: float | None  # the gate metric's floor for any promotion (null: none)
    # how much a segment's disparity (fairness.py) may widen against what runs (null: not gated)
    disparity_tolerance: float | None = Field(ge=0)


class ReportParams(Section):
    resamples: int = Field(ge=50)  # paired bootstrap resamples behind each 95% interval
    seed: int


class DriftParams(Section):
    batch: str = Field(min_length=1)  # a path, a glob, or a URL fsspec reads
    drift_share: float = Field(gt=0, le=1)
    num_method: str = Field(min_length=1)
    cat_method: str = Field(min_length=1)
    num_threshold: float = Field(gt=0)
    cat_threshold: float = Field(gt=0)
    sample_rows: int | None = Field(default=None, gt=0)
    seed: int
    window: str | None = Field(default=None, pattern=DURATION)  # the inference log's last...


class MonitorParams(Section):
    """Live quality: the production model on the labels that arrived for what it answered."""

    feedback: str = Field(min_length=1)  # a folder or fsspec URL of CSV or Parquet files
    window: str = Field(pattern=DURATION)  # the inference log and labels judged
    min_rows: int = Field(gt=0)  # labelled records of the version needed for a verdict
    tolerance: float = Field(ge=0)  # how far the live gate metric may fall short


class MlflowParams(Section):
    experiment: str = Field(min_length=1)
    model_name: str = Field(min_length=1)


class CaptureParams(Section):
    """The inference log; INFERENCE_LOG_ENABLED and INFERENCE_LOG_URL override the first two."""

    enabled: bool
    url: str = Field(min_length=1)  # a directory or an fsspec URL (s3://bucket/inference)
    file_rows: int = Field(gt=0)  # a file closes at this many rows...
    file_seconds: float = Field(gt=0)  # ...or this long after its first row
    queue_requests: int = Field(gt=0)  # requests waiting to be written; more are dropped
    shutdown_seconds: float = Field(gt=0)  # how long a shutdown may take to write the queue

    def from_environment(self, environ: Mapping[str, str]) -> "CaptureParams":
        """These settings with the environment's overrides; ParamsError naming a bad one."""
        overrides: dict[str, object] = {}
        if "INFERENCE_LOG_URL" in environ:
            overrides["url"] = environ["INFERENCE_LOG_URL"]
        if "INFERENCE_LOG_ENABLED" in environ:
            value = environ["INFERENCE_LOG_ENABLED"].strip().lower()
            if value not in BOOLEANS:
                raise ParamsError(f"INFERENCE_LOG_ENABLED={value!r}: use true or false")
            overrides["enabled"] = BOOLEANS[value]
        try:
            return self.model_validate(self.model_dump() | overrides)
        except ValidationError as error:
            raise ParamsError(f"INFERENCE_LOG_URL: {error.errors()[0]['msg']}") from None


BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


class ServeParams(Section):
    capture: CaptureParams


class Params(Section):
    data: DataParams
    prepare: PrepareParams
    validate_: ValidateParams = Field(alias="validate")
    train: TrainParams
    evaluate: EvaluateParams
    promote: PromoteParams
    report: ReportParams
    drift: DriftParams
    monitor: MonitorParams
    mlflow: MlflowParams
    serve: ServeParams


def load_params(path: Path = DEFAULT_PARAMS) -> Params:
    with path.open(encoding="utf-8") as handle:
        return Params.model_validate(yaml.safe_load(handle))
