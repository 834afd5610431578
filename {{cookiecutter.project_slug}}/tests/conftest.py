import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner, Result

from {{ cookiecutter.package_name }} import contract
from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.promote import register, tag_image
from {{ cookiecutter.package_name }}.settings import load_params
from {{ cookiecutter.package_name }}.tasks import higher_is_better
from {{ cookiecutter.package_name }}.tracking import RunRef

ROOT = Path(__file__).resolve().parents[1]
# A few hundred real rows of the raw data: every test builds its data from them and from the
# contract, never from a column name, so they keep testing what they say after a data swap.
SAMPLE = Path(__file__).parent / "data" / "sample.csv"

GATE = load_params(ROOT / "params.yaml").evaluate.gate_metric
BETTER = 1 if higher_is_better(GATE) else -1  # the sign of an improvement on the gate metric
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
    ("evaluate", "models", "prepared/test.parquet", "reports/metrics.json", "reports/plots",
     "reports/figures", "--train-file", "prepared/train.parquet"),
)  # fmt: skip


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory in which every stage has run once on the sample, as `dvc repro` runs them;
    a git repository of one commit, so that the run can record which commit trained it."""
    directory = tmp_path_factory.mktemp("pipeline")
    identity = ["-c", "user.name=tests", "-c", "user.email=tests@example.com"]
    commit = [*identity, "commit", "--quiet", "--allow-empty", "--message", "Train"]
    for git in (["init", "--quiet"], commit):
        subprocess.run(["git", *git], cwd=directory, check=True, capture_output=True, timeout=60)
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


def registered_name(tmp_path: Path) -> str:
    """The model `registry` registers for the test that owns `tmp_path`: the store is shared
    by the session, so a test finds its own model by name, never by its place in a listing."""
    return f"model-{tmp_path.name}"


@pytest.fixture
def registry(trained: Path, tmp_path: Path) -> Iterator[tuple[MlflowClient, list[int]]]:
    """Versions 1 (the trained model), 2 (worse on the gate metric) and 3 (better)."""
    ref = RunRef.read(trained / "models" / "run.json")
    client = MlflowClient(tracking_uri=ref.tracking_uri)
    name = registered_name(tmp_path)
    baseline = client.get_run(ref.run_id).data.metrics[f"test_{GATE}"]
    versions = [register(client, name, ref.run_id, {}).version]
    for shift in (-0.1 * BETTER, +0.01 * BETTER):
        run = client.create_run(ref.experiment_id)
        client.log_metric(run.info.run_id, f"test_{GATE}", baseline + shift)
        client.set_terminated(run.info.run_id)
        created = client.create_model_version(name, f"runs:/{ref.run_id}/model", run.info.run_id)
        versions.append(int(created.version))
    for number in versions:
        tag_image(client, name, number, DIGEST)
    mlflow.set_tracking_uri(ref.tracking_uri)
    yield client, versions


def version_with_metrics(
    client: MlflowClient, name: str, like: int, metrics: dict[str, float]
) -> int:
    """A new version of `name` holding version `like`'s model, from a run that logged only
    `metrics` (named as evaluate logs them: `test_<metric>`), with its image recorded."""
    source = client.get_model_version(name, str(like))
    run = client.create_run(client.get_run(str(source.run_id)).info.experiment_id)
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id)
    created = client.create_model_version(name, str(source.source), run.info.run_id)
    tag_image(client, name, int(created.version), DIGEST)
    return int(created.version)


# What the contract lets a test break, found in the contract rather than named. Each returns a
# column (and a value that breaks it), or None when this contract has no such column: a test
# then asserts the opposite, that what the contract does not forbid is accepted, so no case is
# skipped after a data swap.


UPPER_BOUNDS = ("less_than_or_equal_to", "less_than", "in_range")
LOWER_BOUNDS = ("greater_than_or_equal_to", "greater_than")


def bounded_feature() -> tuple[str, float, str] | None:
    """A numeric feature with a bound, a value past it, and the name pandera gives the check."""
    for name in contract.numeric_features():
        for check in contract.columns()[name].checks:
            if check.name in UPPER_BOUNDS:
                return name, check.statistics["max_value"] + 1000, str(check.error)
            if check.name in LOWER_BOUNDS:
                return name, check.statistics["min_value"] - 1000, str(check.error)
    return None


def categorical_feature() -> tuple[str, str] | None:
    """A text feature that lists its categories, and a value outside them that is no longer than
    they are (a longer one is refused for its length before the categories are looked at)."""
    for name in contract.categorical_features():
        for check in contract.columns()[name].checks:
            if check.name == "isin":
                categories = [str(value) for value in check.statistics["allowed_values"]]
                outside = "?" * min(map(len, categories))
                assert outside not in categories
                return name, outside
    return None


def integer_feature() -> str | None:
    for name in contract.feature_columns():
        if str(contract.columns()[name].dtype) == "int64":
            return name
    return None


def numeric_feature() -> str:
    """An integer feature if there is one, else a float one: where "forty" is the wrong type."""
    return integer_feature() or contract.numeric_features()[0]


def required_feature() -> str | None:
    """A feature that may not be null."""
    for name in contract.feature_columns():
        if not contract.columns()[name].nullable:
            return name
    return None


def nullable_feature() -> str | None:
    for name in contract.feature_columns():
        if contract.columns()[name].nullable:
            return name
    return None
