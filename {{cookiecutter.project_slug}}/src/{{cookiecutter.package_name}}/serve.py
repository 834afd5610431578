"""Serve: an HTTP API for the model whose request and response are derived from the contract.

A column added to `schema.py` appears in the API with no other edit. The response says what the
task predicts: for classification the label and the probability of every label, each named, so
that a probability can never be read as another label's; for regression the number.

The contract's types and its range and category checks become the request model's own
constraints, so pydantic rejects a bad record with a 422 naming the field before any DataFrame
is built; checks it cannot express run on the batch afterwards (422 naming the column and
check). The model never sees data the pipeline would have refused.

A scikit-learn call costs nearly the same for 1 row as for 100 (input validation and thread
start-up dominate), so concurrent requests are answered by one model call: while a call runs,
new requests queue, and the next call takes all of them (after waiting BATCH_WAIT_MS, 2 ms by
default, for the ones that arrive together). The call runs on one worker thread, and with it
the rest of what grows with the batch (the DataFrame, the answers, their JSON): the event loop
keeps only parsing and validating requests, so `/health` is not kept waiting while the model is
saturated.
"""

import asyncio
import gc
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import mlflow
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model
from pydantic_core import PydanticKnownError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from {{ cookiecutter.package_name }} import contract, inference, tracking
from {{ cookiecutter.package_name }}.capture import Capture
from {{ cookiecutter.package_name }}.metrics import CONTENT_TYPE, Instrument, Metrics
from {{ cookiecutter.package_name }}.settings import CaptureParams
from {{ cookiecutter.package_name }}.tasks import ordered_probabilities
from {{ cookiecutter.package_name }}.tracking import RunRef
from {{ cookiecutter.package_name }}.train import RUN_FILE
from {{ cookiecutter.package_name }}.validate import summarize

MODEL_DIR = Path(os.environ.get("MODEL_DIR", "models/model"))  # baked into the image
MAX_BATCH = int(os.environ.get("MAX_BATCH", "1000"))
# How long the first request waits for others: the event loop reads requests only between model
# calls (which hold the GIL), so without a pause most would miss the call that could take them.
BATCH_WAIT_SECONDS = float(os.environ.get("BATCH_WAIT_MS", "2")) / 1000
# Hostile input is refused before it costs memory: a request body larger than this is a 413
# (a full batch of MAX_BATCH records takes a few hundred kB), a text value longer than its
# field's limit a 422; an error response lists at most MAX_ERRORS errors, each with an excerpt
# of its input, never the input itself. A field's limit comes from the contract: a field that
# lists its categories takes its longest category, one with a `str_length` check that check's
# bounds, and other free text MAX_TEXT_LENGTH.
MAX_BODY_BYTES = int(os.environ.get("MAX_BODY_BYTES", str(4 * 1024 * 1024)))
MAX_TEXT_LENGTH = int(os.environ.get("MAX_TEXT_LENGTH", "200"))
MAX_ERRORS = 20
DRAIN_FACTOR = 8  # a body over the limit is read and dropped up to this many times the limit
EXCERPT_CHARACTERS = 40
PYTHON_TYPES: dict[str, type] = {"str": str, "int64": int, "float64": float, "bool": bool}
# pandera's built-in checks that a pydantic field states itself: check name -> field keywords
BOUNDS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "greater_than_or_equal_to": lambda stats: {"ge": stats["min_value"]},
    "greater_than": lambda stats: {"gt": stats["min_value"]},
    "less_than_or_equal_to": lambda stats: {"le": stats["max_value"]},
    "less_than": lambda stats: {"lt": stats["max_value"]},
    "in_range": lambda stats: {
        "ge" if stats["include_min"] else "gt": stats["min_value"],
        "le" if stats["include_max"] else "lt": stats["max_value"],
    },
    "str_length": lambda stats: {
        key: stats["exact_value"] if stats["exact_value"] is not None else stats[bound]
        for key, bound in (("min_length", "min_value"), ("max_length", "max_value"))
        if stats["exact_value"] is not None or stats[bound] is not None
    },
}


