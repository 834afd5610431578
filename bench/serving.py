"""How fast the generated server answers, against `mlflow models serve` on the same model.

Trains the default project's model, serves it both ways on loopback, and sends each the same
bounded load: a fixed number of requests from several concurrent clients, batches of 1 and of
100 records. Prints requests per second and p50/p99 latency of each, and our server's ratios.
Ours runs twice, with the inference log on (the default) and off (/metrics is always on):
the throughput the log costs, and the records it dropped under that load. Then, while the same
clients send our server the largest batch it takes, the latency of `/health`: a liveness probe
that queues behind predictions gets a busy server restarted. Last, the serving image's
environment (the lock's `serving` group) against the project's full one: installed size, and
the time from the process's start to its first answered `/health`.

Usage: python bench/serving.py [PROJECT]   (part of `make bench`; PROJECT: a generated project
already trained with `make run`, to measure instead of baking and training one)
"""

import csv
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from conftest import (  # noqa: E402 (after the path it is found on)
    PROJECT_ENV,
    bake,
    run,
    serving_environment,
)
from servers import free_port, stop  # noqa: E402

CLIENTS = 8
REQUESTS = {1: 1000, 100: 100}  # batch size -> requests per server (bounded: count and time)
DEADLINE_SECONDS = 120  # per server and batch size, whatever the count reached
TIMEOUT_SECONDS = 10  # per request
LARGEST_BATCH = 1000  # serve.py's MAX_BATCH: the most records a request may hold
LARGEST_BATCH_REQUESTS = 400  # sent while /health is probed (bounded: count and DEADLINE_SECONDS)
HEALTH_PROBES = 200  # at most, one every HEALTH_INTERVAL_SECONDS, while the batches are sent
HEALTH_INTERVAL_SECONDS = 0.05
HEALTH_TARGET_MS = 100  # p99: well within a Kubernetes probe's default timeout of 1 s
INFERENCE_LOG = Path("data/inference")  # params.yaml's serve.capture.url, by default
WRAPS = {  # each server's request body for some records
    "/predict": lambda records: {"records": records},
    "/invocations": lambda records: {"dataframe_records": records},
}


@contextmanager
def server(command: list[str], cwd: Path, port: int, env: dict[str, str]) -> Iterator[float]:
    """The server running; yields the seconds from its start to its first answered /health."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                sys.exit(f"{command[0]} exited: {process.stderr.read()[-3000:]}")  # type: ignore[union-attr]
            if timed(connection, "GET", "/health")[0]:
                break
            time.sleep(0.1)
        else:
            sys.exit(f"{' '.join(command)} did not answer /health within 120 s")
        connection.close()
        yield time.perf_counter() - started
    finally:
        stop(process)


def installed_mib(venv: Path) -> float:
    """The bytes of every file a virtual environment holds, in MiB."""
    return sum(path.stat().st_size for path in venv.rglob("*") if path.is_file()) / 2**20


def logged_rows(project: Path) -> int:
    """The rows in the project's inference log, read with the project's pyarrow."""
    script = f"import pyarrow.parquet as pq; print(pq.read_table({str(INFERENCE_LOG)!r}).num_rows)"
    return int(run(project, "uv", "run", "--frozen", "python", "-c", script).stdout)


def inference_log_counts(port: int) -> dict[str, float]:
    """The inference log's written and dropped records, as /metrics shows them."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    counts = {}
    for outcome in ("written", "dropped"):
        match = re.search(rf"^inference_log_{outcome}_records_total (\S+)$", text, re.MULTILINE)
        counts[outcome] = float(match[1]) if match else float("nan")
    return counts


