"""A generated project, used for real: install, check, test, run the pipeline, feed it bad data.

The tests share one project and run in file order, each building on the state the previous
left, as a user's session would: set up, check, run, run again, change a parameter, break data.
"""

import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections import Counter
from datetime import timedelta
from pathlib import Path

import hypothesis
import pytest
import schemathesis
import yaml
from conftest import (
    PROJECT_ENV,
    TEMPLATE,
    bake,
    mermaid_charts,
    post,
    run,
    serving_entrypoint,
    wait_until_healthy,
)
from servers import free_port

pytestmark = pytest.mark.slow

PACKAGE = "income_classifier"
METRICS = Path("reports/metrics.json")
RAW = "data/raw/adult.csv"
NUMBERS = ("roc.csv", "precision_recall.csv", "confusion.csv", "per_class.csv", "task.json")
FIGURES = ("confusion_matrix.png", "roc.png", "precision_recall.png")
# Schemathesis against the served process, bounded: examples per generation mode (what the spec
# allows, and what it does not), each example's deadline, each request's timeout.
FUZZ_EXAMPLES = 50
FUZZ_DEADLINE = timedelta(seconds=5)
FUZZ_TIMEOUT_SECONDS = 10
# The request ids in the project's inference log (params.yaml's serve.capture.url)
LOGGED_IDS = "import pyarrow.parquet as pq; print(*pq.read_table('data/inference')['request_id'])"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = bake(tmp_path_factory.mktemp("generated"))
    run(project, "make", "setup")
    return project


def mlflow_runs(project: Path) -> list[dict[str, object]]:
    """Every run in the project's embedded MLflow store, read with the project's own MLflow."""
    script = textwrap.dedent(
        """
        import json, mlflow
        mlflow.set_tracking_uri("sqlite:///mlflow.db")
        runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
        print(json.dumps([
            {"id": r.info.run_id, "params": r.data.params, "metrics": r.data.metrics,
             "tags": r.data.tags}
            for r in runs
        ]))
        """
    )
    if not (project / "mlflow.db").exists():
        return []
    return list(json.loads(run(project, "uv", "run", "--frozen", "python", "-c", script).stdout))


def commit_all(project: Path, message: str) -> None:
    run(project, "git", "add", "--all")
    run(project, "git", "commit", "--quiet", "--no-verify", "--message", message)


def test_lock_installs_frozen_and_is_current(project: Path) -> None:
    run(project, "uv", "sync", "--frozen")
    run(project, "uv", "lock", "--check")


def test_pre_commit_passes_on_the_fresh_repository(project: Path) -> None:
    run(project, "uv", "run", "--frozen", "pre-commit", "run", "--all-files")
    assert run(project, "git", "status", "--porcelain").stdout == "", "a hook changed files"


def test_make_check_passes(project: Path) -> None:
    run(project, "make", "check")


def test_the_projects_own_tests_pass(project: Path) -> None:
    completed = run(project, "make", "test")
    assert " passed" in completed.stdout and " failed" not in completed.stdout
    assert " skipped" not in completed.stdout, "a case tests nothing in this project"


def test_pipeline_runs_end_to_end(project: Path) -> None:
    # when the user runs the pipeline
    completed = run(project, "make", "run")

    # then every stage ran, and metrics, plots, and one MLflow run with provenance exist
    for stage in ("prepare", "validate", "train", "evaluate"):
        assert f"Running stage '{stage}'" in completed.stdout, f"{stage} did not run"
    metrics = json.loads((project / METRICS).read_text())
    assert metrics["roc_auc"] > 0.85, f"the model is worse than this dataset allows: {metrics}"
    for name in NUMBERS:
        assert (project / "reports" / "plots" / name).stat().st_size > 0, f"{name} is empty"
    for name in FIGURES:
        assert (project / "reports" / "figures" / name).stat().st_size > 0, f"{name} is empty"
    (logged,) = mlflow_runs(project)
    assert logged["tags"]["git_commit"] == run(project, "git", "rev-parse", "HEAD").stdout.strip()
    pointer = yaml.safe_load((project / "data" / "raw" / "adult.csv.dvc").read_text())
    assert logged["tags"]["data_version"] == pointer["outs"][0]["md5"]
    assert logged["params"]["max_iter"] == "200"
    assert logged["metrics"]["test_roc_auc"] == pytest.approx(metrics["roc_auc"])


