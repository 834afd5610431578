"""The registry on a real tracking server, as a team runs it: MLflow with its backend store on
PostgreSQL, both on loopback. The generated project trains, registers, records the image and
promotes against it with nothing changed but `MLFLOW_TRACKING_URI`."""

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import bake, run
from servers import mlflow_server, postgres

pytestmark = pytest.mark.slow

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("registry")
    project = bake(root)
    run(project, "uv", "sync", "--frozen")
    with postgres() as database, mlflow_server(project, database, root / "artifacts") as url:
        yield project, url


def cli(project: Path, url: str, *args: str, check: bool = True) -> str:
    command = ("env", f"MLFLOW_TRACKING_URI={url}", "uv", "run", "--frozen", *args)
    return run(project, *command, check=check).stdout


def test_train_register_and_promote_against_a_postgres_backed_server(
    tracked: tuple[Path, str],
) -> None:
    project, url = tracked
    # given a model trained with the server as the tracking store
    cli(project, url, "dvc", "repro")
    run_ref = json.loads((project / "models" / "run.json").read_text())
    assert run_ref["tracking_uri"] == url, "the run was logged somewhere else"

    # when it is registered, its image recorded, and production.yaml names both
    registered = cli(project, url, "income-classifier", "register")
    assert "version 1" in registered and "staging -> 1" in registered
    cli(project, url, "income-classifier", "tag-image", "--version", "1", "--digest", DIGEST)
    environment = project / "environments" / "production.yaml"
    spec = yaml.safe_load(environment.read_text())
    spec["model"]["version"], spec["image"]["digest"] = 1, DIGEST
    environment.write_text(yaml.safe_dump(spec, sort_keys=False))
    first = cli(project, url, "income-classifier", "promote", str(environment))
    again = cli(project, url, "income-classifier", "promote", str(environment))

    # then the server itself says production is version 1, built from this commit and data
    assert "production now runs" in first and "nothing to change" in again
    script = textwrap.dedent(
        f"""
        import json
        from mlflow import MlflowClient
        client = MlflowClient({url!r})
        version = client.get_model_version_by_alias("income-classifier", "production")
        staging = client.get_model_version_by_alias("income-classifier", "staging")
        print(json.dumps({{"production": version.version, "staging": staging.version,
                           "tags": version.tags}}))
        """
    )
    state = json.loads(cli(project, url, "python", "-c", script).strip().splitlines()[-1])
    head = run(project, "git", "rev-parse", "HEAD").stdout.strip()
    assert state["production"] == "1" and state["staging"] == "1"
    assert state["tags"]["git_commit"] == head
    assert state["tags"]["image_digest"] == DIGEST
