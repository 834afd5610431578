"""The multiclass and regression tasks, generated and used for real (binary, the default, is
test_generated.py's): one project per task, used in file order as its user would.

Per task: `make check`, the project's own tests, `make run` with the task's metrics and plots, a
second `dvc repro` that does nothing, a parameter change and `make report`, the serving image's
entrypoint answering the README's example request and refusing a malformed one, bad targets
stopping the pipeline at validate, and a report across a change of target saying the two are
not comparable.
"""

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import bake, mermaid_charts, post, run, serving_entrypoint

pytestmark = pytest.mark.slow

# What each task's project must show: its metrics (in order), a floor the bundled dataset's
# model clears on its gate metric, its figures, the report's images, and another column of the
# same dataset that can be the target (for the not-comparable report).
TASKS = {
    "multiclass": {
        "metrics": ["balanced_accuracy", "roc_auc_ovr", "log_loss", "accuracy", "f1_macro"],
        "floor": ("balanced_accuracy", 0.9),
        "figures": {"roc.png", "precision_recall.png", "confusion_matrix.png"},
        "report_images": {"roc.png", "precision_recall.png", "confusion.png"},
        "charts": {"f1 by label"},
        "raw": "data/raw/rodents.csv",
        "new_target": "plot_type",
    },
    "regression": {
        "metrics": ["r2", "rmse", "mae", "mape"],
        "floor": ("r2", 0.9),
        "figures": {"predicted_vs_actual.png", "residuals.png"},
        "report_images": {"predicted_vs_actual.png", "residuals.png"},
        "charts": {"Mean prediction by actual value", "Residuals"},
        "raw": "data/raw/hotel_rates.csv",
        "new_target": "historical_adr",
    },
}
CLI = ("uv", "run", "--frozen", "task-demo")


@pytest.fixture(scope="module", params=list(TASKS), ids=list(TASKS))
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    task = request.param
    project = bake(tmp_path_factory.mktemp(task), task=task, project_name="Task Demo")
    run(project, "make", "setup")
    return project


def task_of(project: Path) -> str:
    answers = json.loads((project / ".cruft.json").read_text())
    return str(answers["context"]["cookiecutter"]["task"])


def commit_all(project: Path, message: str) -> None:
    run(project, "git", "add", "--all")
    run(project, "git", "commit", "--quiet", "--no-verify", "--message", message)


def test_make_check_passes(project: Path) -> None:
    run(project, "make", "check")


def test_the_projects_own_tests_pass(project: Path) -> None:
    completed = run(project, "make", "test")
    assert " passed" in completed.stdout and " failed" not in completed.stdout
    assert " skipped" not in completed.stdout, "a case tests nothing in this project"


def test_pipeline_writes_the_tasks_metrics_and_plots(project: Path) -> None:
    expected = TASKS[task_of(project)]

    completed = run(project, "make", "run")

    for stage in ("prepare", "validate", "train", "evaluate"):
        assert f"Running stage '{stage}'" in completed.stdout, f"{stage} did not run"
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert list(metrics) == expected["metrics"], metrics
    name, floor = expected["floor"]
    assert metrics[name] > floor, f"{name} {metrics[name]:.4f}: worse than this dataset allows"
    figures = {path.name for path in (project / "reports" / "figures").iterdir()}
    assert figures == expected["figures"]
    evaluated = json.loads((project / "reports" / "plots" / "task.json").read_text())
    assert evaluated["task"] == task_of(project)


def test_second_run_with_nothing_changed_does_nothing(project: Path) -> None:
    completed = run(project, "uv", "run", "--frozen", "dvc", "repro")

    assert "Running stage" not in completed.stdout, completed.stdout


def test_report_after_a_parameter_change_compares_the_tasks_metrics(project: Path) -> None:
    # given the first results committed and the learning rate changed
    commit_all(project, "Train the baseline")
    base = json.loads((project / "reports" / "metrics.json").read_text())
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["model"]["learning_rate"] = 0.2
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(project, "uv", "run", "--frozen", "dvc", "repro")

    # when the report is built against the last commit
    run(project, "make", "report")

    # then it shows the gate metric of the task, both sides, and the task's plots
    head = json.loads((project / "reports" / "metrics.json").read_text())
    gate = params["evaluate"]["gate_metric"]
    markdown = (project / "reports" / "pr" / "report.md").read_text()
    assert f"| **{gate}** (gate) | {base[gate]:.4f} | {head[gate]:.4f} |" in markdown, markdown
    assert "| `train.model.learning_rate` | `0.1` | `0.2` |" in markdown
    if task_of(project) == "multiclass":
        assert "### Per label (test split)" in markdown
    expected = TASKS[task_of(project)]["report_images"]
    for image in expected:
        assert f"]({image})" in markdown, f"{image} is not in the report"
        assert (project / "reports" / "pr" / image).stat().st_size > 0
    # and its charts are drawn from the text, both revisions on each, in Mermaid that parses
    charts = mermaid_charts(markdown)
    assert set(charts) == TASKS[task_of(project)]["charts"]
    for chart in charts.values():
        assert '"base ' in chart and '"this change"' in chart
    commit_all(project, "Tune the learning rate")


