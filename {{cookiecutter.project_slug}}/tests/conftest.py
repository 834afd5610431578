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


@pytest.fixture
def sample() -> pd.DataFrame:
    return pd.read_csv(SAMPLE)


@pytest.fixture
def run_cli(tmp_path: Path) -> Iterator[RunCli]:
    with scratch_directory(tmp_path) as run:
        yield run
