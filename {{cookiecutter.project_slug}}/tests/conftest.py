from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from {{ cookiecutter.package_name }}.cli import app

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = Path(__file__).parent / "data" / "sample.csv"  # 300 real rows of data/raw/adult.csv

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
