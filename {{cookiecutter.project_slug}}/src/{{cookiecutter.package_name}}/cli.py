"""The command line: the one interface that dvc.yaml, the Makefile and the workflows call.

Each command imports what it needs when it runs: MLflow and scikit-learn take seconds to
import, and prepare and validate need neither.
"""

import dataclasses
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from {{ cookiecutter.package_name }}.settings import DEFAULT_PARAMS, Params, load_params

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd

    from {{ cookiecutter.package_name }}.compare import Paired
    from {{ cookiecutter.package_name }}.drift import DriftResult
    from {{ cookiecutter.package_name }}.fairness import Segment
    from {{ cookiecutter.package_name }}.inference import Window

app = typer.Typer(
    help="{{ cookiecutter.project_slug }}: prepare, validate, train and evaluate the model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

ParamsOption = Annotated[
    Path, typer.Option("--params", help="Parameters file.", exists=True, dir_okay=False)
]
OutputsOption = Annotated[
    Path | None,
    typer.Option(help="Also append name=value lines here (a GitHub step's $GITHUB_OUTPUT)."),
]


def main() -> None:
    """The console script: a contract or params.yaml the task cannot use is one clear error,
    not a traceback."""
    from {{ cookiecutter.package_name }}.contract import ContractError
    from {{ cookiecutter.package_name }}.settings import ParamsError

    try:
        app(prog_name="{{ cookiecutter.project_slug }}")  # `python -m` (the image) too
    except (ContractError, ParamsError) as error:
        typer.echo(f"Error: {error}", err=True)
        raise SystemExit(1) from None


def _write_outputs(path: Path | None, **values: object) -> None:
    if path is not None:
        with path.open("a", encoding="utf-8") as handle:
            handle.writelines(f"{name}={value}\n" for name, value in values.items())


BatchesOption = Annotated[
    Path | None,
    typer.Option(help="Snapshotted production batches (CSV files) that follow the raw data."),
]


@app.command()
def prepare(
    raw: Annotated[Path, typer.Argument(help="Raw CSV.", exists=True, dir_okay=False)],
    out_dir: Annotated[Path, typer.Argument(help="Where train/test/reference splits go.")],
    batches: BatchesOption = None,
    params_file: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Split the raw data and the batches into train, test and a drift reference, unjudged."""
    from {{ cookiecutter.package_name }} import data

    params = load_params(params_file).prepare
    files = data.batch_files(batches)
    try:
        frame = data.load_data(raw, batches, params)
    except data.UnreadableError as error:
        data.write_unreadable(error, out_dir, params)
        typer.echo(f"Could not read {error}; the validate stage reports it.", err=True)
        return
    splits = data.split(frame, params)
    data.write_splits(splits, out_dir)
    used = f"{raw} and {len(files)} batches in {batches}/ ({params.new_data})" if files else raw
    typer.echo(
        f"Prepared {used}: {len(splits.train):,} train, {len(splits.test):,} test, "
        f"{len(splits.reference):,} reference rows in {out_dir}/"
    )


@app.command("validate")
def validate_command(
    prepared_dir: Annotated[Path, typer.Argument(help="Output of prepare.", file_okay=False)],
    out_dir: Annotated[Path, typer.Argument(help="Where validation.json and .md go.")],
    source: Annotated[str, typer.Option(help="Name of the raw data, for the summary.")] = "data",
    params_file: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Check the prepared data against the contract; exit 1 with a summary if it breaks it."""
    from {{ cookiecutter.package_name }} import data, validate

    params = load_params(params_file).validate_
    train, test = (data.read_split(prepared_dir / f"{name}.parquet") for name in ("train", "test"))
    unreadable = data.read_unreadable(prepared_dir)
    result = (
        validate.check_splits(train, test, params)
        if unreadable is None
        else validate.unreadable(**unreadable)
    )
    json_path, markdown_path = validate.write_summary(result, source, out_dir)
    typer.echo(markdown_path.read_text(encoding="utf-8"))
    if not result.passed:
        typer.echo(f"Validation failed; summary in {markdown_path} and {json_path}", err=True)
        raise typer.Exit(code=1)


@app.command("train")
def train_command(
    train_file: Annotated[Path, typer.Argument(help="Training split.", exists=True)],
    validation: Annotated[Path, typer.Argument(help="validation.json from validate.", exists=True)],
    out_dir: Annotated[Path, typer.Argument(help="Where the model and run.json go.")],
    raw: Annotated[Path, typer.Option(help="Raw data, hashed as the run's data version.")],
    batches: BatchesOption = None,
    params_file: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Fit the model, save it in MLflow format, and log the run to MLflow."""
    from mlflow.exceptions import MlflowException

    from {{ cookiecutter.package_name }} import contract, data, tracking, train, validate

    if not validate.read_passed(validation):
        typer.echo(f"Refusing to train: {validation} says the data broke the contract.", err=True)
        raise typer.Exit(code=1)
    params = load_params(params_file)
    frame = validate.validated(data.read_split(train_file))
    trained = train.fit(frame, params.train)
    sources = [raw, *data.batch_files(batches)]
    try:
        ref = train.save_and_log(trained, frame, params.train, params.mlflow, sources, out_dir)
    except MlflowException as error:  # after the client's own retries
        typer.echo(
            f"Could not log the run to MLflow at {tracking.tracking_uri()}, so no model was "
            f"saved; run the stage again once the server answers.\n{error.message}",
            err=True,
        )
        raise typer.Exit(code=1) from None
    typer.echo(
        f"Trained a {contract.task()} model of {contract.target()} on {len(frame):,} rows in "
        f"{trained.fit_seconds:.1f}s; model in {out_dir / train.MODEL_DIR}/; "
        f"MLflow run {ref.run_id} at {ref.tracking_uri}"
    )


@app.command("evaluate")
def evaluate_command(
    model_dir: Annotated[Path, typer.Argument(help="Output of train.", file_okay=False)],
    test_file: Annotated[Path, typer.Argument(help="Test split.", exists=True)],
    metrics_file: Annotated[Path, typer.Argument(help="Where metrics.json goes.")],
    plots_dir: Annotated[Path, typer.Argument(help="Where the numbers behind the plots go.")],
    figures_dir: Annotated[Path, typer.Argument(help="Where the plots (PNG) go.")],
    train_file: Annotated[
        Path | None, typer.Option(help="Training split: the same metrics on it go to MLflow.")
    ] = None,
    params_file: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Score the test split as the contract's task calls for; write metrics, the numbers
    behind the plots and the plots; add them to the MLflow run."""
    import mlflow

    from {{ cookiecutter.package_name }} import (
        contract,
        data,
        evaluate,
        fairness,
        tasks,
        tracking,
        train,
        validate,
    )

    params = load_params(params_file).evaluate.for_task(contract.task())
    tasks.check_gate_metric(params.gate_metric)
    model = mlflow.sklearn.load_model(str(model_dir / train.MODEL_DIR))
    test = validate.validated(data.read_split(test_file))
    scored = evaluate.score(model, test, params)
    values = tasks.compute(scored)
    paths = evaluate.write_reports(scored, values, metrics_file, plots_dir, figures_dir)
    train_values = (
        tasks.compute(
            evaluate.score(model, validate.validated(data.read_split(train_file)), params)
        )
        if train_file is not None
        else {}
    )
    run = tracking.RunRef.read(model_dir / train.RUN_FILE)
    evaluate.write_fit(model_dir / train.MODEL_DIR, run, train_values, plots_dir)
    found = fairness.segments(test, scored, params.gate_metric)
    evaluate.write_segments(found, plots_dir)
    recorded = values | fairness.recorded(found)  # the promotion gate reads the disparities
    logged = evaluate.log_to_run(model_dir / train.RUN_FILE, recorded, train_values, paths)
    typer.echo(
        f"Test metrics ({contract.task()}, {len(test):,} rows): "
        + ", ".join(f"{name} {value:.4f}" for name, value in values.items())
    )
    typer.echo(f"Metrics in {metrics_file}; numbers in {plots_dir}/; plots in {figures_dir}/")
    if not logged:
        typer.echo("The training run is not in this MLflow store; metrics were not added to it.")


@app.command("report")
def report_command(
    base: Annotated[str, typer.Option(help="Git revision to compare with.")] = "HEAD",
    out_dir: Annotated[Path, typer.Option(help="Where report.md and its plots go.")] = Path(
        "reports/pr"
    ),
    # report.Training, spelled out so that the CLI starts without the report's imports
    training: Annotated[
        Literal["ran", "restored", "skipped", "failed", "needs-remote"] | None,
        typer.Option(help="What `dvc repro` did with the train stage (CI knows it)."),
    ] = None,
    plots_link: Annotated[
        str | None,
        typer.Option(help="Link the plots here instead of showing them (images not uploaded)."),
    ] = None,
    artifact: Annotated[
        str | None,
        typer.Option(help="The name of the workflow artifact at --plots-link that holds them."),
    ] = None,
    shown_plots_copy: Annotated[
        Path | None,
        typer.Option(
            help="Also write the report with its plots shown, not linked, to this file: the "
            "comment whose images CML uploads, from the same run as the linked summary."
        ),
    ] = None,
    commit: Annotated[
        str | None,
        typer.Option(
            help="The commit the report is about, if not the checked-out one: a pull request's "
            "head, where CI checks out its merge into the base."
        ),
    ] = None,
    params_file: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Write the Markdown report a reviewer reads: this working tree against BASE."""
    from {{ cookiecutter.package_name }} import report, revisions, tasks
    from {{ cookiecutter.package_name }}.tracking import RunRef

    params = load_params(params_file)
    run_file = Path("models") / "run.json"
    result = report.Report(
        head=revisions.read_results(None),
        base=revisions.read_results(base),
        gate_metric=tasks.check_gate_metric(params.evaluate.gate_metric),
        commit=commit or revisions.head_commit(),
        tested=revisions.head_commit(),
        validation=revisions.read_json(Path("reports/validation/validation.json")),
        data_changes=revisions.data_changes(base),
        training=training,
        run=RunRef.read(run_file) if run_file.exists() else None,
        # Known training means the pipeline just ran: its results are current by construction,
        # and `dvc status` would flag the outputs CI leaves in the remote.
        stale_stages=revisions.stale_stages() if training is None else [],
        tolerance=params.promote.tolerance,
        disparity_tolerance=params.promote.disparity_tolerance,
    )
    data_changed = bool(result.data_changes) and not report.validation_failed(result)
    before = revisions.prepared_rows(base) if data_changed else None
    comparable = report.not_comparable(result) is None and not report.validation_failed(result)
    if result.head is not None and result.base is not None and comparable:
        why: str | None = "nothing was trained"
        compared: SameRows | None = None
        if training not in ("skipped", "failed", "needs-remote"):
            known = None if before is None or isinstance(before, str) else before
            compared, why = _on_the_same_rows(base, params, known)
        if compared is not None:
            result = dataclasses.replace(
                result,
                same_rows=compared.paired,
                new_rows=compared.new_rows,
                segments=compared.segments,
                base_segments=compared.base_segments,
            )
        result = dataclasses.replace(result, same_rows_note=why)
    if not result.segments and result.head is not None and result.head.segments:
        result = dataclasses.replace(result, segments=result.head.segments)
    if before is not None:
        drifted, note = _data_drift(before, params)
        result = dataclasses.replace(result, data_drift=drifted, data_drift_note=note)
    images = report.plot_comparisons(result, out_dir)
    image_names = {name: path.name for name, path in images.items()}
    markdown = report.render(result, image_names, plots_link, artifact)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    if shown_plots_copy is not None:
        shown_plots_copy.write_text(report.render(result, image_names, None), encoding="utf-8")
    facts = json.dumps(report.facts(result), indent=2)
    (out_dir / "report.json").write_text(facts + "\n", encoding="utf-8")
    if Path(revisions.METRICS).exists():  # the numbers behind the report, as evaluate wrote them
        shutil.copyfile(revisions.METRICS, out_dir / "metrics.json")
    typer.echo(markdown)
    typer.echo(f"Report in {out_dir / 'report.md'}", err=True)


@dataclasses.dataclass(frozen=True)
class SameRows:
    """The base's model and this revision's, both on this revision's test rows."""

    paired: "Paired"
    new_rows: "Paired | None"  # on the test rows the base's data did not have
    segments: "list[Segment]"  # this revision's model by group
    base_segments: "list[Segment]"  # the base's model by group, on the same rows


def _on_the_same_rows(
    base: str, params: Params, base_rows: "pd.DataFrame | None"
) -> "tuple[SameRows | None, str | None]":
    """The base's model and this revision's, both scored on this revision's test split, also
    by segment; or None and why not. With the base's rows, also both on the test rows the base
    did not have (a retraining pull request's batch, say): how the model the base runs does on
    the new data, against the candidate, which never trained on them either."""
    from threadpoolctl import threadpool_limits

    # One thread for OpenMP and BLAS: a test split's rows gain nothing from more, and on a
    # busy runner their threads wait on each other (predicting and the bootstrap 3-10x slower).
    with threadpool_limits(limits=1):
        return _scored_on_the_same_rows(base, params, base_rows)


def _scored_on_the_same_rows(
    base: str, params: Params, base_rows: "pd.DataFrame | None"
) -> "tuple[SameRows | None, str | None]":
    import tempfile

    import mlflow
    import numpy as np

    from {{ cookiecutter.package_name }} import compare, data, evaluate, fairness, revisions, validate

    model_dir, test_file = Path(revisions.MODEL), Path(revisions.TEST_SPLIT)
    if not (model_dir.is_dir() and test_file.is_file()):
        return None, "this revision's model or test split is not here"
    test = validate.validated(data.read_split(test_file))
    with tempfile.TemporaryDirectory(prefix="base-model-") as scratch:
        base_dir = Path(scratch) / "model"
        if (why := revisions.fetch_model(base, base_dir)) is not None:
            return None, why
        try:
            scored_base = evaluate.score(
                mlflow.sklearn.load_model(str(base_dir)), test, params.evaluate
            )
        except Exception as error:  # older code, features or labels: not these rows' model
            return None, f"the base's model cannot score this revision's rows ({error})"
    candidate = evaluate.score(mlflow.sklearn.load_model(str(model_dir)), test, params.evaluate)
    gate = params.evaluate.gate_metric
    compared = SameRows(
        paired=compare.paired(scored_base, candidate, params.report.resamples, params.report.seed),
        new_rows=None,
        segments=fairness.segments(test, candidate, gate),
        base_segments=fairness.segments(test, scored_base, gate),
    )
    if base_rows is None:
        return compared, None
    new = np.flatnonzero(~np.isin(data.row_hashes(test, 0), data.row_hashes(base_rows, 0)))
    if len(new) < MIN_NEW_ROWS:
        return compared, None
    on_new = compare.paired(
        scored_base.take(new), candidate.take(new), params.report.resamples, params.report.seed
    )
    return dataclasses.replace(compared, new_rows=on_new), None


MIN_NEW_ROWS = 30  # fewer new test rows than this say too little to compare on


def _data_drift(
    before: "pd.DataFrame | str", params: Params
) -> "tuple[DriftResult | None, str | None]":
    """This revision's prepared rows against the base's (or why those could not be read), as
    the drift check compares a batch with its reference; or None and why not."""
    import pandas as pd

    from {{ cookiecutter.package_name }} import data, drift, revisions

    if isinstance(before, str):
        return None, before
    splits = [
        data.read_split(Path(revisions.PREPARED) / f"{name}.parquet") for name in ("train", "test")
    ]
    try:
        reference = drift.check_batch(before).frame
        current = drift.check_batch(pd.concat(splits).sort_index())
    except drift.BadBatchError as error:  # the base's data under this contract, say
        return None, f"one side breaks this revision's contract ({error})"
    result, _ = drift.decide(reference, current, params.drift)
    return result, None


BAD_BATCH = 2  # `drift`'s exit status for a batch that cannot be judged

WindowOption = Annotated[
    str | None,
    typer.Option(help="The inference log's last WINDOW (24h) instead of a batch (drift.window)."),
]


@dataclasses.dataclass(frozen=True)
class _Window:
    """A window of the inference log, its end decided once."""

    span: str  # as written: 24h
    since: "datetime"
    until: "datetime"
    url: str


def _window(
    params: Params, batch: str | None, window: str | None, until: str | None = None
) -> _Window | None:
    """The window to read (--window, else drift.window unless --batch), or None: a batch."""
    from datetime import UTC, datetime

    from {{ cookiecutter.package_name }}.settings import ParamsError, duration

    if batch is not None and window is not None:
        raise ParamsError("give --batch or --window, not both")
    span = window or (None if batch is not None else params.drift.window)
    if span is None:
        return None
    end = datetime.now(UTC)
    if until is not None:
        try:
            end = datetime.fromisoformat(until)
        except ValueError:
            raise ParamsError(f"--until {until!r} is not an ISO 8601 time") from None
        if end.tzinfo is None:
            raise ParamsError(f"--until {until!r} has no time zone (2026-12-06T06:17:00+00:00)")
    return _Window(span, end - duration(span), end, _inference_log_url(params))


def _inference_log_url(params: Params) -> str:
    """serve.capture.url, or INFERENCE_LOG_URL when it is set."""
    import os

    # an empty variable counts as unset: a workflow passes a `vars.X` nobody set as ""
    environ = {name: value for name, value in os.environ.items() if value}
    return params.serve.capture.from_environment(environ).url


def _describe(window: _Window, rows: int, files: int) -> str:
    return (
        f"inference log {window.url}, the last {window.span}: {rows:,} records in {files} files "
        f"({window.since:%Y-%m-%d %H:%M:%S} to {window.until:%Y-%m-%d %H:%M:%S} UTC)"
    )


@app.command("drift")
def drift_command(
    batch: Annotated[
        str | None, typer.Option(help="Batch to check: a path, glob or URL (params: drift.batch).")
    ] = None,
    window: WindowOption = None,
    reference: Annotated[
        Path, typer.Option(help="What normal looks like: the training reference split.")
    ] = Path("data/prepared/reference.parquet"),
    out_dir: Annotated[Path, typer.Option(help="Where drift.html, .json and .md go.")] = Path(
        "reports/drift"
    ),
    plots_link: Annotated[
        str | None,
        typer.Option(help="Link the plot and HTML report here instead of showing the plot."),
    ] = None,
    outputs: OutputsOption = None,
    params_file: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Check a production batch, or a window of the inference log, for drift against the
    training reference (Evidently).

    Exit status 0 with a verdict either way (drift or none, in the summary and OUTPUTS), 2 when
    the batch cannot be judged: it breaks the data contract or is missing. OUTPUTS also gets the
    batch's fingerprint, which `snapshot` checks, the model's name, and for a window its end
    (`until`), from which `snapshot` reads the same window.
    """
    from {{ cookiecutter.package_name }} import data, drift, inference, validate

    params = load_params(params_file)
    span = _window(params, batch, window)
    source = batch or params.drift.batch
    try:
        if span is None:
            frame = drift.read_batch(source)
            current = drift.check_batch(
                frame, params.validate_.max_examples, params.drift.sample_rows, params.drift.seed
            )
            found = drift.fingerprint(frame)
        else:
            source = f"inference log {span.url}, the last {span.span}"
            log = inference.read_window(
                span.url, span.since, span.until, columns=["time", "input"],
                sample_rows=params.drift.sample_rows, seed=params.drift.seed, fixed=True,
            )  # fmt: skip
            source = _describe(span, log.rows or len(log), log.files)
            if not len(log):
                raise drift.BadBatchError("no record was answered in the window")
            checked = drift.check_batch(log.features, params.validate_.max_examples, target=False)
            current = dataclasses.replace(checked, rows=log.rows or len(log))
            found = inference.fingerprint(log, span.since, span.until)
    except (OSError, ValueError) as error:  # BadBatchError is a ValueError, as are parse errors
        typer.echo(f"Bad batch, not checked for drift: {source}: {error}", err=True)
        bad = error if isinstance(error, drift.BadBatchError) else drift.BadBatchError(str(error))
        if bad.result is not None:
            typer.echo(validate.render_markdown(bad.result, source), err=True)
        markdown = drift.write_bad_batch(bad, source, out_dir)
        _write_outputs(outputs, verdict="bad-batch", drifted="false", summary=markdown.as_posix())
        raise typer.Exit(code=BAD_BATCH) from None
    verdict, snapshot = drift.decide(data.read_split(reference), current, params.drift)
    described = source if span is not None else None
    markdown = drift.write_outputs(verdict, snapshot, source, out_dir, plots_link, described)
    typer.echo(markdown.read_text(encoding="utf-8"))
    typer.echo(f"Drift report in {out_dir}/ (drift.html, drift.json, drift.md)", err=True)
    _write_outputs(
        outputs,
        verdict="drift" if verdict.drifted else "no-drift",
        drifted=str(verdict.drifted).lower(),
        summary=markdown.as_posix(),
        fingerprint=found,
        model=params.mlflow.model_name,
        window=span.span if span else "",
        until=span.until.isoformat() if span else "",
    )


@app.command("snapshot")
def snapshot_command(
    batch: Annotated[
        str | None, typer.Option(help="Batch to keep: a path, glob or URL (params: drift.batch).")
    ] = None,
    window: WindowOption = None,
    until: Annotated[
        str | None,
        typer.Option(help="The window's end, as `drift` wrote it to OUTPUTS (default: now)."),
    ] = None,
    batches_dir: Annotated[
        Path, typer.Option(help="Where snapshotted batches live (tracked by DVC).")
    ] = Path("data/batches"),
    fingerprint: Annotated[
        str | None, typer.Option(help="Refuse unless the batch is still the one `drift` judged.")
    ] = None,
    carry_over: Annotated[
        str | None,
        typer.Option(help="Git revision (the open retraining branch) whose batches to keep."),
    ] = None,
    drift_summary: Annotated[
        Path | None, typer.Option(help="drift.md from `drift`, for the pull request's body.")
    ] = None,
    body: Annotated[Path | None, typer.Option(help="Where the retraining PR's body goes.")] = None,
    feedback: Annotated[
        str | None, typer.Option(help="A window's labels (params: monitor.feedback).")
    ] = None,
    outputs: OutputsOption = None,
    params_file: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Keep a drifted batch in data/batches/ (then `dvc add` it) so the next training uses it.

    A window of the inference log becomes a batch of its records that have a label
    (monitor.feedback); with none labelled, nothing is kept. A batch already there is not added
    again. Exit status 2 for a batch that breaks the contract, 1 if it is not the batch `drift`
    judged.
    """
    from {{ cookiecutter.package_name }} import drift, inference, validate

    params = load_params(params_file)
    span = _window(params, batch, window, until)
    source = batch or params.drift.batch
    left_out, log = 0, None
    try:
        if span is None:
            frame = drift.read_batch(source)
            found = drift.fingerprint(frame)
        else:
            log = inference.read_window(span.url, span.since, span.until, fixed=True)
            source = _describe(span, len(log), log.files)
            found = inference.fingerprint(log, span.since, span.until)
        if fingerprint is not None and found != fingerprint:
            typer.echo(
                f"{source} changed since the drift check judged it (fingerprint {found[:12]}, "
                f"expected {fingerprint[:12]}): nothing snapshotted; run the check again.",
                err=True,
            )
            raise typer.Exit(code=1)
        if log is not None:
            frame, left_out = _labelled_rows(log, feedback or params.monitor.feedback)
        drift.check_batch(frame, params.validate_.max_examples)
    except drift.NothingLabelledError as error:
        typer.echo(f"Nothing snapshotted: {source}: {error}; no pull request.")
        _write_outputs(outputs, added="false", file="")
        return
    except (OSError, ValueError) as error:
        typer.echo(f"Bad batch, not snapshotted: {source}: {error}", err=True)
        if isinstance(error, drift.BadBatchError) and error.result is not None:
            typer.echo(validate.render_markdown(error.result, source), err=True)
        raise typer.Exit(code=BAD_BATCH) from None
    carried: list[str] = []
    if carry_over:
        from {{ cookiecutter.package_name }} import revisions  # DVC and git: only when asked

        if revisions.revision_exists(carry_over):
            carried = revisions.carry_over(carry_over, batches_dir.as_posix())
            typer.echo(f"Carried over from {carry_over}: {', '.join(carried) or 'nothing new'}")
        else:
            typer.echo(f"No {carry_over}: no open retraining branch to carry batches over from")
    kept = drift.snapshot(frame, batches_dir, found)
    if kept.added:
        unlabelled = f" ({left_out:,} records without a label left out)" if left_out else ""
        typer.echo(f"Snapshotted {kept.rows:,} rows of {source} as {kept.path}{unlabelled}")
    elif kept.path.name in carried:
        typer.echo(f"{source} is already proposed on {carry_over} as {kept.path}: nothing to add")
    else:
        typer.echo(f"{source} is already in the training data as {kept.path}: nothing to add")
    if body is not None and kept.added:
        summary = drift_summary.read_text(encoding="utf-8") if drift_summary else ""
        text = drift.render_retraining_body(
            kept, carried, params.prepare.new_data, summary,
            window=source if span is not None else None, left_out=left_out,
        )  # fmt: skip
        body.write_text(text, encoding="utf-8")
    _write_outputs(outputs, added=str(kept.added).lower(), file=kept.path.as_posix())


def _labelled_rows(log: "Window", feedback: str) -> tuple["pd.DataFrame", int]:
    """The window's records that have a label, as a batch (the target filled from the labels),
    and how many were left out for want of one; NothingLabelledError when none has."""
    from {{ cookiecutter.package_name }} import contract, drift, inference

    try:
        labels = inference.labelled(log, inference.read_feedback(feedback)).labels
    except inference.NoFeedbackError:
        labels = None
    if labels is None or not labels.notna().any():
        raise drift.NothingLabelledError(
            f"no record of the window has a label yet ({feedback}, monitor.feedback)"
        )
    keep = labels.notna().to_numpy()
    frame = log.features.assign(**{contract.target(): labels})[keep]
    return frame[list(contract.columns())].reset_index(drop=True), int((~keep).sum())


@app.command("make-batch")
def make_batch_command(
    out: Annotated[Path, typer.Argument(help="CSV to write, e.g. data/production/batch.csv.")],
    rows: Annotated[int, typer.Option(help="Rows to draw.", min=1)] = 2000,
    shift: Annotated[
        list[str] | None,
        typer.Option(help="COLUMN=DELTA: add DELTA to a numeric column (repeatable)."),
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(help="Data to draw from (params: data.raw).", exists=True, dir_okay=False),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    params_file: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Write a realistic production batch, shifted or not, to try the drift check locally."""
    from {{ cookiecutter.package_name }} import data, drift

    source = source or Path(load_params(params_file).data.raw)
    try:
        shifts = drift.parse_shifts(shift or [])
        batch = drift.make_batch(data.load_raw(source), rows, shifts, seed)
    except ValueError as error:
        typer.echo(f"Cannot make the batch: {error}", err=True)
        raise typer.Exit(code=1) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    batch.to_csv(out, index=False)
    moved = ", ".join(f"{column} {delta:+g}" for column, delta in shifts.items()) or "none"
    typer.echo(f"Wrote {len(batch):,} rows to {out} (shifted: {moved})")


@app.command("monitor")
def monitor_command(
    environment_file: Annotated[
        Path,
        typer.Option("--environment", help="What production runs.", exists=True, dir_okay=False),
    ] = Path("environments/production.yaml"),
    log: Annotated[
        str | None,
        typer.Option(help="The inference log (params: serve.capture.url; INFERENCE_LOG_URL)."),
    ] = None,
    feedback: Annotated[
        str | None, typer.Option(help="The labels that arrived (params: monitor.feedback).")
    ] = None,
    out_dir: Annotated[Path, typer.Option(help="Where monitor.md, .json and .html go.")] = Path(
        "reports/monitor"
    ),
    apply: Annotated[
        bool,
        typer.Option(
            help="Make the reaction's change here: production.yaml as it was (a rollback), or "
            "the labelled records snapshotted into data.batches (a retraining)."
        ),
    ] = False,
    outputs: OutputsOption = None,
    params_file: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Judge the production version's live quality on the labels that arrived for its answers.

    Exit status 0 with any verdict (fine, degraded, too few labels: in the summary and
    OUTPUTS), 2 when the inference log or the labels cannot be read, or production names no
    version the registry knows.
    """
    from datetime import UTC, datetime

    from mlflow.exceptions import MlflowException

    from {{ cookiecutter.package_name }} import drift, inference, monitor, promote, tasks, tracking
    from {{ cookiecutter.package_name }}.settings import duration

    params = load_params(params_file)
    version = promote.read_environment(environment_file).model.version
    if version is None:
        typer.echo(f"{environment_file} names no model version: nothing to judge", err=True)
        raise typer.Exit(code=BAD_BATCH)
    span = duration(params.monitor.window)
    until = datetime.now(UTC)
    url = log or _inference_log_url(params)
    labels_url = feedback or params.monitor.feedback
    try:
        logged = inference.read_window(url, until - span, until)
        try:
            labels = inference.read_feedback(labels_url)
        except inference.NoFeedbackError:  # none has arrived yet: too few labels, not an error
            labels = inference.no_feedback()
        window = inference.labelled(logged, labels)
    except (inference.LogError, OSError) as error:
        typer.echo(f"Cannot judge live quality: {error}", err=True)
        raise typer.Exit(code=BAD_BATCH) from None
    gate = tasks.check_gate_metric(params.evaluate.gate_metric)
    period, name, client = monitor.period_for(span), params.mlflow.model_name, tracking.client()
    try:
        released = promote.test_metrics(client, name, version)
        earlier = None
        if found := monitor.earlier_version(environment_file, str(version)):
            live = monitor.live_quality(window, found[0], gate, period)
            earlier = monitor.Earlier(
                *found,
                released=promote.test_metrics(client, name, int(found[0])),
                live=live if live.rows >= params.monitor.min_rows else None,
            )
    except (MlflowException, promote.PromotionRefusedError) as error:
        typer.echo(f"Cannot read {name}'s released quality: {error}", err=True)
        raise typer.Exit(code=BAD_BATCH) from None
    production = monitor.live_quality(window, str(version), gate, period)
    verdict, action, reason = monitor.decide(
        production, released, earlier, gate, params.monitor.tolerance, params.monitor.min_rows
    )
    assert window.labels is not None
    judgement = monitor.Judgement(
        verdict=verdict, action=action, reason=reason, model=name, log=url, feedback=labels_url,
        gate_metric=gate,
        tolerance=params.monitor.tolerance, min_rows=params.monitor.min_rows,
        since=monitor.stamp(until - span), until=monitor.stamp(until), answered=len(window),
        labelled=int(window.labels.notna().sum()), production=production, released=released,
        earlier=earlier,
    )  # fmt: skip
    summary = monitor.write_report(judgement, out_dir)
    typer.echo(summary.read_text(encoding="utf-8"))
    body, snapshot, added = "", "", "false"
    if action != "none":
        body_file = out_dir / "pull-request.md"
        body_file.write_text(monitor.render_body(judgement), encoding="utf-8")
        body = body_file.as_posix()
    if apply and action == "rollback":
        assert earlier is not None
        environment_file.write_text(
            monitor.file_at(earlier.commit, environment_file), encoding="utf-8"
        )
        typer.echo(f"{environment_file} names version {earlier.version} again", err=True)
    elif apply and action == "retrain":
        try:
            records = drift.check_batch(monitor.labelled_records(window)).frame
        except drift.BadBatchError as error:
            typer.echo(f"The labelled records break the data contract: {error}", err=True)
            raise typer.Exit(code=BAD_BATCH) from None
        kept = drift.snapshot(records, Path(params.data.batches), drift.fingerprint(records))
        snapshot, added = kept.path.as_posix(), str(kept.added).lower()
        typer.echo(f"{kept.rows:,} labelled records {'kept as' if kept.added else 'already in'} "
                   f"{kept.path}", err=True)  # fmt: skip
    _write_outputs(
        outputs, verdict=verdict, action=action, version=version,
        **{"rollback-version": earlier.version if action == "rollback" and earlier else ""},
        joined=production.rows, summary=summary.as_posix(), body=body, model=name,
        snapshot=snapshot, added=added,
    )  # fmt: skip


@app.command("serve")
def serve_command(
    model_dir: Annotated[Path, typer.Option(help="Model to serve.", file_okay=False)] = Path(
        "models/model"
    ),
    alias: Annotated[
        str | None,
        typer.Option(help="Serve the registry's version under this alias instead (staging...)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    params_file: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Serve the model over HTTP: POST /predict, GET /health, GET /version, GET /metrics.
    Each answered record goes to the inference log params.yaml's serve.capture describes."""
    import os
    import tempfile

    import uvicorn

    from {{ cookiecutter.package_name }}.serve import create_app

    params = load_params(params_file)
    capture = params.serve.capture.from_environment(os.environ)
    if alias is None:
        uvicorn.run(create_app(model_dir, capture=capture), host=host, port=port)
        return
    from mlflow.exceptions import MlflowException

    from {{ cookiecutter.package_name }}.serve import fetch_registered
    from {{ cookiecutter.package_name }}.tracking import tracking_uri

    name = params.mlflow.model_name
    with tempfile.TemporaryDirectory(prefix="registered-model-") as download:
        try:
            model_dir, provenance = fetch_registered(name, alias, Path(download))
        except MlflowException as error:
            typer.echo(f"Cannot serve {name}@{alias} from {tracking_uri()}: {error}", err=True)
            raise typer.Exit(code=1) from None
        typer.echo(f"Serving {name} version {provenance['model_version']} ({alias})", err=True)
        uvicorn.run(create_app(model_dir, provenance, capture), host=host, port=port)


@app.command("register")
def register_command(
    alias: Annotated[str, typer.Option(help="Alias to point at the new version.")] = "staging",
    run_file: Annotated[Path, typer.Option(help="run.json from train.", exists=True)] = Path(
        "models/run.json"
    ),
    commit: Annotated[
        str | None, typer.Option(help="Commit being released; default: the checked-out one.")
    ] = None,
    training: Annotated[
        str,
        typer.Option(
            help="What the release pipeline did with the train stage: `ran` means the model "
            "was trained there, not restored from an earlier run on main."
        ),
    ] = "",
    outputs: OutputsOption = None,
    params_file: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Register the trained model as a new version and point ALIAS at it (once per commit).

    A run file the pipeline wrote (the train stage's output in dvc.lock) must come with the
    model files dvc.lock records: otherwise registering is refused, naming each file."""
    from {{ cookiecutter.package_name }} import integrity, promote, tracking

    checked = integrity.recorded_output(run_file, "train")
    if checked and (problems := integrity.mismatches("train")):
        typer.echo(
            "Refusing to register: the model on disk is not the one dvc.lock records (was an "
            "object in the DVC remote overwritten after it was pushed?):",
            err=True,
        )
        for problem in problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(code=1)
    ref = tracking.RunRef.read(run_file)
    name = load_params(params_file).mlflow.model_name
    client = tracking.client()
    released = commit or tracking.git_state()["git_commit"]
    tags = {"git_commit": released, "data_version": ref.data_version}
    if training:  # a local register does not know
        tags["training"] = training
    try:
        registration = promote.register(client, name, ref.run_id, tags)
    except promote.RegistrationError as error:
        typer.echo(f"Cannot register {name}: {error}", err=True)
        raise typer.Exit(code=1) from None
    version = registration.version
    client.set_registered_model_alias(name, alias, str(version))
    how = "Registered" if registration.created else "Already registered for this commit:"
    typer.echo(f"{how} {name} version {version} from run {ref.run_id}; {alias} -> {version}")
    _write_outputs(outputs, version=version)


@app.command("tag-image")
def tag_image_command(
    version: Annotated[int, typer.Option(help="Model version the image serves.")],
    digest: Annotated[str, typer.Option(help="Image digest, sha256:<64 hex>.")],
    params_file: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Record which serving image was built for a model version."""
    from {{ cookiecutter.package_name }} import promote, tracking

    name = load_params(params_file).mlflow.model_name
    client = tracking.client()
    promote.tag_image(client, name, version, digest)
    typer.echo(f"{name} version {version} is served by {digest}")


@app.command("fetch-model")
def fetch_model_command(
    version: Annotated[int, typer.Option(help="The registered version to fetch.")],
    out_dir: Annotated[
        Path, typer.Argument(help="Where the model and run.json go, as train writes them.")
    ] = Path("models"),
    params_file: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Write a registered version into OUT_DIR, as train would: what the serving image bakes in."""
    from {{ cookiecutter.package_name }} import promote, tracking
    from {{ cookiecutter.package_name }}.train import MODEL_DIR, RUN_FILE

    name = load_params(params_file).mlflow.model_name
    try:
        ref = promote.fetch_version(
            tracking.client(), name, version, out_dir / MODEL_DIR, out_dir / RUN_FILE
        )
    except promote.RegistrationError as error:
        typer.echo(f"Cannot fetch the model: {error}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"Fetched {name} version {version} (run {ref.run_id}) into {out_dir}")


@app.command("propose-promotion")
def propose_promotion_command(
    version: Annotated[int, typer.Option(help="The candidate model version.")],
    image_name: Annotated[
        str, typer.Option(help="Its serving image's repository, e.g. ghcr.io/<owner>/<repo>.")
    ],
    digest: Annotated[str, typer.Option(help="Its serving image's digest, sha256:<64 hex>.")],
    pull_request: Annotated[
        str, typer.Option(help="The merged pull request that reviewed it (URL), if known.")
    ] = "",
    environment_file: Annotated[
        Path, typer.Option(help="The environment file to edit.", exists=True, dir_okay=False)
    ] = Path("environments/production.yaml"),
    body: Annotated[Path, typer.Option(help="Where the pull request body goes.")] = Path(
        "reports/promotion/body.md"
    ),
    outputs: OutputsOption = None,
    params_file: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Edit ENVIRONMENT_FILE to name VERSION and write the pull request that proposes it."""
    from {{ cookiecutter.package_name }} import proposal, tasks, tracking

    params = load_params(params_file)
    client = tracking.client()
    if pull_request:  # kept on the version, so that a later proposal shows it for production
        client.set_model_version_tag(
            params.mlflow.model_name, str(version), "pull_request", pull_request
        )
    proposed = proposal.propose(
        client,
        params.mlflow.model_name,
        version,
        alias=environment_file.stem,
        gate_metric=tasks.check_gate_metric(params.evaluate.gate_metric),
        tolerance=params.promote.tolerance,
        minimum=params.promote.minimum,
        disparity_tolerance=params.promote.disparity_tolerance,
        environment_file=environment_file.as_posix(),
    )
    proposal.edit_environment(environment_file, version, image_name, digest)
    body.parent.mkdir(parents=True, exist_ok=True)
    body.write_text(proposed.body, encoding="utf-8")
    typer.echo(proposed.body)
    typer.echo(f"{environment_file} now names version {version}; body in {body}", err=True)
    _write_outputs(outputs, title=proposed.title)


@app.command("record-deployment")
def record_deployment_command(
    environment_file: Annotated[
        Path, typer.Argument(help="environments/<name>.yaml", exists=True, dir_okay=False)
    ],
    version: Annotated[int, typer.Option(help="The model version the environment now runs.")],
    image_name: Annotated[
        str, typer.Option(help="Its serving image's repository, e.g. ghcr.io/<owner>/<repo>.")
    ],
    digest: Annotated[str, typer.Option(help="Its serving image's digest, sha256:<64 hex>.")],
) -> None:
    """Name VERSION and its image in ENVIRONMENT_FILE, as a deployment records it (staging)."""
    from {{ cookiecutter.package_name }} import proposal

    proposal.edit_environment(environment_file, version, image_name, digest)
    typer.echo(f"{environment_file} now names version {version}, {image_name}@{digest}")


@app.command("promote")
def promote_command(
    environment_file: Annotated[Path, typer.Argument(help="environments/<name>.yaml", exists=True)],
    check: Annotated[
        bool, typer.Option(help="Decide as a merge would, refusals included; change nothing.")
    ] = False,
    params_file: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Point the environment's alias at the version its file names, if the gate agrees."""
    from {{ cookiecutter.package_name }} import promote, tasks, tracking

    params = load_params(params_file)
    client = tracking.client()
    try:
        outcome = promote.reconcile(
            client,
            promote.read_environment(environment_file),
            alias=environment_file.stem,
            gate_metric=tasks.check_gate_metric(params.evaluate.gate_metric),
            tolerance=params.promote.tolerance,
            minimum=params.promote.minimum,
            disparity_tolerance=params.promote.disparity_tolerance,
            commit=tracking.git_state()["git_commit"],
            check_only=check,
        )
    except promote.PromotionRefusedError as refused:
        typer.echo(f"Promotion refused: {refused}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"Promotion allowed. Once merged: {outcome}" if check else outcome)
