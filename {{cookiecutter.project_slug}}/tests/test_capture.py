"""The inference log and /metrics, against the real server process: what was answered is what was
written, SIGTERM writes what is queued, a failing store costs records (counted), never answers."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT, SAMPLE
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }} import contract
from {{ cookiecutter.package_name }}.capture import Capture
from {{ cookiecutter.package_name }}.serve import create_app
from {{ cookiecutter.package_name }}.settings import ParamsError, load_params

REQUESTS = 24  # sent 8 at a time: the server answers several with one model call
START_SECONDS = 60


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]

    def stop(self) -> str:
        """SIGTERM, as Kubernetes and `docker stop` send it; what the server printed."""
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=30)
        return output


@contextmanager
def serving(
    trained: Path, directory: Path, env: dict[str, str], **capture: object
) -> Iterator[Server]:
    """`serve` in its own process, with params.yaml's serve.capture changed by `capture` and
    `env` added to this environment (less its own INFERENCE_LOG_ settings)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["serve"]["capture"] |= capture
    params_file = directory / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "{{ cookiecutter.package_name }}", "serve", "--port", str(port),
        "--model-dir", str(trained / "models" / "model"), "--params", str(params_file),
    ]  # fmt: skip
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("INFERENCE_LOG_")}
    process = subprocess.Popen(
        command, cwd=directory, env=inherited | env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert process.poll() is None, f"the server exited: {process.communicate()[0]}"
            try:
                with urllib.request.urlopen(f"{server.url}/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"no /health within {START_SECONDS} s"
                time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)


def record() -> dict[str, Any]:
    row = pd.read_csv(SAMPLE)[contract.feature_columns()].head(1).astype(object)
    return {str(k): (None if pd.isna(v) else v) for k, v in row.iloc[0].items()}


def predict(url: str) -> tuple[int, str, str]:
    """One record, answered: the status, the request id in the body and in the header."""
    body = json.dumps({"records": [record()]}).encode()
    request = urllib.request.Request(
        f"{url}/predict", data=body, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
        return response.status, answer["request_id"], response.headers["X-Request-ID"]


def predict_concurrently(url: str) -> list[str]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: predict(url), range(REQUESTS)))
    assert [status for status, _, _ in answers] == [200] * REQUESTS
    assert all(body == header for _, body, header in answers), "the header and body disagree"
    return [request_id for _, request_id, _ in answers]


def metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample /metrics shows, by name and labels, parsed by prometheus-client."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sent(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def test_every_answered_record_is_logged_with_its_id_and_sigterm_writes_the_queue(
    trained: Path, tmp_path: Path
) -> None:
    # given a server whose log files close only after an hour (so only shutdown writes them)
    log = tmp_path / "inference"
    with serving(trained, tmp_path, {}, url=str(log), file_seconds=3600) as server:
        # when concurrent requests are answered
        ids = predict_concurrently(server.url)
        shown = metrics(server.url)
        # then /metrics counts what was sent, and what the model answered
        assert shown[sent("http_requests_total", path="/predict", status="200")] == REQUESTS
        assert shown[sent("predict_request_rows_count")] == REQUESTS
        assert shown[sent("model_batch_rows_sum")] == REQUESTS
        assert shown[sent("http_request_duration_seconds_count", path="/predict")] == REQUESTS
        if contract.is_classification():
            answered = sum(shown[sent("predictions_total", label=str(label))] for label in
                           contract.labels())  # fmt: skip
        else:
            answered = shown[sent("prediction_value_count")]
        assert answered == REQUESTS
        assert shown[sent("inference_log_written_records_total")] == 0, "written before its time"
        model = next(labels for name, labels in shown if name == "model_info")
        assert dict(model)["model_version"] == "unregistered", model
        assert not list(log.glob("*.parquet")), "a file closed before its time"
        # and when the server is sent SIGTERM
        output = server.stop()

    # then every answer is in the log, once, with its id, its input and its output
    assert server.process.returncode in (0, -signal.SIGTERM), output
    table = pq.read_table(log)
    assert sorted(table.column("request_id").to_pylist()) == sorted(ids), output
    assert table.column("input").to_pylist()[0] == record()
    assert "dropped" not in output, output