def field_type(column: pa.Column) -> tuple[Any, list[pa.Check]]:
    """The pydantic type of one column, and the checks it could not take over. Numbers must be
    finite (JSON's NaN and Infinity, and 1e400, are refused), an integer may be written 40.0 but
    not 40.5; text is bounded in length, a listed field's by its longest category."""
    python_type: Any = PYTHON_TYPES[str(column.dtype)]
    bounds: dict[str, Any] = {}
    if python_type is float:
        bounds["allow_inf_nan"] = False
    if python_type is str:
        bounds["max_length"] = MAX_TEXT_LENGTH
    residual = []
    metadata: list[Any] = [BeforeValidator(_whole_number)] if python_type is int else []
    for check in column.checks:
        if check.name in BOUNDS:
            bounds |= BOUNDS[check.name](check.statistics)
        elif check.name == "isin":
            categories = tuple(check.statistics["allowed_values"])
            if python_type is str:
                bounds["max_length"] = max(map(len, categories))
                metadata.append(_no_longer_than(bounds["max_length"]))
            python_type = Literal[categories]
        else:
            residual.append(check)
    if bounds:
        metadata.insert(0, Field(**bounds))
    annotated = Annotated[python_type, *metadata] if metadata else python_type
    return (annotated | None if column.nullable else annotated), residual


def _whole_number(value: Any) -> Any:
    """4.0 as 4: the spec's `integer` is any number without a fraction (JSON Schema's rule, and
    what pandas writes for an integer column with nulls); strict pydantic refuses every float."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _no_longer_than(length: int) -> BeforeValidator:
    """Refuse a category longer than the longest there is before comparing it with them: pydantic
    states max_length in the spec for a Literal but does not check it, and the error then says
    why (string_too_long, as for free text), not which values exist."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and len(value) > length:
            raise PydanticKnownError("string_too_long", {"max_length": length})
        return value

    return BeforeValidator(check)


def record_model() -> type[BaseModel]:
    """One request record: every feature of the contract, typed and checked as it says."""
    columns = contract.columns()
    fields: dict[str, Any] = {
        name: (field_type(columns[name])[0], ...) for name in contract.feature_columns()
    }
    config = ConfigDict(extra="forbid", strict=True)  # "40" is not an age; a typo is not a field
    model: type[BaseModel] = create_model("Record", __config__=config, **fields)
    return model


def residual_checks() -> pa.DataFrameSchema | None:
    """The contract's checks that the request model cannot state (custom ones), if any."""
    columns = contract.columns()
    residual = {name: field_type(columns[name])[1] for name in contract.feature_columns()}
    kept = {name: columns[name].set_checks(checks) for name, checks in residual.items() if checks}
    return pa.DataFrameSchema(kept) if kept else None


Record = record_model()


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[Record] = Field(min_length=1, max_length=MAX_BATCH)  # type: ignore[valid-type]


def prediction_model() -> type[BaseModel]:
    """One answer: `label` and `probabilities` (one field per label) for classification,
    `prediction` for regression."""
    if not contract.is_classification():
        return create_model(
            "Prediction",
            prediction=(float, Field(description=f"the predicted {contract.target()}")),
        )
    probability = Annotated[float, Field(ge=0, le=1)]
    per_label: dict[str, Any] = {
        f"p{index}": (probability, Field(alias=label, description=f"probability of {label!r}"))
        for index, label in enumerate(contract.labels())
    }
    probabilities = create_model(
        "Probabilities", __config__=ConfigDict(serialize_by_alias=True), **per_label
    )
    label: Any = Literal[contract.labels()]
    return create_model(
        "Prediction",
        label=(label, Field(description=f"the predicted {contract.target()}")),
        probabilities=(probabilities, Field(description="every label's probability, by name")),
    )


Prediction = prediction_model()


class PredictResponse(BaseModel):
    request_id: str = Field(description="this answer's id in the inference log (X-Request-ID)")
    predictions: list[Prediction]  # type: ignore[valid-type]


# A caller's own X-Request-ID is kept when it looks like an id; otherwise the server makes one.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass(frozen=True)
class Call:
    """One model call, as the inference log takes it: its requests' ids and record counts, its
    time (microseconds since the epoch), its rows and the model's scores."""

    ids: list[str]
    counts: list[int]
    time: int
    frame: pd.DataFrame
    scores: np.ndarray