def test_second_run_with_nothing_changed_does_nothing(project: Path) -> None:
    lock_before = (project / "dvc.lock").read_text()

    completed = run(project, "uv", "run", "--frozen", "dvc", "repro")

    assert "Running stage" not in completed.stdout, completed.stdout
    assert "Data and pipelines are up to date" in completed.stdout
    assert (project / "dvc.lock").read_text() == lock_before
    assert len(mlflow_runs(project)) == 1, "a run that trained nothing logged a run"


@pytest.mark.parametrize(
    ("module", "stages"),
    [("validate.py", {"validate", "train", "evaluate"}),
     ("cli.py", {"prepare", "validate", "train", "evaluate"})],
)  # fmt: skip
def test_a_code_change_reruns_every_stage_that_runs_the_code(
    project: Path, module: str, stages: set[str]
) -> None:
    # given a module of the package edited (DVC sees the file's hash change)
    path = project / "src" / PACKAGE / module
    original = path.read_text()
    path.write_text(original + "\n# Reviewed.\n")
    try:
        # when DVC looks at what changed
        status = json.loads(dvc_json(project, "status"))
    finally:
        path.write_text(original)

    # then exactly the stages whose commands run it are out of date
    assert set(status) == stages


def test_the_demos_next_steps_work_as_printed_without_uv_on_path(project: Path) -> None:
    # given `make demo`'s closing summary of this project, and a shell that has no uv
    spec = importlib.util.spec_from_file_location("demo", TEMPLATE / "scripts" / "demo.py")
    assert spec and spec.loader
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    steps = demo.summary(project).split("Go on in it")[1].splitlines()[1:]
    export, cd = steps[0].strip(), steps[1].strip()
    bare_path = os.pathsep.join(
        entry for entry in PROJECT_ENV["PATH"].split(os.pathsep) if not Path(entry, "uv").exists()
    )

    # when a user runs the printed lines, then a target that calls uv
    completed = subprocess.run(
        ["bash", "-c", f"{export}\n{cd}\nmake help >/dev/null && uv lock --check"],
        env={**PROJECT_ENV, "PATH": bare_path},
        capture_output=True,
        text=True,
    )

    # then it works
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "deploy/mlflow/Dockerfile"])
def test_dockerfiles_pass_hadolint(project: Path, dockerfile: str) -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    completed = subprocess.run(
        [str(hadolint), dockerfile], cwd=project, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize(
    ("dockerfile", "ignore_file"),
    [
        ("Dockerfile", ".dockerignore"),
        # BuildKit reads <Dockerfile>.dockerignore beside a Dockerfile built from the root
        ("deploy/mlflow/Dockerfile", "deploy/mlflow/Dockerfile.dockerignore"),
    ],
)
def test_each_image_copies_only_what_its_ignore_file_lets_in(
    project: Path, dockerfile: str, ignore_file: str
) -> None:
    dockerfile = (project / dockerfile).read_text()
    ignore = (project / ignore_file).read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = {
        source
        for line in dockerfile.splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
    }
    assert copied and copied <= allowed, f"copied but ignored: {copied - allowed}"
    assert all((project / source).exists() for source in copied)


def test_image_entrypoint_serves_the_trained_model(project: Path) -> None:
    record = {
        "age": 39, "workclass": "State-gov", "education": "Bachelors",
        "education_num": 13, "marital_status": "Never-married",
        "occupation": "Adm-clerical", "relationship": "Not-in-family", "race": "White",
        "sex": "Male", "capital_gain": 2174, "capital_loss": 0, "hours_per_week": 40,
        "native_country": "United-States",
    }  # fmt: skip
    with serving_entrypoint(project) as served:
        url = f"{served.url}/predict"
        status, body = post(url, {"records": [record, record]})
        assert status == 200, body
        answered = [str(body["request_id"])]
        assert len(body["predictions"]) == 2
        answer = body["predictions"][0]
        assert list(answer["probabilities"]) == ["<=50K", ">50K"], answer
        assert answer["label"] == max(answer["probabilities"], key=answer["probabilities"].get)
        assert post(url, {"records": [{**record, "age": "forty"}]})[0] == 422
        assert post(url, {"records": [{k: v for k, v in record.items() if k != "sex"}]})[0] == 422
        assert post(url, {"records": []})[0] == 422
        oversized, body = post(url, {"records": [record] * 1001})  # MAX_BATCH is 1000
        assert oversized == 422 and "1000" in json.dumps(body), body
        # hostile input: numbers that are not finite, a megabyte in an unknown field, a body
        # over the limit; each refused with a short answer, and the server still answers
        for token in ("NaN", "Infinity", "1e400"):
            status, body = post(url, json.dumps({"records": [record]}).replace("39", token))
            assert status == 422 and body["detail"][0]["loc"][-1] == "age", body
        status, body = post(url, {"records": [{**record, "favourite_colour": "x" * 1_000_000}]})
        assert status == 422 and len(json.dumps(body)) < 1_000, "the error echoes the input"
        # a listed field takes nothing longer than its longest category ("Not-in-family"): a
        # megabyte there is refused for its length, a short stranger for not being listed
        for value, error in (("x" * 1_000_000, "string_too_long"), ("Wifey", "literal_error")):
            status, body = post(url, {"records": [{**record, "relationship": value}]})
            assert status == 422 and len(json.dumps(body)) < 1_000, body
            (refused,) = body["detail"]
            assert (refused["loc"][-1], refused["type"]) == ("relationship", error), body
        status, body = post(url, " " * (4 * 1024 * 1024 + 1))  # MAX_BODY_BYTES: 4 MiB
        assert status == 413, body
        status, body = post(url, {"records": [record]})
        assert status == 200, "the server did not survive"
        answered.append(str(body["request_id"]))
        with urllib.request.urlopen(f"{served.url}/health", timeout=10) as health:
            assert health.status == 200, "the server no longer answers /health"
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status reports it
    assert served.returncode in (0, -signal.SIGTERM), served.output
    assert "Application shutdown complete" in served.output, "no graceful shutdown on SIGTERM"
    # in an environment that holds serving alone: none of the pipeline's tools, MLflow's client
    # without its server
    installed = {
        path.name.split("-")[0].lower()
        for path in served.environment.glob("lib/python*/site-packages/*.dist-info")
    }
    assert {"fastapi", "scikit_learn", "pyarrow", "mlflow_skinny"} <= installed, installed
    assert not {"dvc", "evidently", "matplotlib", "mlflow"} & installed, installed
    # and what it answered is in the inference log, written by the shutdown
    logged = run(project, "uv", "run", "--frozen", "python", "-c", LOGGED_IDS).stdout.split()
    assert set(answered) <= set(logged), served.output


def test_the_served_api_keeps_to_the_spec_it_serves(project: Path) -> None:
    # given the image's entrypoint serving the trained model, and the spec it serves
    with serving_entrypoint(project) as served:
        schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json", timeout=30)
        requests = hypothesis.strategies.one_of(
            schema.as_strategy(generation_mode=mode) for mode in schemathesis.GenerationMode
        )
        statuses: Counter[int] = Counter()

        @hypothesis.settings(
            max_examples=FUZZ_EXAMPLES * len(schemathesis.GenerationMode),
            deadline=FUZZ_DEADLINE,
            derandomize=True,  # the same requests on every run: a failure reproduces
            database=None,
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],  # no shrinking
            suppress_health_check=[hypothesis.HealthCheck.too_slow],
        )
        @hypothesis.given(case=requests)
        def exchange(case: schemathesis.Case) -> None:
            response = case.call_and_validate(base_url=served.url, timeout=FUZZ_TIMEOUT_SECONDS)
            statuses[response.status_code] += 1

        # when schemathesis sends it what the spec allows, and what it does not, then no answer
        # is a 5xx, an undocumented status or off its documented schema (each raises)
        exchange()

        # and both kinds were answered, and the server still answers
        assert statuses[200] and statuses[422], statuses
        with urllib.request.urlopen(f"{served.url}/health", timeout=10) as health:
            assert health.status == 200, statuses


