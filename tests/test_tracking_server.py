"""The tracking server of a generated project's deploy/mlflow/, as a team runs it once it
outgrows the embedded SQLite store: PostgreSQL for runs and the registry, an S3 bucket for
artifacts, all on loopback. The clients are the project's own `train` and `register` commands."""

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT_ENV, bake, run, serving_environment, wait_until_healthy
from servers import (
    MLFLOW_ENTRYPOINT,
    TrackingServer,
    free_port,
    mlflow_server,
    postgres,
    s3_env,
    s3_keys,
    s3_server,
)

pytestmark = pytest.mark.slow

MODEL = "income-classifier"  # the default answers' model and experiment name
BUCKET = "mlflow"
TRAIN = ("data/prepared/train.parquet", "reports/validation/validation.json")
CLIENTS = 4
# A team moving from the last MLflow 2 meets the largest migration there is, and what it wrote
# (a run with a metric, a registered version of it) must come through.
OLDER_MLFLOW = "mlflow==2.22.1"
OLDER_DATE = "2025-07-15"  # its dependencies as they were then (SQLAlchemy 2.1 broke it since)
OLDER_CLIENT = """
import sys
from mlflow import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1], registry_uri=sys.argv[1])
experiment = client.create_experiment("before-upgrade", artifact_location="s3://mlflow/older")
run = client.create_run(experiment)
client.log_metric(run.info.run_id, "roc_auc", 0.75)
client.set_terminated(run.info.run_id)
client.create_registered_model("before-upgrade")
client.create_model_version("before-upgrade", "s3://mlflow/older/model", run.info.run_id)
print(run.info.run_id)
"""


