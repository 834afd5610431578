"""How many training runs a minute the tracking store takes: the shared server of deploy/mlflow/
(PostgreSQL for runs, an S3 bucket for artifacts) against the embedded SQLite default.

Each client is a process in the generated project's environment that logs runs the way `train`
does (parameters, metrics, tags, a model-sized artifact), as fast as it can, for a bounded time
and count, after one client has warmed the store up (schema, experiment). With 1 and 4 clients
at once, prints runs per minute and how many runs failed; and 4 clients on a fresh SQLite file,
who all try to create its schema at once.

Usage: python bench/tracking.py   (part of `make bench`)
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from conftest import PROJECT_ENV, bake, run  # noqa: E402 (after the path it is found on)
from servers import mlflow_server, postgres, s3_env, s3_server  # noqa: E402

CLIENT_COUNTS = (1, 4)
SECONDS = 30  # per client, per configuration
MAX_RUNS = 2000  # per client, whatever the time left
WARM_UP_SECONDS = 5  # one client first, not counted: creates the schema and the experiment
ARTIFACT_BYTES = 256 * 1024  # about a small scikit-learn model

# Runs inside the project's environment (its MLflow); prints one JSON line.
CLIENT = """
import json, os, sys, time
import mlflow

seconds, max_runs, artifact = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
done, errors, first_error = 0, 0, None
start = time.monotonic()
while time.monotonic() - start < seconds and done + errors < max_runs:
    try:
        mlflow.set_experiment("bench")
        with mlflow.start_run(tags={"git_commit": "bench", "data_version": "bench"}):
            mlflow.log_params({f"param_{i}": i for i in range(10)})
            mlflow.log_metrics({f"metric_{i}": i / 10 for i in range(10)})
            mlflow.log_artifact(artifact, "model")
        done += 1
    except Exception as error:
        errors += 1
        first_error = first_error or f"{type(error).__name__}: {str(error)[:200]}"
print(json.dumps({"runs": done, "errors": errors, "seconds": time.monotonic() - start,
                  "first_error": first_error}))
"""


def measure(
    project: Path, uri: str, clients: int, seconds: float = SECONDS
) -> dict[str, float | int | str | None]:
    env = PROJECT_ENV | {"MLFLOW_TRACKING_URI": uri, "PYTHONWARNINGS": "ignore"}
    command = ["uv", "run", "--frozen", "python", "bench_client.py", str(seconds), str(MAX_RUNS),
               "artifact.bin"]  # fmt: skip
    quiet = {"stdout": subprocess.PIPE, "stderr": subprocess.DEVNULL}  # MLflow logs every run
    processes = [
        subprocess.Popen(command, cwd=project, env=env, text=True, **quiet) for _ in range(clients)
    ]
    # The figures are each client's last line: MLflow prints run links on stdout too.
    outputs = [process.communicate(timeout=seconds + 300)[0] for process in processes]
    results = [json.loads(output.strip().splitlines()[-1]) for output in outputs]
    runs = sum(result["runs"] for result in results)
    errors = [result["first_error"] for result in results if result["first_error"]]
    return {
        "runs": runs,
        "errors": sum(result["errors"] for result in results),
        "runs_per_minute": runs / max(result["seconds"] for result in results) * 60,
        "first_error": errors[0] if errors else None,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        project = bake(root)
        run(project, "uv", "sync", "--frozen")
        (project / "bench_client.py").write_text(CLIENT)
        (project / "artifact.bin").write_bytes(bytes(ARTIFACT_BYTES))
        rows = []
        for clients in CLIENT_COUNTS:
            uri = f"sqlite:///{root}/embedded-{clients}.db"
            measure(project, uri, 1, WARM_UP_SECONDS)
            rows.append(("embedded SQLite", clients, measure(project, uri, clients)))
        # A fresh file whose first users arrive together: each client creates the schema.
        fresh = f"sqlite:///{root}/embedded-fresh.db"
        rows.append(("embedded SQLite, fresh", 4, measure(project, fresh, 4)))
        with (
            postgres() as database,
            s3_server("mlflow", root) as s3_url,
            mlflow_server(
                project, database, "s3://mlflow/artifacts", root,
                env=s3_env(s3_url) | {"MLFLOW_WORKERS": "2"},
            ) as server,
        ):  # fmt: skip
            measure(project, server.url, 1, WARM_UP_SECONDS)
            for clients in CLIENT_COUNTS:
                figures = measure(project, server.url, clients)
                rows.append(("server: PostgreSQL + S3", clients, figures))

    print(f"Training-run logging, {SECONDS} s per configuration, {ARTIFACT_BYTES // 1024} KiB "
          "artifact per run (2 cores)")  # fmt: skip
    print(f"{'store':<26}{'clients':>8}{'runs':>7}{'runs/min':>10}{'errors':>8}")
    for store, clients, figures in rows:
        print(f"{store:<26}{clients:>8}{figures['runs']:>7}{figures['runs_per_minute']:>10.0f}"
              f"{figures['errors']:>8}")  # fmt: skip
    for store, clients, figures in rows:
        if figures["first_error"]:
            print(f"first error, {store}, {clients} clients: {figures['first_error']}")


if __name__ == "__main__":
    main()