def test_a_changed_parameter_reruns_training_and_diffs_against_the_last_commit(
    project: Path,
) -> None:
    # given the first results committed
    commit_all(project, "Train the baseline")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["model"]["learning_rate"] = 0.3
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    # when the pipeline runs again
    completed = run(project, "uv", "run", "--frozen", "dvc", "repro")

    # then only the stages that read the parameter ran
    assert "Running stage 'prepare'" not in completed.stdout
    assert "Running stage 'train'" in completed.stdout
    # and DVC compares params, metrics and plots with the commit
    params_diff = json.loads(dvc_json(project, "params", "diff"))
    change = params_diff["params.yaml"]["train.model.learning_rate"]
    assert (change["old"], change["new"]) == (0.1, 0.3)
    metrics_diff = json.loads(dvc_json(project, "metrics", "diff"))
    assert "roc_auc" in metrics_diff[str(METRICS)], metrics_diff
    plots = json.loads(dvc_json(project, "plots", "diff", "HEAD"))["data"]
    for name in FIGURES:
        images = plots[f"reports/figures/{name}"]
        revisions = {revision for image in images for revision in image["revisions"]}
        assert revisions == {"HEAD", "workspace"}, f"{name}: {images}"
    assert len(mlflow_runs(project)) == 2


def test_report_compares_the_change_with_its_base(project: Path) -> None:
    # given the learning-rate change of the previous test, trained but not committed
    base_metrics = json.loads(run(project, "git", "show", f"HEAD:{METRICS}").stdout)
    head_metrics = json.loads((project / METRICS).read_text())

    # when the report is built against the last commit
    completed = run(project, "make", "report")

    # then it shows both sides' metrics as recorded, the changed parameter and the plots
    markdown = (project / "reports" / "pr" / "report.md").read_text()
    assert markdown in completed.stdout, "the report printed is not the report written"
    gate = f"| **roc_auc** (gate) | {base_metrics['roc_auc']:.4f} | {head_metrics['roc_auc']:.4f} |"
    assert gate in markdown, markdown
    for name in ("accuracy", "f1"):
        assert f"| {name} | {base_metrics[name]:.4f} | {head_metrics[name]:.4f} |" in markdown
    assert "| `train.model.learning_rate` | `0.1` | `0.3` |" in markdown
    # and it led with both models on the same rows (the data did not change: the base's own
    # numbers), which report.json states as the Markdown does
    facts = json.loads((project / "reports" / "pr" / "report.json").read_text())
    assert facts["same_rows"] is not None, facts["same_rows_note"]
    compared = facts["same_rows"]["metrics"]["roc_auc"]
    assert compared["base"] == pytest.approx(base_metrics["roc_auc"], abs=1e-12)
    assert compared["candidate"] == pytest.approx(head_metrics["roc_auc"], abs=1e-12)
    assert f"**{compared['verdict']}**." in markdown.split("\n\n")[1]
    assert markdown.index("on the same") < markdown.index("each revision recorded")
    for image in ("roc.png", "precision_recall.png", "confusion.png"):
        assert f"]({image})" in markdown
        assert (project / "reports" / "pr" / image).stat().st_size > 0
    # and the curves are drawn from the text, both revisions on each, in Mermaid that parses
    charts = mermaid_charts(markdown)
    assert set(charts) == {"ROC curve", "Precision-recall curve"}
    for chart in charts.values():
        assert '"base ' in chart and '"this change"' in chart
    assert "Out of date" not in markdown