@dataclass(frozen=True)
class Job:
    """One request's records, and its tag (its request id) for the answer."""

    rows: list[dict[str, Any]]
    tag: Any


class MicroBatcher:
    """One model call for all the records of the requests waiting when the model is free; each
    request gets `answer` of its own rows' scores and its tag (the scores themselves by
    default), and `answered` sees each call's requests, their rows as one frame and the scores,
    on the worker thread."""

    def __init__(
        self,
        predict: Callable[[pd.DataFrame], np.ndarray],  # one row (or vector) per record
        max_rows: int,
        wait_seconds: float = BATCH_WAIT_SECONDS,
        answer: Callable[[np.ndarray, Any], Any] = lambda scores, tag: scores,
        answered: Callable[[list[Job], pd.DataFrame, np.ndarray], None] = (
            lambda jobs, frame, scores: None
        ),
    ) -> None:
        self._predict = predict
        self._max_rows = max_rows
        self._wait_seconds = wait_seconds
        self._answer = answer
        self._answered = answered
        self._queue: asyncio.Queue[tuple[Job, asyncio.Future[Any]]] = asyncio.Queue()

    async def predict(self, rows: list[dict[str, Any]], tag: Any = None) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put((Job(rows, tag), future))
        return await future

    def _call(self, jobs: list[Job]) -> list[Any]:
        """On the worker thread: one model call for every request's rows, then each answer."""
        frame = pd.DataFrame([row for job in jobs for row in job.rows])
        scores = self._predict(frame)
        answers, start = [], 0
        for job in jobs:
            answers.append(self._answer(scores[start : start + len(job.rows)], job.tag))
            start += len(job.rows)
        self._answered(jobs, frame, scores)
        return answers

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            await asyncio.sleep(self._wait_seconds)
            size = len(batch[0][0].rows)
            while not self._queue.empty() and size < self._max_rows:
                batch.append(self._queue.get_nowait())
                size += len(batch[-1][0].rows)
            try:
                answers = await asyncio.to_thread(self._call, [job for job, _ in batch])
            except Exception as error:  # every waiting request learns why, not just one
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():  # a client that went away cancelled its own
                    future.set_result(answer)


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


def fetch_registered(name: str, alias: str, destination: Path) -> tuple[Path, dict[str, str]]:
    """Download the version `alias` points at from the registry: its model and provenance."""
    client = tracking.client()
    version = client.get_model_version_by_alias(name, alias)  # MlflowException if none
    mlflow.set_tracking_uri(tracking.tracking_uri())
    uri = f"models:/{name}/{version.version}"
    model_dir = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(destination))
    return Path(model_dir), {
        "model_name": name,
        "model_version": str(version.version),
        "commit": version.tags.get("git_commit", "unknown"),
        "run_id": version.run_id or "unknown",
    }