@dataclass
class Team:
    project: Path
    server: TrackingServer
    s3_url: str

    def train(self, out_dir: str) -> subprocess.Popen[str]:
        """`train` as the pipeline's stage runs it, logging to the server; not waited for."""
        command = ["uv", "run", "--frozen", MODEL, "train", *TRAIN, out_dir,
                   "--raw", "data/raw/adult.csv"]  # fmt: skip
        return subprocess.Popen(
            command, cwd=self.project, env=self.client_env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip

    @property
    def client_env(self) -> dict[str, str]:
        # No bucket credentials: the server proxies artifacts, clients only know its URL.
        return PROJECT_ENV | {"MLFLOW_TRACKING_URI": self.server.url}

    def api(self, endpoint: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self.server.url}/api/2.0/mlflow/{endpoint}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return dict(json.load(response))

    def runs(self) -> list[dict[str, Any]]:
        try:
            experiment = self.api(f"experiments/get-by-name?experiment_name={MODEL}")["experiment"]
        except urllib.error.HTTPError as error:
            if error.code == 404:  # no run yet
                return []
            raise
        found = self.api("runs/search", {"experiment_ids": [experiment["experiment_id"]]})
        return list(found.get("runs", []))

    def versions(self) -> dict[int, str]:
        search = urllib.parse.urlencode({"filter": f"name = '{MODEL}'"})
        found = self.api(f"model-versions/search?{search}").get("model_versions", [])
        return {int(version["version"]): version["run_id"] for version in found}


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    root = tmp_path_factory.mktemp("tracking-server")
    project = bake(root)
    run(project, "uv", "sync", "--frozen")
    run(project, "uv", "run", "--frozen", "dvc", "repro", "validate")  # the split runs train on
    with (
        postgres() as database,
        s3_server(BUCKET, root) as s3_url,
        mlflow_server(
            project, database, f"s3://{BUCKET}/artifacts", root,
            env=s3_env(s3_url),
        ) as server,
    ):  # fmt: skip
        yield Team(project, server, s3_url)


def finish(process: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def test_four_training_runs_at_once_are_all_logged(team: Team) -> None:
    # given four people training at the same moment against one fresh server
    clients = [team.train(f"runs/client-{number}") for number in range(CLIENTS)]

    # when they finish
    results = [finish(client) for client in clients]

    # then every one succeeded and the server has each run, finished, with its metrics
    for number, (code, stdout, stderr) in enumerate(results):
        assert code == 0, f"client {number} failed:\n{stdout}\n{stderr[-4000:]}"
    run_ids = {
        json.loads((team.project / f"runs/client-{number}/run.json").read_text())["run_id"]
        for number in range(CLIENTS)
    }
    assert len(run_ids) == CLIENTS, "two clients got the same run"
    logged = {found["info"]["run_id"]: found for found in team.runs()}
    assert run_ids <= set(logged), f"runs missing on the server: {run_ids - set(logged)}"
    for run_id in run_ids:
        assert logged[run_id]["info"]["status"] == "FINISHED"
        metrics = {metric["key"] for metric in logged[run_id]["data"]["metrics"]}
        assert "fit_seconds" in metrics, "the training run logged no metric"
    # and each model is in the bucket (through the server's proxy), and came back to its client
    models = [key for key in s3_keys(team.s3_url, BUCKET) if key.endswith("/MLmodel")]
    assert len(models) >= CLIENTS, f"{len(models)} models in the bucket for {CLIENTS} runs"
    for number in range(CLIENTS):
        assert (team.project / f"runs/client-{number}/model/MLmodel").is_file()


def test_a_server_restarted_mid_run_loses_no_registered_version(team: Team) -> None:
    # given a registered version with `staging` on it
    trained = team.train("runs/registered")
    assert finish(trained)[0] == 0
    register = ("uv", "run", "--frozen", MODEL, "register", "--run-file",
                "runs/registered/run.json", "--commit", "before-restart")  # fmt: skip
    registered = subprocess.run(
        register, cwd=team.project, env=team.client_env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr[-4000:]
    before = team.versions()
    assert len(before) == 1

    # when the server is killed while a run is logging, and comes back on the same address
    known = {found["info"]["run_id"] for found in team.runs()}
    client = team.train("runs/interrupted")
    deadline = time.monotonic() + 300
    while not any(
        found["info"]["status"] == "RUNNING" and found["info"]["run_id"] not in known
        for found in team.runs()
    ):
        assert client.poll() is None, f"the run ended before it logged:\n{finish(client)}"
        assert time.monotonic() < deadline, "the run never started logging"
        time.sleep(0.1)
    team.server.crash()
    assert client.poll() is None, "the run was over before the server went down"
    time.sleep(2)
    team.server.start()
    code, stdout, stderr = finish(client)

    # then the run either completed, model and all, or failed saying where and what to do
    [found] = [found for found in team.runs() if found["info"]["run_id"] not in known]
    run_id = found["info"]["run_id"]
    if code == 0:
        assert run_id in stdout and found["info"]["status"] == "FINISHED"
        assert (team.project / "runs/interrupted/model/MLmodel").is_file()
    else:
        assert f"Could not log the run to MLflow at {team.server.url}" in stderr, stderr[-4000:]
        assert "run the stage again" in stderr
        assert found["info"]["status"] != "FINISHED"
        assert not (team.project / "runs/interrupted/run.json").exists()
    # and the registry still has every version and alias it had
    after = team.versions()
    assert after == before
    model = team.api(f"registered-models/get?name={MODEL}")["registered_model"]
    assert {alias["alias"]: alias["version"] for alias in model["aliases"]} == {"staging": "1"}


def test_the_serving_image_environment_serves_a_registered_alias(team: Team) -> None:
    # given a version registered with `production` on it, and the serving image's environment
    # (the serving group alone: mlflow-skinny, no MLflow server, no SQLAlchemy)
    trained = team.train("runs/served")
    assert finish(trained)[0] == 0
    register = ("uv", "run", "--frozen", MODEL, "register", "--run-file", "runs/served/run.json",
                "--commit", "served", "--alias", "production")  # fmt: skip
    registered = subprocess.run(
        register, cwd=team.project, env=team.client_env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr[-4000:]
    [version] = [v for v, run_id in team.versions().items()
                 if run_id == json.loads((team.project / "runs/served/run.json").read_text())[
                     "run_id"]]  # fmt: skip
    venv = serving_environment(team.project)

    # when `serve --alias production` starts there (what `make serve ALIAS=production` runs)
    port = free_port()
    command = [str(venv / "bin" / "python"), "-m", MODEL.replace("-", "_"), "serve",
               "--alias", "production", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    env = team.client_env | {"PYTHONPATH": str(team.project / "src"),
                             "INFERENCE_LOG_ENABLED": "false"}  # fmt: skip
    with subprocess.Popen(
        command, cwd=team.project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as server:
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}/health", server, seconds=120)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=10) as answer:
                served = json.load(answer)
        finally:
            server.terminate()
            output = server.communicate(timeout=30)[0].decode()

    # then it serves exactly that version, fetched from the server
    assert served["model_version"] == str(version), (served, output[-3000:])
    assert f"Serving {MODEL} version {version} (production)" in output, output[-3000:]


def test_the_server_entry_point_names_what_is_missing(team: Team) -> None:
    # given no artifact store, the server refuses to start rather than write to its own disk
    unset = dict(team.server.env)
    del unset["MLFLOW_ARTIFACTS_DESTINATION"]
    refused = subprocess.run(
        [*MLFLOW_ENTRYPOINT, "server"], cwd=team.project, env=unset, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "MLFLOW_ARTIFACTS_DESTINATION" in refused.stderr and "s3://" in refused.stderr


def test_a_database_an_older_mlflow_made_is_refused_until_upgraded_in_place(
    team: Team, tmp_path: Path
) -> None:
    with postgres() as database:
        # given a database that the last MLflow 2 wrote a run and a registered version to
        older = subprocess.run(
            ["uv", "run", "--no-project", "--python", "3.11", "--exclude-newer", OLDER_DATE,
             "--with", OLDER_MLFLOW,
             "--with", "psycopg2-binary", "python", "-c", OLDER_CLIENT,
             database.replace("+psycopg:", ":")],  # MLflow 2 with psycopg2, as teams ran it
            cwd=team.project, env=PROJECT_ENV, capture_output=True, text=True, timeout=600,
            check=False,
        )  # fmt: skip
        assert older.returncode == 0, older.stderr[-4000:]
        run_id = older.stdout.split()[-1]
        port = free_port()
        env = team.server.env | {"MLFLOW_BACKEND_STORE_URI": database, "MLFLOW_PORT": str(port)}

        # when this project's server starts on it, it refuses, naming the upgrade (the README's
        # promise): MLflow's own server would start and migrate it unasked
        server = subprocess.Popen(
            [*MLFLOW_ENTRYPOINT, "server"], cwd=team.project, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        try:
            _, stderr = server.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.communicate()
            pytest.fail("a server started on an out-of-date schema")
        assert server.returncode != 0 and "Out-of-date database schema" in stderr, stderr[-4000:]
        assert "entrypoint.sh upgrade" in stderr

        # and after the entry point's upgrade, a server on it serves the run and the version
        upgraded = subprocess.run(
            [*MLFLOW_ENTRYPOINT, "upgrade"], cwd=team.project, env=env, capture_output=True,
            text=True, timeout=300, check=False,
        )  # fmt: skip
        assert upgraded.returncode == 0, upgraded.stderr[-4000:]
        with mlflow_server(
            team.project, database, f"s3://{BUCKET}/upgraded", tmp_path,
            env=s3_env(team.s3_url),
        ) as server:  # fmt: skip
            upgraded_team = Team(team.project, server, team.s3_url)
            found = upgraded_team.api(f"runs/get?run_id={run_id}")["run"]
            assert {m["key"]: m["value"] for m in found["data"]["metrics"]} == {"roc_auc": 0.75}
            search = urllib.parse.urlencode({"filter": "name = 'before-upgrade'"})
            versions = upgraded_team.api(f"model-versions/search?{search}")["model_versions"]
            assert [(v["version"], v["run_id"]) for v in versions] == [("1", run_id)]
