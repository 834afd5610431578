from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner, Result

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.promote import register, tag_image
from {{ cookiecutter.package_name }}.settings import load_params
from {{ cookiecutter.package_name }}.tracking import RunRef

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = Path(__file__).parent / "data" / "sample.csv"  # 300 real rows of data/raw/adult.csv

GATE = load_params(ROOT / "params.yaml").evaluate.gate_metric
DIGEST = "sha256:" + "ab" * 32
IMAGE = "ghcr.io/acme/{{ cookiecutter.project_slug }}"

RunCli = Callable[..., Result]


@contextmanager
def scratch_directory(directory: Path) -> Iterator[RunCli]:
    """Run the CLI as dvc.yaml does, inside `directory`, with an MLflow store of its own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{directory / 'mlflow.db'}")

        def run(*args: str | Path) -> Result:
            argv = [str(arg) for arg in args]
            return CliRunner().invoke(app, [*argv, "--params", str(ROOT / "params.yaml")])

        yield run


STAGES = (
    ("prepare", SAMPLE, "prepared"),
    ("validate", "prepared", "reports/validation"),
    ("train", "prepared/train.parquet", "reports/validation/validation.json", "models",
     "--raw", SAMPLE),
    ("evaluate", "models", "prepared/test.parquet", "reports/metrics.json", "reports/plots"),
)  # fmt: skip


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory in which every stage has run once on the sample, as `dvc repro` runs them."""
    directory = tmp_path_factory.mktemp("pipeline")
    with scratch_directory(directory) as run_cli:
        for args in STAGES:
            result = run_cli(*args)
            assert result.exit_code == 0, f"{args[0]} failed: {result.output}"
        yield directory


@pytest.fixture
def sample() -> pd.DataFrame:
    return pd.read_csv(SAMPLE)


@pytest.fixture
def run_cli(tmp_path: Path) -> Iterator[RunCli]:
    with scratch_directory(tmp_path) as run:
        yield run


@pytest.fixture
def registry(trained: Path, tmp_path: Path) -> Iterator[tuple[MlflowClient, list[int]]]:
    """Versions 1 (the trained model), 2 (worse on the gate metric) and 3 (better)."""
    ref = RunRef.read(trained / "models" / "run.json")
    client = MlflowClient(tracking_uri=ref.tracking_uri)
    name = f"model-{tmp_path.name}"
    baseline = client.get_run(ref.run_id).data.metrics[f"test_{GATE}"]
    versions = [register(client, name, ref.run_id, {}).version]
    for shift in (-0.1, +0.01):
        run = client.create_run(ref.experiment_id)
        client.log_metric(run.info.run_id, f"test_{GATE}", baseline + shift)
        client.set_terminated(run.info.run_id)
        created = client.create_model_version(name, f"runs:/{ref.run_id}/model", run.info.run_id)
        versions.append(int(created.version))
    for number in versions:
        tag_image(client, name, number, DIGEST)
    mlflow.set_tracking_uri(ref.tracking_uri)
    yield client, versions