def readme_request(project: Path) -> dict[str, object]:
    """The example request of the generated README's "Serve the model"."""
    readme = (project / "README.md").read_text()
    match = re.search(r"-d '(\{\"records\".*?\})'\n```", readme, re.DOTALL)
    assert match, "the README shows no example request"
    return dict(json.loads(match[1]))


def test_the_serving_entrypoint_answers_the_readmes_request_and_refuses_a_malformed_one(
    project: Path,
) -> None:
    request = readme_request(project)
    labels = json.loads((project / "reports" / "plots" / "task.json").read_text())["labels"]
    (record,) = request["records"]  # type: ignore[misc]
    numeric = next(name for name, value in record.items() if isinstance(value, int))

    with serving_entrypoint(project) as served:
        status, body = post(f"{served.url}/predict", request)
        bad_status, bad_body = post(
            f"{served.url}/predict", {"records": [{**record, numeric: "many"}]}
        )

    assert status == 200, body
    (answer,) = body["predictions"]  # type: ignore[index]
    if task_of(project) == "regression":
        assert set(answer) == {"prediction"} and isinstance(answer["prediction"], float)
    else:
        assert list(answer["probabilities"]) == labels and answer["label"] in labels
    assert bad_status == 422, bad_body
    assert [error["loc"][-1] for error in bad_body["detail"]] == [numeric], bad_body


def test_bad_targets_stop_the_pipeline_at_validate(project: Path) -> None:
    # given the raw data with one target value missing and one that the task cannot take
    raw = project / TASKS[task_of(project)]["raw"]
    lines = raw.read_text().splitlines()
    target = _target(project)
    column = lines[0].split(",").index(target)
    wrong = "an-undeclared-label" if task_of(project) == "multiclass" else "a lot"
    for row, value in ((3, ""), (4, wrong)):
        cells = lines[row + 1].split(",")
        cells[column] = value
        lines[row + 1] = ",".join(cells)
    raw.write_text("\n".join(lines) + "\n")
    model_before = (project / "models" / "run.json").read_text()

    completed = run(project, "uv", "run", "--frozen", "dvc", "repro", check=False)

    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert f"| {target} | null values | 1 | 3: null |" in output, output
    expected = "isin(" if task_of(project) == "multiclass" else "wrong type: expected float64"
    assert re.search(rf"\| {target} \| {re.escape(expected)}.* \| 1 \| 4: '{wrong}' \|", output)
    assert "Running stage 'train'" not in output
    assert (project / "models" / "run.json").read_text() == model_before, "a model was trained"
    run(project, "git", "checkout", "--", ".")
    run(project, "uv", "run", "--frozen", "dvc", "checkout", "--force")


def _target(project: Path) -> str:
    package = next((project / "src").iterdir())
    schema = (package / "schema.py").read_text()
    match = re.search(r'^TARGET: Final = "(\w+)"', schema, re.MULTILINE)
    assert match, "schema.py names no TARGET"
    return match[1]


def test_a_report_across_a_change_of_target_says_not_comparable(project: Path) -> None:
    # given the contract's target moved to another column of the same data, and trained
    old, new = _target(project), TASKS[task_of(project)]["new_target"]
    schema_path = next((project / "src").iterdir()) / "schema.py"
    schema = schema_path.read_text()
    schema_path.write_text(schema.replace(f'TARGET: Final = "{old}"', f'TARGET: Final = "{new}"'))
    run(project, "uv", "run", "--frozen", "dvc", "repro")

    # when the report compares it with the last commit
    markdown = run(project, *CLI, "report", "--base", "HEAD").stdout

    # then it refuses to judge, naming what changed
    assert f"**Not comparable: the target changed ({old} → {new}).**" in markdown, markdown
    assert "better" not in markdown and "worse" not in markdown