def dvc_json(project: Path, *command: str) -> str:
    return run(project, "uv", "run", "--frozen", "dvc", *command, "--json").stdout


def test_registered_model_is_promoted_through_the_environment_file(project: Path) -> None:
    # given the trained model registered, with the digest of the image built for it
    cli = ("uv", "run", "--frozen", "income-classifier")
    registered = run(project, *cli, "register").stdout
    assert "version 1" in registered and "staging -> 1" in registered
    digest = "sha256:" + "0f" * 32
    run(project, *cli, "tag-image", "--version", "1", "--digest", digest)

    # when production.yaml names that version and image
    environment = project / "environments" / "production.yaml"
    spec = yaml.safe_load(environment.read_text())
    spec["model"]["version"], spec["image"]["digest"] = 1, digest
    environment.write_text(yaml.safe_dump(spec, sort_keys=False))

    # then promotion points production at it, and a second run changes nothing
    assert "production now runs" in run(project, *cli, "promote", str(environment)).stdout
    assert "nothing to change" in run(project, *cli, "promote", str(environment)).stdout
    # and a version that does not exist is refused with a message
    spec["model"]["version"] = 42
    environment.write_text(yaml.safe_dump(spec, sort_keys=False))
    refused = run(project, *cli, "promote", str(environment), check=False)
    assert refused.returncode == 1
    assert "version 42 does not exist" in refused.stderr
    run(project, "git", "checkout", "--", "environments")