def create_app(
    model_dir: Path = MODEL_DIR,
    provenance: dict[str, str] | None = None,
    capture: CaptureParams | None = None,
) -> FastAPI:
    """The API; with `capture` enabled, every answered record also goes to the inference log."""
    checks = residual_checks()
    metrics = Metrics({"/predict", "/health", "/version", "/metrics"}, contract.is_classification())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Loaded once at start-up: a missing or broken model fails the start, not a request.
        model = mlflow.sklearn.load_model(str(model_dir))
        columns = contract.feature_columns()

        def score(frame: pd.DataFrame) -> np.ndarray:
            if contract.is_classification():
                return ordered_probabilities(model, frame[columns])
            return np.asarray(model.predict(frame[columns]), dtype=float)

        served = provenance or load_provenance(model_dir)
        metrics.model.info(served)
        if metrics.labels is not None:  # every label from the start, at 0
            for label in contract.labels():
                metrics.labels.labels(label)
        log = None
        if capture is not None and capture.enabled:
            log = inference_log(capture, served, metrics)
            log.start()

        def answered(jobs: list[Job], frame: pd.DataFrame, scores: np.ndarray) -> None:
            """On the worker thread, after each model call: count it, queue it for the log."""
            metrics.batch_rows.observe(len(scores))
            if metrics.labels is not None:
                labels = contract.labels()
                predicted, counts = np.unique(scores.argmax(axis=1), return_counts=True)
                for index, count in zip(predicted, counts, strict=True):
                    metrics.labels.labels(labels[index]).inc(int(count))
            elif metrics.values is not None:
                for value in scores:
                    metrics.values.observe(float(value))
            if log is None:
                return
            now = time.time_ns() // 1000  # microseconds, as the log stores them
            ids, sizes = [job.tag for job in jobs], [len(job.rows) for job in jobs]
            log.submit(Call(ids, sizes, now, frame, scores), len(frame))

        app.state.batcher = MicroBatcher(
            score, max_rows=MAX_BATCH, answer=_response_body, answered=answered
        )
        app.state.provenance = served
        # The start-up's objects (MLflow, scikit-learn, the model: about 250,000) never become
        # garbage; frozen, the collector stops walking them, and its full pass, which held
        # every request (/health too) for 100-150 ms about once a second under load, takes
        # under a millisecond.
        gc.freeze()
        worker = asyncio.create_task(app.state.batcher.run())
        yield
        worker.cancel()
        with suppress(asyncio.CancelledError):
            await worker
        if log is not None:  # uvicorn has answered every request: write what they queued
            await asyncio.to_thread(log.close, capture.shutdown_seconds if capture else 0)

    app = FastAPI(title="{{ cookiecutter.project_slug }}", lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(Instrument, metrics=metrics)  # outermost: it sees every answer
    app.add_exception_handler(RequestValidationError, _refuse)

    # async: answered on the event loop itself, where a plain def would queue for a thread
    # behind the model's
    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/version")
    async def version(request: Request) -> dict[str, str]:
        provenance: dict[str, str] = request.app.state.provenance
        return provenance

    # async, as /health: the scrape is answered while the model is busy
    @app.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
    async def prometheus() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    @app.post("/predict", response_model=PredictResponse, responses=REFUSALS)
    async def predict(body: PredictRequest, request: Request) -> Response:
        records: list[BaseModel] = body.records  # Record is built at import: mypy can't see it
        rows = [record.model_dump() for record in records]
        metrics.request_rows.observe(len(rows))
        if checks is not None:
            _check(checks, pd.DataFrame(rows))
        given = request.headers.get("x-request-id", "")
        request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        # the answer is built on the worker thread
        content = await request.app.state.batcher.predict(rows, request_id)
        headers = {"X-Request-ID": request_id}
        return Response(content, media_type="application/json", headers=headers)

    return app


class Refusal(BaseModel):
    detail: list[dict[str, Any]] = Field(
        description=f"at most {MAX_ERRORS} errors: where (loc), what (type, msg), an excerpt"
    )
    errors: int = Field(description="how many errors there were in all")


class Reason(BaseModel):
    detail: str = Field(description="why the request was refused")


REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": Reason, "description": "The body is not text (UTF-8), so not JSON either"},
    413: {"model": Reason, "description": f"The request body is over {MAX_BODY_BYTES:,} bytes"},
    422: {"model": Refusal, "description": "A record breaks the contract"},
}


async def _refuse(request: Request, error: Exception) -> JSONResponse:
    """A 422 that names each field and what is wrong, with a short excerpt of the input: the
    default echoes all of it, and cannot write NaN or Infinity (a 500)."""
    assert isinstance(error, RequestValidationError)
    errors = error.errors()
    shown = [
        {
            "loc": list(entry["loc"]),
            "type": entry["type"],
            "msg": entry["msg"],
            "input": excerpt(entry.get("input")),
        }
        for entry in errors[:MAX_ERRORS]
    ]
    return JSONResponse(status_code=422, content={"detail": shown, "errors": len(errors)})


