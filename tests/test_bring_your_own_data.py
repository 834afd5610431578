"""A team's own table, put into a generated project by the generated README's steps alone.

For each task, a real table the template does not bundle (tests/data/byod/) goes into one
default project in turn: binary credit applications, then multiclass penguins, then regression
house sales, each starting from the project the previous one left. Only what the README's
"Change the dataset or the schema" names is edited: the data (moved and replaced with the
README's own commands), `schema.py`, `params.yaml` and `tests/data/sample.csv`. Then
`make test && make run` pass, with the new task's metrics.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_ENV, bake, run

pytestmark = pytest.mark.slow

BYOD = Path(__file__).parent / "data" / "byod"
PACKAGE = "own_data"
SAMPLE_ROWS = 300
# table -> its task, the gate metric the README names for that task, the metrics it reports
TABLES = {
    "credit": (
        "binary",
        "roc_auc",
        ["roc_auc", "average_precision", "log_loss", "accuracy", "precision", "recall", "f1"],
    ),
    "penguins": (
        "multiclass",
        "balanced_accuracy",
        ["balanced_accuracy", "roc_auc_ovr", "log_loss", "accuracy", "f1_macro"],
    ),
    "sacramento": ("regression", "r2", ["r2", "rmse", "mae", "mape"]),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = bake(tmp_path_factory.mktemp("byod"), project_name="Own Data")
    run(project, "make", "setup")
    return project


def readme_commands(project: Path) -> tuple[str, str]:
    """Step 1 of the README's "Change the dataset": the command that replaces the data and
    the one that renames it, as the README prints them."""
    readme = (project / "README.md").read_text()
    section = readme[readme.index("## Change the dataset") :]
    replace = re.search(r"`(cp path/to/new\.csv \S+ && uv run dvc add \S+)`", section)
    rename = re.search(r"`(uv run dvc mv \S+ data/raw/bookings\.csv)`", section)
    assert replace and rename, "the README no longer says how to replace and rename the data"
    return replace[1], rename[1]


def shell(project: Path, command: str) -> None:
    completed = subprocess.run(
        ["bash", "-c", command], cwd=project, env=PROJECT_ENV, capture_output=True, text=True
    )
    assert completed.returncode == 0, f"`{command}`: {completed.stdout}{completed.stderr}"


def schema_text(table: str) -> str:
    return (BYOD / f"{table}_schema.py").read_text()


def write_sample(table: Path, sample: Path) -> None:
    """Every n-th row of the table, about SAMPLE_ROWS of them, as a user would pick a few
    hundred real rows."""
    header, *rows = table.read_text().splitlines()
    step = max(1, len(rows) // SAMPLE_ROWS)
    sample.write_text("\n".join([header, *rows[::step]]) + "\n")


@pytest.mark.parametrize("table", list(TABLES), ids=list(TABLES))
def test_a_table_put_in_by_the_readme_tests_and_trains(project: Path, table: str) -> None:
    task, gate, metrics = TABLES[table]
    params_file = project / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    current, new = params["data"]["raw"], f"data/raw/{table}.csv"
    replace, rename = readme_commands(project)
    readme_raw = rename.split()[4]  # the path the README was generated with

    # 1. the data: renamed with DVC, then replaced, with the README's commands
    shell(project, rename.replace(readme_raw, current).replace("data/raw/bookings.csv", new))
    shell(
        project,
        replace.replace(readme_raw, new).replace("path/to/new.csv", str(BYOD / f"{table}.csv")),
    )
    # 2. the contract: the task, the target, one field per column
    shutil.copyfile(BYOD / f"{table}_schema.py", project / "src" / PACKAGE / "schema.py")
    # 3. params.yaml: where the data is, and a gate metric of the task (a threshold for binary)
    params["data"]["raw"] = new
    params["evaluate"] = {"gate_metric": gate} | ({"threshold": 0.5} if task == "binary" else {})
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    # 4. a few hundred real rows for the tests
    write_sample(BYOD / f"{table}.csv", project / "tests" / "data" / "sample.csv")

    # then the project's own tests pass, none skipped for what this contract lacks, and so does
    # the pipeline, with the task's metrics
    tested = run(project, "make", "test")
    assert " passed" in tested.stdout and " failed" not in tested.stdout
    assert " skipped" not in tested.stdout, tested.stdout[-2000:]
    ran = run(project, "make", "run")
    assert "Running stage 'train'" in ran.stdout
    produced = json.loads((project / "reports" / "metrics.json").read_text())
    assert list(produced) == metrics, produced
    evaluated = json.loads((project / "reports" / "plots" / "task.json").read_text())
    assert (evaluated["task"], evaluated["rows"] > 0) == (task, True)
    # and the model measured across the segments the contract declares, every row in a group
    segments = json.loads((project / "reports" / "plots" / "segments.json").read_text())
    declared = re.search(r"^SEGMENTS: Final = \{(.*)\}$", schema_text(table), re.MULTILINE)
    assert declared, "every team table here declares segments"
    assert [segment["column"] for segment in segments] == re.findall(r'"(\w+)":', declared[1])
    for segment in segments:
        assert sum(group["rows"] for group in segment["groups"]) == evaluated["rows"]
    assert not (project / current).exists() or current == new, "the old data is still there"