def test_serve_by_alias_serves_the_version_the_registry_names(project: Path) -> None:
    # given production pointed at version 1 in the embedded registry (the test above)
    port = free_port()
    command = ["uv", "run", "--frozen", "income-classifier", "serve", "--alias", "production",
               "--port", str(port)]  # fmt: skip

    # when the server starts from the registry instead of models/
    with subprocess.Popen(
        command, cwd=project, env=PROJECT_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as server:
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}/health", server)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=10) as answer:
                version = json.loads(answer.read())
        finally:
            server.terminate()
            server.communicate(timeout=30)

    # then it says which version it serves, and the commit that version was registered from
    head = run(project, "git", "rev-parse", "HEAD").stdout.strip()
    assert version["model_version"] == "1" and version["commit"] == head, version

    # and an alias that points nowhere is refused with a message, not a traceback
    missing = run(project, "uv", "run", "--frozen", "income-classifier", "serve", "--alias",
                  "canary", check=False)  # fmt: skip
    assert missing.returncode == 1 and "Cannot serve income-classifier@canary" in missing.stderr


def test_bad_data_stops_the_pipeline_at_validate_with_a_summary(project: Path) -> None:
    # given the raw data with a column missing and one age out of range
    commit_all(project, "Tune the learning rate")
    raw = project / "data" / "raw" / "adult.csv"
    lines = raw.read_text().splitlines()
    header = lines[0].split(",")
    hours = header.index("hours_per_week")
    broken = [",".join(v for i, v in enumerate(line.split(",")) if i != hours) for line in lines]
    broken[4] = "250" + broken[4][broken[4].index(",") :]  # data row 3: age 250
    broken[5] = broken[5][: broken[5].rindex(",")] + ",50K+"  # data row 4: a third label
    raw.write_text("\n".join(broken) + "\n")
    runs_before = len(mlflow_runs(project))
    model_before = (project / "models" / "run.json").read_text()

    # when the pipeline runs
    completed = run(project, "uv", "run", "--frozen", "dvc", "repro", check=False)

    # then it fails at validate, says why, and trains nothing
    assert completed.returncode != 0
    output = completed.stdout + completed.stderr
    assert "Data validation: failed" in output
    assert "| hours_per_week | missing column |" in output
    assert "| age | less_than_or_equal_to(100) | 1 | 3: 250 |" in output
    assert "| income | isin(['<=50K', '>50K']) | 1 | 4: '50K+' |" in output, "a third label"
    assert "Running stage 'train'" not in output
    summary = json.loads((project / "reports" / "validation" / "validation.json").read_text())
    assert summary["passed"] is False
    assert len(mlflow_runs(project)) == runs_before, "a model was trained on bad data"
    assert (project / "models" / "run.json").read_text() == model_before

    # and the report says so, with the failing rows and the changed data file
    markdown = run(project, "uv", "run", "--frozen", "income-classifier", "report").stdout
    assert "nothing was trained" in markdown
    assert "| age | less_than_or_equal_to(100) | 1 | 3: 250 |" in markdown
    assert "| `data/raw/adult.csv` | modified | 48,842 | 48,842 |" in markdown