def excerpt(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= EXCERPT_CHARACTERS:
        return text
    return f"{text[:EXCERPT_CHARACTERS]}... ({len(text):,} characters)"


class BodyLimit:
    """Refuse a request body over `max_bytes` with a 413: by its Content-Length before reading
    it or, sent in chunks, as soon as it grows past it, so nothing larger is read into memory.
    Pure ASGI, since Starlette has no body limit of its own."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes
        self.detail = f"the request body is over {max_bytes:,} bytes (MAX_BODY_BYTES)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._drain(receive, more=True)
            await JSONResponse({"detail": self.detail}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # FastAPI passes an HTTPException on as it is
                await self._drain(receive, more=message.get("more_body", False))
                raise HTTPException(status_code=413, detail=self.detail)
            return message

        await self.app(scope, counted, send)

    async def _drain(self, receive: Receive, more: bool) -> None:
        """Read the rest of the body and drop it, up to DRAIN_FACTOR times the limit: a server
        that answers while the client still sends resets the connection, and the client sees
        the reset, never the 413."""
        drained = 0
        while more and drained < DRAIN_FACTOR * self.max_bytes:
            message = await receive()
            drained += len(message.get("body", b""))
            more = message["type"] == "http.request" and message.get("more_body", False)


def inference_log(params: CaptureParams, provenance: dict[str, str], metrics: Metrics) -> Capture:
    """The inference log `params` describe, counting into `metrics`. It takes each model call
    whole (the frame the model read, the scores it gave); each file's rows are built column by
    column, on the writer thread."""
    schema = inference.log_schema()
    labels = np.asarray(contract.labels(), dtype=object)
    features: pyarrow.StructType = schema.field("input").type

    def to_table(calls: list[Call]) -> Any:
        counts = [count for call in calls for count in call.counts]
        total = sum(counts)
        frame = pd.concat([call.frame for call in calls], ignore_index=True)
        scores = np.concatenate([call.scores for call in calls])
        inputs = pyarrow.StructArray.from_arrays(
            [pyarrow.array(frame[field.name], from_pandas=True).cast(field.type)
             for field in features],
            fields=list(features),
        )  # fmt: skip
        if contract.is_classification():
            chances = [pyarrow.array(scores[:, index]) for index in range(len(labels))]
            output = pyarrow.StructArray.from_arrays(
                [
                    pyarrow.array(labels[scores.argmax(axis=1)], pyarrow.string()),
                    pyarrow.StructArray.from_arrays(chances, names=list(labels)),
                ],
                names=["label", "probabilities"],
            )
        else:
            output = pyarrow.StructArray.from_arrays(
                [pyarrow.array(scores.astype(float))], names=["prediction"]
            )
        times = np.concatenate([np.full(len(call.frame), call.time) for call in calls])
        columns = [
            pyarrow.array(np.repeat([i for call in calls for i in call.ids], counts)),
            pyarrow.array(np.concatenate([np.arange(count) for count in counts]), pyarrow.int32()),
            pyarrow.array(times, schema.field("time").type),
            pyarrow.repeat(provenance["model_name"], total),
            pyarrow.repeat(provenance["model_version"], total),
            inputs,
            output,
        ]
        return pyarrow.Table.from_arrays(columns, schema=schema)

    return Capture(
        params.url,
        to_table,
        queue_size=params.queue_requests,
        file_rows=params.file_rows,
        file_seconds=params.file_seconds,
        written=metrics.captured.inc,
        dropped=metrics.dropped.inc,
        log=logging.getLogger("uvicorn.error"),  # printed as uvicorn prints its own warnings
    )


def _response_body(scores: np.ndarray, request_id: str) -> bytes:
    """One request's answer as JSON, checked against the response model as FastAPI would."""
    answer = PredictResponse(
        request_id=request_id, predictions=[_prediction(record) for record in scores]
    )
    return answer.model_dump_json().encode()


def _prediction(answer: np.ndarray) -> dict[str, Any]:
    """One record's answer as the response names it."""
    if not contract.is_classification():
        return {"prediction": float(answer)}
    labels = contract.labels()
    return {
        "label": labels[int(answer.argmax())],  # as the model's predict() decides
        "probabilities": {label: float(p) for label, p in zip(labels, answer, strict=True)},
    }


def _check(checks: pa.DataFrameSchema, frame: pd.DataFrame) -> None:
    try:
        checks.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        failures = summarize(errors.failure_cases, max_examples=5)
        refused = [
            {
                "loc": ("body", "records", example.row, failure.column),
                "type": "contract_check",
                "msg": failure.check,
                "input": example.value,
            }
            for failure in failures
            for example in failure.examples
        ]
        raise RequestValidationError(refused) from None  # answered as any other 422
