"""The report a reviewer reads: every section says what changed, in plain words."""

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.compare import Change, Paired
from {{ cookiecutter.package_name }}.drift import ColumnDrift, DriftResult
from {{ cookiecutter.package_name }}.fairness import Group, Segment
from {{ cookiecutter.package_name }}.report import (
    DataChange,
    Report,
    Results,
    facts,
    flatten,
    plot_comparisons,
    render,
)
from {{ cookiecutter.package_name }}.tracking import RunRef

CURVE = pd.DataFrame({"label": ">50K", "fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.8, 1.0]})
PER_CLASS = pd.DataFrame(
    {
        "label": ["<=50K", ">50K"],
        "precision": [0.9, 0.7],
        "recall": [0.93, 0.6],
        "f1": [0.91, 0.65],
        "support": [75, 25],
        "roc_auc": [0.9, 0.9],
        "average_precision": [0.95, 0.8],
    }
)
EVALUATED = {"task": "binary", "target": "income", "labels": ["<=50K", ">50K"], "rows": 100}
COUNTS = pd.DataFrame(
    {
        "actual": ["<=50K", "<=50K", ">50K", ">50K"],
        "predicted": ["<=50K", ">50K", "<=50K", ">50K"],
        "count": [70, 5, 8, 17],
    }
)


def results(
    revision: str, roc_auc: float, learning_rate: float, evaluated: dict[str, object] = EVALUATED
) -> Results:
    return Results(
        revision=revision,
        metrics={"roc_auc": roc_auc, "log_loss": 0.3},
        params=flatten({"train": {"seed": 42, "model": {"learning_rate": learning_rate}}}),
        curves={"roc": CURVE},
        confusion=COUNTS,
        per_class=PER_CLASS,
        evaluated=evaluated,
    )


def report(**changes: object) -> Report:
    fields: dict[str, object] = {
        "head": results("workspace", 0.93, 0.3),
        "base": results("abc1234", 0.92, 0.1),
        "gate_metric": "roc_auc",
        "commit": "0123456789abcdef",
        "validation": {"passed": True, "rows": 1000, "source": "data.csv", "failures": []},
    }
    return Report(**(fields | changes))  # type: ignore[arg-type]


def test_the_gate_metric_on_the_same_rows_leads_with_its_interval_and_verdict() -> None:
    # given both models scored on the same 2,000 rows: roc_auc up, log_loss up (worse)
    paired = Paired(
        rows=2000,
        resamples=200,
        changes={
            "roc_auc": Change("roc_auc", 0.9200, 0.9300, low=0.0040, high=0.0150),
            "log_loss": Change("log_loss", 0.3000, 0.3100, low=-0.0180, high=-0.0030),
        },
    )

    result = report(same_rows=paired, tolerance=0.005)
    markdown = render(result, {})
    facts_ = facts(result)

    assert (
        "Gate metric **roc_auc** on the same 2,000 test rows: 0.9200 with base `abc1234` → "
        "**0.9300** with this change (+0.0100, 95% interval +0.0040 to +0.0150): **better**."
    ) in markdown
    # a loss's change and interval read in its own direction; tolerance is the gate metric's
    assert "| log_loss | 0.3000 | 0.3100 | +0.0100 | +0.0030 to +0.0180 | worse ⚠️ |" in markdown
    # each revision's own numbers follow, labelled and not judged
    assert "### Metrics each revision recorded (on its own test split)" in markdown
    assert "| **roc_auc** (gate) | 0.9200 | 0.9300 | ▲ +0.0100 |" in markdown
    assert facts_["verdict"] == "better" and facts_["same_rows"]["rows"] == 2000
    assert facts_["same_rows"]["metrics"]["log_loss"]["verdict"] == "worse"
    assert facts_["same_rows"]["metrics"]["roc_auc"]["gain_interval"] == [0.0040, 0.0150]


def test_the_test_rows_the_base_lacked_are_compared_too() -> None:
    on_new = Paired(
        rows=400, resamples=200, changes={"roc_auc": Change("roc_auc", 0.80, 0.88, 0.05, 0.11)}
    )
    both = Paired(
        rows=2000, resamples=200, changes={"roc_auc": Change("roc_auc", 0.92, 0.93, -0.01, 0.03)}
    )

    shown = report(same_rows=both, new_rows=on_new)

    assert (
        "**On the 400 test rows that are new** (not in the base's data, so neither model trained "
        "on them): roc_auc 0.8000 with base `abc1234` → 0.8800 with this change (+0.0800, 95% "
        "interval +0.0500 to +0.1100): better."
    ) in render(shown, {})
    assert facts(shown)["new_rows"]["metrics"]["roc_auc"]["verdict"] == "better"
    assert facts(report(same_rows=both))["new_rows"] is None


def test_numbers_from_different_rows_get_no_verdict() -> None:
    markdown = render(report(same_rows_note="the base's model is out of reach"), {})

    assert (
        "Gate metric **roc_auc**, each model on its own test split: 0.9200 on `abc1234` → "
        "**0.9300** here (+0.0100). Not measured on the same rows (the base's model is out of "
        "reach): no verdict."
    ) in markdown
    assert "| **roc_auc** (gate) | 0.9200 | 0.9300 | ▲ +0.0100 |" in markdown
    assert facts(report())["verdict"] is None


def test_only_changed_parameters_are_listed() -> None:
    markdown = render(report(), {})

    assert "| `train.model.learning_rate` | `0.1` | `0.3` |" in markdown
    assert "train.seed" not in markdown


def test_passed_validation_counts_the_repeated_rows_in_markdown_and_json() -> None:
    repeats = {"duplicate_rows": 123, "test_rows": 200, "test_rows_seen_in_training": 9}
    validation = {"passed": True, "rows": 1000, "source": "data.csv", "failures": []}

    shown = report(validation=validation | {"repeats": repeats})

    assert (
        "✅ 1,000 rows meet the contract. 123 rows (12.3%) copy an earlier row; 9 of the 200 "
        "test rows (4.5%) have the features of a training row."
    ) in render(shown, {})
    assert facts(shown)["validation"] == {"passed": True, "rows": 1000, "repeats": repeats}
    # a base written before repeats were counted still renders
    assert "✅ 1,000 rows meet the contract.\n" in render(report(validation=validation), {}) + "\n"


def test_failed_validation_says_nothing_was_trained_and_lists_the_rows() -> None:
    failed = {
        "passed": False,
        "rows": 1000,
        "source": "data/raw/adult.csv",
        "failures": [
            {
                "column": "age",
                "check": "less_than_or_equal_to(100)",
                "failing_rows": 1,
                "examples": [{"row": 3, "value": "250"}],
            }
        ],
    }

    # given earlier results still in the working tree
    earlier = RunRef("earlier-run-id", "1", "sqlite:///mlflow.db")

    markdown = render(report(validation=failed, run=earlier), {})

    assert "nothing was trained" in markdown
    assert "| age | less_than_or_equal_to(100) | 1 | 3: 250 |" in markdown
    assert "### Metrics" not in markdown, "earlier metrics shown as if this change made them"
    assert "earlier-run-id" not in markdown, "an earlier run shown as if this change made it"


def test_a_change_that_did_not_train_says_so_and_still_compares() -> None:
    markdown = render(report(training="skipped"), {})

    assert "Training did not run: nothing that feeds the model changed" in markdown
    assert "Gate metric **roc_auc**" in markdown, "an evaluate-only change hides its effect"


def test_a_model_restored_from_the_run_cache_is_not_called_new_training() -> None:
    markdown = render(report(training="restored"), {})

    assert "restored from DVC's run cache" in markdown
    assert "Training did not run" not in markdown


def test_data_changes_show_rows_added_removed_and_changed() -> None:
    change = DataChange(
        "data/raw/adult.csv", "modified", rows_before=1000, rows_after=1100, rows_added=120,
        rows_removed=20, rows_changed=7, columns_added=["loyalty_score"],
    )  # fmt: skip
    unreadable = DataChange("data/raw/extra.parquet", "added", rows_before=None, rows_after=None)

    shown = report(data_changes=[change, unreadable])
    markdown = render(shown, {})

    assert "| `data/raw/adult.csv` | modified | 1,000 | 1,100 | 120 | 20 | 7 |" in markdown
    assert "| `data/raw/extra.parquet` | added | — | — | — | — | — |" in markdown
    assert "- `data/raw/adult.csv` adds the columns `loyalty_score`." in markdown
    [listed, _] = facts(shown)["data_changes"]
    assert (listed["rows_added"], listed["rows_removed"], listed["rows_changed"]) == (120, 20, 7)


def test_a_data_change_is_compared_with_the_base_data_for_drift() -> None:
    columns = [
        ColumnDrift(f"feature_{index}", "wasserstein", score, 0.1, score >= 0.1)
        for index, score in enumerate([0.02, 0.31, 0.0, 0.05, 0.12, 0.01, 0.07])
    ]
    drifted = DriftResult(
        drifted=False, drifted_columns=2, drift_share=0.5, columns=columns,
        reference_rows=1000, current_rows=1100, checked_rows=(1000, 1100),
    )  # fmt: skip
    change = DataChange("data/raw/adult.csv", "modified", rows_before=1000, rows_after=1100)

    shown = report(data_changes=[change], data_drift=drifted)
    markdown = render(shown, {})

    assert "2 of 7 columns drifted (29%; the data drifts at 50%), 1,100 rows against 1,000" in (
        markdown
    )
    table = markdown[markdown.index("| column | method |") :].split("\n\n")[0].splitlines()
    assert [row.split(" | ")[0] for row in table[2:]] == [
        "| feature_1", "| feature_4", "| feature_6", "| feature_3", "| feature_0",
    ], "the five most moved, most first"  # fmt: skip
    assert "| feature_1 | wasserstein | 0.3100 | 0.1000 | drifted ⚠️ |" in markdown
    assert facts(shown)["data_drift"]["drifted_columns"] == 2
    # and a data change the base's rows could not be read for says why
    unread = report(data_changes=[change], data_drift_note="the remote is out of reach")
    assert "Not compared with the base's data for drift: the remote is out of reach." in (
        render(unread, {})
    )


def test_the_model_section_shows_fit_time_size_and_the_train_test_gap() -> None:
    fit = {"fit_seconds": 12.34, "model_bytes": 2_500_000, "train_metrics": {"roc_auc": 0.96}}
    head = replace(results("workspace", 0.93, 0.3), fit=fit)
    base = results("abc1234", 0.92, 0.1)  # written before fit.json existed

    markdown = render(report(head=head, base=base), {})

    section = markdown[markdown.index("### The model") :].split("\n\n")[1]
    assert "| | base `abc1234` | this change |" in section
    assert "| fit time | — | 12.3 s |" in section
    assert "| size on disk | — | 2.50 MB |" in section
    assert (
        "| roc_auc, train against test | — | 0.9600 on training rows, 0.9300 on test: gap +0.0300 |"
        in section
    )
    assert facts(report(head=head, base=base))["model"] == {"base": None, "head": fit}


def test_stale_results_are_flagged() -> None:
    markdown = render(report(stale_stages=["train"]), {})

    assert "Out of date" in markdown and "`train`" in markdown


@pytest.mark.parametrize(
    ("tracking_uri", "shown"),
    [
        (
            "http://mlflow.internal:5000",
            "[r1](http://mlflow.internal:5000/#/experiments/7/runs/r1)",
        ),
        ("sqlite:///mlflow.db", "`r1`"),
    ],
    ids=["server-link", "embedded-id"],
)
def test_mlflow_run_is_a_link_when_a_server_is_configured(tracking_uri: str, shown: str) -> None:
    markdown = render(report(run=RunRef("r1", "7", tracking_uri)), {})

    assert f"- MLflow run: {shown}" in markdown


def test_plots_compare_both_revisions(tmp_path: Path) -> None:
    images = plot_comparisons(report(), tmp_path)

    assert set(images) == {"roc", "confusion"}
    assert all(path.stat().st_size > 0 for path in images.values())
    markdown = render(report(), {name: path.name for name, path in images.items()})
    assert "![ROC curve](roc.png)" in markdown


def test_the_curves_are_drawn_from_the_text_with_both_revisions() -> None:
    markdown = render(report(), {})

    chart = charts_of(markdown)["ROC curve"]
    assert chart.startswith("---\nconfig:") and "\nxychart-beta\n" in chart
    assert 'x-axis "False positive rate" 0 --> 1' in chart
    # the base's curve first (grey), this change's second (blue), each 21 points of 0..1
    lines = [line for line in chart.splitlines() if line.startswith("  line ")]
    assert [line.split(" [")[0] for line in lines] == [
        '  line "base abc1234"',
        '  line "this change"',
        '  line "chance"',
    ]
    points = lines[1].split(" [")[1].rstrip("]").split(", ")
    assert len(points) == 21 and points[0] == "0" and points[10] == "0.8" and points[-1] == "1"
    assert "Grey: the base `abc1234`; blue: this change" in markdown
    assert 'plotColorPalette: "#9e9e9e, #1f77b4, #2ca02c"' in chart, "base grey, change blue"


def test_without_a_base_this_change_is_still_drawn_blue() -> None:
    markdown = render(report(base=None), {})

    chart = charts_of(markdown)["ROC curve"]
    assert '  line "this change"' in chart and "base" not in chart
    assert 'plotColorPalette: "#1f77b4, #2ca02c"' in chart
    assert "Blue: this change; green, where drawn: chance or a perfect model." in markdown


def test_the_confusion_counts_are_a_table_of_base_and_change() -> None:
    fewer = COUNTS.assign(count=[72, 3, 9, 16])

    markdown = render(report(head=replace(results("workspace", 0.93, 0.3), confusion=fewer)), {})

    assert "| true \\ predicted | &lt;=50K | &gt;50K |" in markdown
    assert "| &lt;=50K | 70 → 72 | 5 → 3 |" in markdown
    assert "| &gt;50K | 8 → 9 | 17 → 16 |" in markdown


def test_multiclass_draws_each_labels_f1_as_bars() -> None:
    labels = ["DM", "DO", 'say "PP"']
    scores = {"precision": 0.8, "recall": 0.8, "support": 10}
    table = pd.DataFrame({"label": labels, "f1": [0.9, 0.8, 0.7]}).assign(**scores)
    curves = pd.concat([CURVE.assign(label=label) for label in labels])
    head = Results("workspace", {"f1_macro": 0.8}, {}, {"roc": curves}, per_class=table)
    base = replace(head, revision="abc1234", per_class=table.assign(f1=[0.85, 0.8, 0.75]))

    markdown = render(report(head=head, base=base, gate_metric="f1_macro"), {})

    charts = charts_of(markdown)
    assert list(charts) == ["f1 by label"], "one curve per label is not drawn from the text"
    assert 'x-axis "label" ["DM", "DO", "say \'PP\'"]' in charts["f1 by label"]
    assert '  bar "base abc1234" [0.85, 0.8, 0.75]' in charts["f1 by label"]
    assert '  bar "this change" [0.9, 0.8, 0.7]' in charts["f1 by label"]


def test_regression_draws_residuals_and_mean_prediction_by_actual_value() -> None:
    actual = pd.Series(range(100), dtype=float)
    rows = pd.DataFrame({"actual": actual, "predicted": actual + 1.0})
    head = Results("workspace", {"r2": 0.9}, {}, predictions=rows)
    base = replace(head, revision="abc1234", predictions=rows.assign(predicted=actual))

    markdown = render(report(head=head, base=base, gate_metric="r2"), {})

    charts = charts_of(markdown)
    assert list(charts) == ["Mean prediction by actual value", "Residuals"]
    by_band = {
        line.split(" [")[0].split('"')[1]: [float(v) for v in line.split(" [")[1][:-1].split(", ")]
        for line in charts["Mean prediction by actual value"].splitlines()
        if line.startswith("  line ")
    }
    assert list(by_band) == ["base abc1234", "this change", "perfect"]
    assert by_band["this change"] == pytest.approx([v + 1 for v in by_band["base abc1234"]])
    residuals = charts["Residuals"]
    assert residuals.count("  line ") == 2 and 'y-axis "rows"' in residuals


def test_plots_that_cannot_be_shown_inline_are_named_with_their_artifact() -> None:
    link = "https://github.com/o/r/actions/runs/1"

    markdown = render(
        report(), {"roc": "roc.png", "confusion": "confusion.png"}, link, "model-report"
    )

    assert "![" not in markdown, "an image that the comment cannot show"
    assert (
        f"The plots as images (`roc.png`, `confusion.png`) are in the artifact `model-report` "
        f"of [this run]({link})."
    ) in markdown
    assert "```mermaid" in markdown, "the charts drawn from the text are shown anyway"


def charts_of(markdown: str) -> dict[str, str]:
    """Each Mermaid block of the report by its title."""
    blocks = re.findall(r"^```mermaid\n(.*?)^```$", markdown, re.MULTILINE | re.DOTALL)
    titled = re.compile(r'^  title "(.*)"$', re.MULTILINE)
    return {title: block for block in blocks for title in titled.findall(block)}


def test_a_base_with_another_target_is_not_compared() -> None:
    other = {"task": "multiclass", "target": "species", "labels": ["a", "b", "c"], "rows": 90}

    markdown = render(report(base=results("abc1234", 0.99, 0.1, evaluated=other)), {})

    assert "Not comparable: the target changed (species → income)" in markdown
    assert "better" not in markdown and "worse" not in markdown, "a verdict across targets"
    assert "| **roc_auc** (gate) | — | 0.9300 | new |" in markdown


def test_each_labels_precision_and_recall_are_listed() -> None:
    markdown = render(report(), {})

    assert "| &lt;=50K | 0.9000 → 0.9000 | 0.9300 → 0.9300 | 75 |" in markdown
    assert "| &gt;50K | 0.7000 → 0.7000 | 0.6000 → 0.6000 | 25 |" in markdown


def test_segments_show_each_groups_numbers_and_flag_a_gap_that_widened() -> None:
    def segment(male: tuple[float, float], female: tuple[float, float]) -> Segment:
        groups = [
            Group("Male", 60, male[0], {"true_positive_rate": male[1]}),
            Group("Female", 40, female[0], {"true_positive_rate": female[1]}),
        ]
        gap = round(abs(male[1] - female[1]), 6)
        return Segment("sex", groups, {"true_positive_rate": gap})

    compared = report(
        segments=[segment((0.91, 0.75), (0.90, 0.55))],
        base_segments=[segment((0.90, 0.70), (0.92, 0.60))],
        disparity_tolerance=0.05,
    )

    markdown = render(compared, {})

    assert "### Segments (both models on the same test rows)" in markdown
    assert (
        "**sex**: recall of the positive label gap 0.1000 → 0.2000 (+0.1000) ⚠️ wider by more "
        "than promote.disparity_tolerance 0.05."
    ) in markdown
    assert "| sex | rows | roc_auc | recall of the positive label |" in markdown
    assert "| Female | 40 | 0.9200 → 0.9000 | 0.6000 → 0.5500 |" in markdown
    [stated] = facts(compared)["segments"]
    assert stated["disparity"] == {
        "true_positive_rate": {"base": 0.1, "candidate": 0.2, "widened": True}
    }
    assert stated["groups"][1] == {
        "name": "Female",
        "rows": 40,
        "gate": {"base": 0.92, "candidate": 0.9},
        "figures": {"true_positive_rate": {"base": 0.6, "candidate": 0.55}},
    }