def load(port: int, path: str, body: bytes, requests: int) -> dict[str, float]:
    """`requests` POSTs from CLIENTS threads on keep-alive connections; latencies in ms."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    remaining = iter(range(requests))
    stop_at = time.monotonic() + DEADLINE_SECONDS

    def client() -> None:
        nonlocal errors
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
        headers = {"Content-Type": "application/json"}
        while time.monotonic() < stop_at:
            with lock:
                if next(remaining, None) is None:
                    break
            ok, took = timed(connection, "POST", path, body, headers)
            with lock:
                latencies.append(took) if ok else None
                errors += 0 if ok else 1
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"rps": len(latencies) / elapsed, **percentiles(latencies), "errors": errors,
            "sent": len(latencies) + errors}  # fmt: skip


def timed(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[bool, float]:
    """Whether one request got a 200, and its latency in ms; a broken connection is closed, to be
    opened again by the next request."""
    started = time.perf_counter()
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        response.read()
        ok = response.status == 200
    except (OSError, http.client.HTTPException):
        ok = False
        connection.close()
    return ok, (time.perf_counter() - started) * 1000


def percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies) or [float("nan")]
    return {
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    }


def health_under_load(port: int, body: bytes) -> dict[str, float]:
    """`/health` and `/metrics` latencies (ms) while CLIENTS clients POST `body` to /predict
    back to back; failed counts both."""
    predictions: dict[str, float] = {}
    loader = threading.Thread(
        target=lambda: predictions.update(load(port, "/predict", body, LARGEST_BATCH_REQUESTS))
    )
    loader.start()
    time.sleep(1)  # the clients' first batches are in
    latencies: list[float] = []
    scrapes: list[float] = []  # /metrics, probed as often: a scrape must not wait either
    failed = 0
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
    for _ in range(HEALTH_PROBES):
        if not loader.is_alive():  # only probes sent while the model was busy count
            break
        for path, kept in (("/health", latencies), ("/metrics", scrapes)):
            ok, took = timed(connection, "GET", path)
            kept.append(took) if ok else None
            failed += 0 if ok else 1
        time.sleep(HEALTH_INTERVAL_SECONDS)
    connection.close()
    loader.join()
    scraped = percentiles(scrapes)
    return {**percentiles(latencies), "probes": len(latencies), "failed": failed,
            "metrics_p50": scraped["p50"], "metrics_p99": scraped["p99"],
            "predict_rps": predictions["rps"], "predict_p99": predictions["p99"],
            "predicted": predictions["sent"] - predictions["errors"]}  # fmt: skip


def sample_records(project: Path, count: int) -> list[dict[str, Any]]:
    """Real rows, the target column left out, as a client would send them."""
    with (project / "tests" / "data" / "sample.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    records = []
    for row in (rows * (count // len(rows) + 1))[:count]:  # repeated when count is larger
        record: dict[str, Any] = {}
        for key, value in row.items():
            if key == "income":
                continue
            record[key] = None if value == "" else (int(value) if value.isdigit() else value)
        records.append(record)
    return records


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch_name:
        if len(sys.argv) > 1:
            project = Path(sys.argv[1]).resolve()
        else:
            project = bake(Path(scratch_name))
            run(project, "uv", "sync", "--frozen")
            run(project, "uv", "run", "--frozen", "dvc", "repro")
        env = PROJECT_ENV | {
            "PATH": f"{project / '.venv' / 'bin'}{os.pathsep}{PROJECT_ENV['PATH']}"
        }
        ours, off, theirs = free_port(), free_port(), free_port()
        serve = [str(project / ".venv/bin/income-classifier"), "serve", "--port"]
        servers = {
            "ours": ([*serve, str(ours)], ours, "/predict", {}),
            "ours, log off": ([*serve, str(off)], off, "/predict", {"INFERENCE_LOG_ENABLED": "0"}),
            "mlflow models serve": (
                [
                    str(project / ".venv/bin/mlflow"),
                    "models",
                    "serve",
                    "--model-uri",
                    "models/model",
                    "--env-manager",
                    "local",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(theirs),
                ],
                theirs,
                "/invocations",
                {},
            ),
        }
        results: dict[tuple[str, int], dict[str, float]] = {}
        shutil.rmtree(project / INFERENCE_LOG, ignore_errors=True)
        answered = 0  # records our server with the log on answered
        for name, (command, port, path, extra) in servers.items():
            wrap = WRAPS[path]
            with server(command, project, port, env | extra):
                for batch, requests in REQUESTS.items():
                    body = json.dumps(wrap(sample_records(project, batch))).encode()
                    warm = load(port, path, body, 50)
                    results[name, batch] = load(port, path, body, requests)
                    for figures in (warm, results[name, batch]) if name == "ours" else ():
                        answered += int(figures["sent"] - figures["errors"]) * batch
                if name == "ours":
                    largest = json.dumps(wrap(sample_records(project, LARGEST_BATCH))).encode()
                    health = health_under_load(port, largest)
                    answered += int(health["predicted"]) * LARGEST_BATCH
                    logged = inference_log_counts(port)
            if name == "ours":  # the shutdown has written what was queued
                logged["rows"] = logged_rows(project)
        # start-up: the full environment's console script, and the image's command
        venv = serving_environment(project)
        port = free_port()
        starts = {}
        with server([*serve, str(port)], project, port, env) as seconds:
            starts["full environment"] = seconds
        image = [str(venv / "bin/python"), "-m", "income_classifier", "serve", "--port", str(port)]
        with server(image, project, port, env | {"PYTHONPATH": str(project / "src")}) as seconds:
            starts["serving group"] = seconds
        sizes = {"full environment": project / ".venv", "serving group": venv}

        print(f"{CLIENTS} concurrent clients on loopback, keep-alive connections")
        row = "{:<22}{:>6}{:>7}{:>7}{:>9}{:>9}{:>9}"
        print(row.format("server", "batch", "sent", "errors", "req/s", "p50 ms", "p99 ms"))
        for (name, batch), figures in results.items():
            sent, errors = f"{figures['sent']:.0f}", f"{figures['errors']:.0f}"
            rps, p50, p99 = (f"{figures[key]:.1f}" for key in ("rps", "p50", "p99"))
            print(row.format(name, batch, sent, errors, rps, p50, p99))
        for batch in REQUESTS:
            mine, bare = results["ours", batch], results["ours, log off", batch]
            other = results["mlflow models serve", batch]
            print(
                f"batch {batch}: {mine['rps'] / other['rps']:.1f}x the requests per second, "
                f"p99 {mine['p99'] / other['p99']:.2f} of mlflow's (target at batch 1: at least "
                f"5x, at most 0.20); the inference log costs {1 - mine['rps'] / bare['rps']:.1%} "
                "of ours (target: at most 10%)"
            )
        print(
            f"inference log: {logged['dropped']:.0f} records dropped under that load (target: "
            f"none); after SIGTERM it held {logged['rows']:,} rows of the {answered:,} records "
            "answered"
        )
        print(
            f"/health while {CLIENTS} clients send batches of {LARGEST_BATCH} records "
            f"({len(largest):,} bytes): p50 {health['p50']:.1f} ms, p99 {health['p99']:.1f} ms "
            f"over {health['probes']:.0f} probes, {health['failed']:.0f} failed (target: p99 "
            f"under {HEALTH_TARGET_MS} ms); predictions meanwhile {health['predict_rps']:.1f} "
            f"req/s, p99 {health['predict_p99']:.0f} ms; /metrics meanwhile p50 "
            f"{health['metrics_p50']:.1f} ms, p99 {health['metrics_p99']:.1f} ms"
        )
        for name, path in sizes.items():
            print(
                f"{name}: {installed_mib(path):,.0f} MiB installed, first /health "
                f"{starts[name]:.1f} s after the process started"
            )


if __name__ == "__main__":
    main()