def test_clean_checkout_restores_the_good_data(project: Path) -> None:
    # the bad data never reached git or the DVC cache: checking out undoes it
    run(project, "git", "checkout", "--", ".")
    run(project, "uv", "run", "--frozen", "dvc", "checkout", "--force")
    status = run(project, "uv", "run", "--frozen", "dvc", "status")
    assert "Data and pipelines are up to date" in status.stdout, status.stdout


def _empty_workclass(raw: Path) -> str:
    """Every value of workclass (nullable in the contract) gone, as a bad export leaves it."""
    with raw.open(newline="") as handle:
        rows = list(csv.reader(handle))
    emptied = rows[0].index("workclass")
    with raw.open("w", newline="") as handle:
        csv.writer(handle).writerows([rows[0], *([*row[:emptied], "", *row[emptied + 1 :]]
                                                for row in rows[1:])])  # fmt: skip
    return "| workclass | nulls in 100.0% of rows, over validate.max_null_share 0.5 | 48,842 |"


def _latin1_row(raw: Path) -> str:
    """One row saved as Latin-1 (an é) in a UTF-8 file."""
    lines = raw.read_bytes().splitlines(keepends=True)
    lines[10] = lines[10].replace(b",", b",\xe9", 1)
    raw.write_bytes(b"".join(lines))
    return f"| (file) | unreadable: not UTF-8 text: save the file as UTF-8 | — | {RAW}, line 11 |"


def _cut_short(raw: Path) -> str:
    """A copy that stopped partway through a row."""
    content = raw.read_bytes()
    raw.write_bytes(content[: content.rindex(b",", 0, len(content) // 2)])
    return "| (file) | unreadable: the last line has fewer fields than the header"


BAD_EXPORTS = {"emptied-nullable-column": _empty_workclass, "not-utf8": _latin1_row,
               "cut-short": _cut_short}  # fmt: skip


@pytest.mark.parametrize("case", BAD_EXPORTS, ids=list(BAD_EXPORTS))
def test_a_bad_export_stops_the_pipeline_at_validation(project: Path, case: str) -> None:
    # given the raw data broken as an export or a copy can break it
    expected = BAD_EXPORTS[case](project / RAW)

    # when the pipeline runs
    completed = run(project, "uv", "run", "--frozen", "dvc", "repro", check=False)

    # then validate fails, its summary saying what is wrong and where, and nothing trains
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0 and "Running stage 'train'" not in output
    assert expected in output, output[-3000:]
    assert "Traceback" not in output

    # and checking out undoes it (repro recorded the broken file in its .dvc file, which git
    # puts back), for the next case to start from the good data
    run(project, "git", "checkout", "--", ".")
    run(project, "uv", "run", "--frozen", "dvc", "checkout", "--force")
    status = run(project, "uv", "run", "--frozen", "dvc", "status")
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
