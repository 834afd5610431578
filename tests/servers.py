"""Real servers on loopback, started and stopped by the tests: PostgreSQL (Debian's server, as
the `postgres` user since it refuses root), an MLflow tracking server whose backend store is
on it, and an S3-compatible object store (moto's server). Every wait is bounded."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import EndpointConnectionError
from conftest import PROJECT_ENV

MOTO_SERVER = Path(sys.executable).parent / "moto_server"  # pinned in the template's environment
# What a client of the S3 stand-in needs: any key works, the endpoint is set per server.
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    assert found, "PostgreSQL's server is not installed (Debian: apt-get install postgresql)"
    return found[-1].parent


def _as_postgres(*command: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


@contextmanager
def postgres() -> Iterator[str]:
    """A throw-away cluster on a free loopback port; yields a database URL for MLflow."""
    bin_dir = postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="pg-"))  # not under pytest's root-only tmp folder
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()
    try:
        subprocess.run(
            _as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                         "--auth=trust", "-E", "UTF8"),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        subprocess.run(
            _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"),
                         "-o", f"-p {port} -h 127.0.0.1 -k {root}", "-w", "-t", "60", "start"),
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
             "mlflow"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run(
            _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"),
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


# deploy/mlflow/'s entry point in the project's locked `tracking-server` environment, as its
# README runs it from a clone: add "server" or "upgrade".
MLFLOW_ENTRYPOINT = ("uv", "run", "--frozen", "--only-group", "tracking-server",
                     "deploy/mlflow/entrypoint.sh")  # fmt: skip


class TrackingServer:
    """The project's MLflow tracking server as deploy/mlflow/ runs it: its entry point in the
    project's locked `tracking-server` environment, on a loopback port that survives restarts."""

    def __init__(
        self, project: Path, backend_store: str, artifacts: str, log: Path, env: dict[str, str]
    ) -> None:
        self.project, self.log = project, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = PROJECT_ENV | {
            "MLFLOW_BACKEND_STORE_URI": backend_store,
            "MLFLOW_ARTIFACTS_DESTINATION": artifacts,
            "MLFLOW_HOST": "127.0.0.1",
            "MLFLOW_PORT": str(self.port),
            "MLFLOW_WORKERS": "1",
        } | env  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [*MLFLOW_ENTRYPOINT, "server"]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                command, cwd=self.project, env=self.env, stdout=log, stderr=log,
                start_new_session=True,  # its own process group: uv, mlflow and the workers
            )  # fmt: skip
        deadline = time.monotonic() + 180  # the first start installs the group and migrates
        while True:
            assert self.process.poll() is None, f"mlflow server exited: {_tail(self.log)}"
            assert time.monotonic() < deadline, f"mlflow server not up: {_tail(self.log)}"
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)

    def crash(self) -> None:
        """Kill the server and its workers at once, as a lost machine or an OOM kill would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.crash()


@contextmanager
def mlflow_server(
    project: Path,
    backend_store: str,
    artifacts: str,
    log_dir: Path,
    env: dict[str, str] | None = None,
) -> Iterator[TrackingServer]:
    """A started TrackingServer. `env` reaches the server only: the artifact store's
    credentials, or settings such as MLFLOW_WORKERS (1 unless given)."""
    log = log_dir / "mlflow-server.log"
    server = TrackingServer(project, backend_store, artifacts, log, env or {})
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    """moto's server on a free loopback port (S3, IAM, STS, CloudFormation and the rest of
    moto's services); yields its endpoint URL. Clients use `S3_CREDENTIALS`."""
    port = free_port()
    log = (log_dir / "moto-server.log").open("w")
    server = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"moto server exited: {_tail(log.name)}"
            assert time.monotonic() < deadline, f"moto server not up: {_tail(log.name)}"
            try:
                s3_client(url).list_buckets()
                break
            except EndpointConnectionError:
                time.sleep(0.5)
        yield url
    finally:
        stop(server)
        log.close()


@contextmanager
def s3_server(bucket: str, log_dir: Path) -> Iterator[str]:
    """An S3-compatible server on a free port with `bucket` created; yields its endpoint URL.

    Clients reach it through `AWS_ENDPOINT_URL_S3` and `S3_CREDENTIALS`, as they would reach
    MinIO or any other S3-compatible store."""
    with moto_server(log_dir) as url:
        s3_client(url).create_bucket(Bucket=bucket)
        yield url


def s3_env(url: str) -> dict[str, str]:
    """The environment a client of the S3 server at `url` needs: credentials and endpoint, as
    it would have for MinIO or any other S3-compatible store."""
    return S3_CREDENTIALS | {"AWS_ENDPOINT_URL_S3": url}


def s3_client(url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
    )


def s3_keys(url: str, bucket: str) -> list[str]:
    """Every object key in `bucket`."""
    pages = s3_client(url).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def stop(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """Ask a server to shut down; kill it if it has not within 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def _tail(path: str | Path) -> str:
    return Path(path).read_text(errors="replace")[-3000:]
