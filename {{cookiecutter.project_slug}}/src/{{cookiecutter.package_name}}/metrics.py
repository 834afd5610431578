"""Prometheus metrics of the HTTP API, served at GET /metrics in Prometheus' text format.

Requests by path and status and their latency (an ASGI middleware, so refusals and 413s count
too), the rows of each model call and of each request, what the model answered (per label, or a
histogram of the predicted number), the served model as an info metric, and the inference log's
written and dropped records. Each app has a registry of its own, so that several apps in one
process (the tests) never share counts.
"""

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ROWS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
# A regression's predictions, whatever their scale: 0 and ±1, 2.5, 5 per decade up to a million
MAGNITUDES = [m * 10**e for e in range(7) for m in (1, 2.5, 5)]
VALUES = sorted({0.0, *MAGNITUDES, *(-m for m in MAGNITUDES)})
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self, paths: set[str], classification: bool) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.paths = paths  # others are counted as "other": a scanner cannot add label values
        self.requests = Counter(
            "http_requests", "HTTP requests answered, by path and status", ["path", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "http_request_duration_seconds", "Time to answer, by path", ["path"],
            registry=self.registry,
        )  # fmt: skip
        self.batch_rows = Histogram(
            "model_batch_rows", "Rows per model call (requests answered together)",
            buckets=ROWS, registry=self.registry,
        )  # fmt: skip
        self.request_rows = Histogram(
            "predict_request_rows", "Records per /predict request", buckets=ROWS,
            registry=self.registry,
        )  # fmt: skip
        self.labels: Counter | None = None
        self.values: Histogram | None = None
        if classification:
            self.labels = Counter(
                "predictions", "Records answered, by predicted label", ["label"],
                registry=self.registry,
            )  # fmt: skip
        else:
            self.values = Histogram(
                "prediction_value", "The predicted values", buckets=VALUES,
                registry=self.registry,
            )  # fmt: skip
        self.model = Info("model", "The served model", registry=self.registry)
        self.captured = Counter(
            "inference_log_written_records", "Records written to the inference log",
            registry=self.registry,
        )  # fmt: skip
        self.dropped = Counter(
            "inference_log_dropped_records",
            "Records the inference log dropped (its queue full, or its store failing)",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class Instrument:
    """Pure ASGI middleware: counts every HTTP answer by path and status, and times it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in self.metrics.paths else "other"
        status = 500  # an exception that escapes the app is answered with a 500
        start = time.perf_counter()

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            self.metrics.requests.labels(path, str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - start)