@pytest.mark.parametrize("store", ["unwritable directory", "S3 endpoint down"])
def test_a_failing_store_drops_and_counts_records_and_every_request_is_answered(
    trained: Path, tmp_path: Path, store: str
) -> None:
    # given a log that cannot be written: a folder under a file, or an S3 endpoint nobody serves
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    stores: dict[str, tuple[str, dict[str, str]]] = {
        "unwritable directory": (str(blocker / "inference"), {}),
        "S3 endpoint down": (
            "s3://inference/log",
            {
                "FSSPEC_S3_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}",
                "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_MAX_ATTEMPTS": "1", "AWS_EC2_METADATA_DISABLED": "true",
            },
        ),
    }  # fmt: skip
    url, extra = stores[store]
    with serving(trained, tmp_path, extra, url=url, file_seconds=0.2, shutdown_seconds=1) as server:
        # when requests come in, then each is answered
        predict_concurrently(server.url)
        # and the log's records are counted as dropped once its store has failed
        dropped = sent("inference_log_dropped_records_total")
        deadline = time.monotonic() + 30
        while metrics(server.url)[dropped] < REQUESTS and time.monotonic() < deadline:
            time.sleep(0.2)
        shown = metrics(server.url)
        assert shown[dropped] == REQUESTS, shown[dropped]
        assert shown[sent("inference_log_written_records_total")] == 0
        assert predict(server.url)[0] == 200, "the server stopped answering"
        output = server.stop()
    # and the log says so
    assert "inference log: dropped" in output, output


def test_a_full_queue_drops_the_request_at_once_and_counts_it(tmp_path: Path) -> None:
    # given a log whose writer is stuck on its first file, with room for one more request
    stuck, taken = threading.Event(), threading.Event()
    dropped: list[int] = []

    def table(requests: list[int]) -> pa.Table:
        taken.set()
        stuck.wait(timeout=10)
        return pa.table({"n": requests})

    capture = Capture(
        str(tmp_path), table, queue_size=1, file_rows=1, file_seconds=3600,
        dropped=dropped.append,
    )  # fmt: skip
    capture.start()
    capture.submit(1, rows=1)
    assert taken.wait(timeout=10)
    capture.submit(2, rows=1)
    # when a third arrives, then it is dropped without waiting, and counted
    started = time.monotonic()
    capture.submit(3, rows=5)
    assert time.monotonic() - started < 0.1
    assert dropped == [5]
    # and once the writer is free, shutdown writes what was queued
    stuck.set()
    capture.close(timeout=10)
    assert sorted(pq.read_table(tmp_path).column("n").to_pylist()) == [1, 2]


def test_capture_turned_off_writes_nothing_and_a_callers_request_id_is_kept(
    trained: Path, tmp_path: Path
) -> None:
    # given the settings with the log turned off by the environment, as a deployment does
    log = tmp_path / "inference"
    params = load_params(ROOT / "params.yaml").serve.capture.model_copy(update={"url": str(log)})
    off = params.from_environment({"INFERENCE_LOG_ENABLED": "false"})
    # when a request is answered and the server shuts down, then nothing was written
    with TestClient(create_app(trained / "models" / "model", capture=off)) as client:
        assert client.post("/predict", json={"records": [record()]}).status_code == 200
        # and a caller's own request id is kept, one that is no id replaced
        for given, kept in (("order-17.a", True), ("no spaces; please", False)):
            response = client.post(
                "/predict", json={"records": [record()]}, headers={"X-Request-ID": given}
            )
            assert (response.json()["request_id"] == given) is kept, response.json()
            assert response.headers["X-Request-ID"] == response.json()["request_id"]
    assert not log.exists()


@pytest.mark.parametrize(
    ("environment", "error"),
    [
        ({"INFERENCE_LOG_ENABLED": "maybe"}, "INFERENCE_LOG_ENABLED='maybe': use true or false"),
        ({"INFERENCE_LOG_URL": ""}, "INFERENCE_LOG_URL: String should have at least 1 character"),
    ],
)
def test_a_bad_environment_override_is_one_clear_error(
    environment: dict[str, str], error: str
) -> None:
    params = load_params(ROOT / "params.yaml").serve.capture
    with pytest.raises(ParamsError) as raised:
        params.from_environment(environment)
    assert str(raised.value) == error
