from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from {{ cookiecutter.package_name }}.cli import app

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = Path(__file__).parent / "data" / "sample.csv"  # 300 real rows of data/raw/adult.csv

RunCli = Callable[..., Result]


@pytest.fixture
def sample() -> pd.DataFrame:
    return pd.read_csv(SAMPLE)


@pytest.fixture
def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """Run the CLI as dvc.yaml does, inside a scratch directory with its own MLflow store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")

    def run(*args: str | Path) -> Result:
        argv = [str(arg) for arg in args]
        return CliRunner().invoke(app, [*argv, "--params", str(ROOT / "params.yaml")])

    return run
