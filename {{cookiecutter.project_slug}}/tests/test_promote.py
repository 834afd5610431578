"""Promotion: the registry follows the environment file, behind a gate, and rolls back by revert."""

from dataclasses import replace
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from conftest import BETTER, DIGEST, ROOT, SAMPLE, registered_name, version_with_metrics
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from {{ cookiecutter.package_name }} import contract
from {{ cookiecutter.package_name }}.promote import (
    RAN_IN_TAG,
    PromotionRefusedError,
    RegistrationError,
    fetch_version,
    gate,
    read_environment,
    reconcile,
    register,
    tag_image,
)
from {{ cookiecutter.package_name }}.settings import load_params
from {{ cookiecutter.package_name }}.tracking import RunRef

PARAMS = load_params(ROOT / "params.yaml")
GATE = PARAMS.evaluate.gate_metric
TOLERANCE = PARAMS.promote.tolerance
DISPARITY_TOLERANCE = PARAMS.promote.disparity_tolerance or 0.05


@pytest.mark.parametrize(
    ("candidate", "current", "reason", "allowed"),
    [
        (0.90, None, None, True),
        (0.91, 0.90, None, True),
        (0.90 - TOLERANCE / 2, 0.90, None, True),
        (0.80, 0.90, None, False),
        (0.80, 0.90, "the old model used a leaked feature", True),
        (0.80, 0.90, "   ", False),
    ],
    ids=["first", "better", "within-tolerance", "worse", "worse-with-reason", "blank-reason"],
)
def test_gate(candidate: float, current: float | None, reason: str | None, allowed: bool) -> None:
    decision = gate("accuracy", candidate, current, TOLERANCE, reason)  # higher is better

    assert decision.allowed is allowed, decision.message
    if not allowed:
        assert "worse by" in decision.message, "a refusal must say by how much"


def test_gate_knows_lower_is_better_for_losses() -> None:
    assert gate("log_loss", candidate=0.25, current=0.30, tolerance=0, override_reason=None).allowed
    assert not gate("log_loss", 0.35, 0.30, tolerance=0, override_reason=None).allowed


def test_the_floor_refuses_a_candidate_below_it_first_or_not_unless_a_reason_is_given() -> None:
    floor = 0.75

    below = gate("accuracy", 0.70, None, TOLERANCE, None, minimum=floor)
    better_but_below = gate("accuracy", 0.70, 0.60, TOLERANCE, None, minimum=floor)

    assert not below.allowed and not better_but_below.allowed
    assert below.message == "accuracy: candidate 0.7000, below the floor promote.minimum 0.75"
    assert gate("accuracy", 0.70, None, TOLERANCE, "a pilot for one client", minimum=floor).allowed
    assert gate("accuracy", 0.80, None, TOLERANCE, None, minimum=floor).allowed
    # a loss's floor is a ceiling: lower is better
    assert not gate("log_loss", 0.50, None, 0, None, minimum=0.40).allowed
    assert gate("log_loss", 0.30, None, 0, None, minimum=0.40).allowed


def promote_to(
    client: MlflowClient,
    tmp_path: Path,
    version: int | None,
    commit: str = "abc",
    check_only: bool = False,
    minimum: float | None = None,
    **extra: object,
) -> str:
    name = registered_name(tmp_path)
    spec = {"model": {"name": name, "version": version}, "image": {"digest": DIGEST}, **extra}
    path = tmp_path / "production.yaml"
    path.write_text(yaml.safe_dump(spec))
    environment = read_environment(path)
    return reconcile(
        client,
        environment,
        "production",
        GATE,
        TOLERANCE,
        commit,
        check_only,
        minimum,
        disparity_tolerance=DISPARITY_TOLERANCE,
    )


def test_a_first_promotion_below_the_floor_is_refused(
    registry: tuple[MlflowClient, list[int]], tmp_path: Path
) -> None:
    client, (first, _, _) = registry
    run_id = client.get_model_version(registered_name(tmp_path), str(first)).run_id
    score = client.get_run(str(run_id)).data.metrics[f"test_{GATE}"]
    above_it = score + 0.01 * BETTER

    with pytest.raises(PromotionRefusedError, match=r"below the floor promote\.minimum"):
        promote_to(client, tmp_path, first, minimum=above_it)

    assert "for the first time" in promote_to(client, tmp_path, first, minimum=score)


def alias_of(client: MlflowClient, tmp_path: Path) -> int:
    name = registered_name(tmp_path)
    return int(client.get_model_version_by_alias(name, "production").version)


def test_promote_is_idempotent_and_a_revert_rolls_back(
    registry: tuple[MlflowClient, list[int]], tmp_path: Path
) -> None:
    client, (first, _, better) = registry

    assert "for the first time" in promote_to(client, tmp_path, first)
    assert "nothing to change" in promote_to(client, tmp_path, first)
    assert "from version" in promote_to(client, tmp_path, better)
    assert alias_of(client, tmp_path) == better
    # reverting the file's change puts back a version production ran before: no gate
    assert "rolled back" in promote_to(client, tmp_path, first, commit="revert")
    assert alias_of(client, tmp_path) == first
    name = registered_name(tmp_path)
    tags = client.get_model_version(name, str(first)).tags
    deployed = tags[RAN_IN_TAG.format(alias="production")]
    assert deployed == "revert", "the registry does not record which commit deployed the version"


def test_a_check_decides_as_the_merge_would_and_changes_nothing(
    registry: tuple[MlflowClient, list[int]], tmp_path: Path
) -> None:
    client, (first, worse, better) = registry
    promote_to(client, tmp_path, first)
    name = registered_name(tmp_path)
    tags = client.get_model_version(name, str(better)).tags

    # a better candidate passes the check, a worse one without a reason is refused by it
    assert "from version" in promote_to(client, tmp_path, better, check_only=True)
    with pytest.raises(PromotionRefusedError, match="override_reason"):
        promote_to(client, tmp_path, worse, check_only=True)

    # and neither moved production or tagged a version
    assert alias_of(client, tmp_path) == first
    assert client.get_model_version(name, str(better)).tags == tags


def test_reverting_the_first_promotion_leaves_production_empty(
    registry: tuple[MlflowClient, list[int]], tmp_path: Path
) -> None:
    client, (first, _, _) = registry
    promote_to(client, tmp_path, first)

    assert "no longer runs" in promote_to(client, tmp_path, None)
    with pytest.raises(MlflowException):
        alias_of(client, tmp_path)
    assert "nothing to change" in promote_to(client, tmp_path, None)


def test_a_commit_is_registered_once(trained: Path, tmp_path: Path) -> None:
    ref = RunRef.read(trained / "models" / "run.json")
    client = MlflowClient(tracking_uri=ref.tracking_uri)
    name = f"model-{tmp_path.name}"

    first = register(client, name, ref.run_id, {"git_commit": "aaa"})
    rerun = register(client, name, ref.run_id, {"git_commit": "aaa"})
    next_commit = register(client, name, ref.run_id, {"git_commit": "bbb"})

    assert (first.created, rerun.created, next_commit.created) == (True, False, True)
    assert rerun.version == first.version and next_commit.version == first.version + 1
    # and the registered version is the model itself: it loads and predicts
    mlflow.set_tracking_uri(ref.tracking_uri)
    model = mlflow.sklearn.load_model(f"models:/{name}/{first.version}")
    if contract.is_classification():
        assert sorted(map(str, model.classes_)) == sorted(contract.labels())
    assert len(model.predict(pd.read_csv(SAMPLE)[contract.feature_columns()].head(2))) == 2


def test_a_fetched_version_is_the_registered_model_as_train_wrote_it(
    trained: Path, tmp_path: Path
) -> None:
    ref = RunRef.read(trained / "models" / "run.json")
    client = MlflowClient(tracking_uri=ref.tracking_uri)
    name = f"model-{tmp_path.name}"
    version = register(client, name, ref.run_id, {"git_commit": "aaa"}).version
    out = tmp_path / "models"

    fetched = fetch_version(client, name, version, out / "model", out / "run.json")

    # the files the run logged, byte for byte, and the run they came from
    assert files_in(out / "model") == files_in(trained / "models" / "model") != {}
    assert RunRef.read(out / "run.json") == fetched == replace(ref, model_name=name)
    with pytest.raises(RegistrationError, match=f"{name} version {version + 1}"):
        fetch_version(client, name, version + 1, out / "model", out / "run.json")


def files_in(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file()
    }


def test_a_run_missing_from_the_store_is_not_registered(trained: Path, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'elsewhere.db'}")

    with pytest.raises(RegistrationError, match="MLFLOW_TRACKING_URI"):
        register(client, "model", "0123456789abcdef", {"git_commit": "aaa"})
    assert not client.search_registered_models(), "a model was created for a run it cannot find"


def test_a_worse_candidate_needs_a_reason(
    registry: tuple[MlflowClient, list[int]], tmp_path: Path
) -> None:
    client, (first, worse, _) = registry
    promote_to(client, tmp_path, first)

    with pytest.raises(PromotionRefusedError, match="override_reason"):
        promote_to(client, tmp_path, worse)
    assert alias_of(client, tmp_path) == first, "a refused promotion moved production"

    promote_to(client, tmp_path, worse, override_reason="recalibrated for the new census")
    assert alias_of(client, tmp_path) == worse


def test_a_candidate_that_widens_a_segments_gap_needs_a_reason(
    registry: tuple[MlflowClient, list[int]], tmp_path: Path
) -> None:
    # given production with a gap of 0.10 between two groups, and two candidates better on
    # the gate metric: one widens the gap within the tolerance, one past it
    client, (first, *_) = registry
    name = registered_name(tmp_path)
    baseline = client.get_run(str(client.get_model_version(name, str(first)).run_id))
    gate_value = baseline.data.metrics[f"test_{GATE}"]
    gap = "test_disparity.group.true_positive_rate"

    def version_with(gate_shift: float, widened_gap: float) -> int:
        metrics = {f"test_{GATE}": gate_value + gate_shift * BETTER, gap: widened_gap}
        return version_with_metrics(client, name, first, metrics)

    current = version_with(0.0, 0.10)
    within = version_with(0.01, 0.10 + DISPARITY_TOLERANCE / 2)
    past = version_with(0.02, 0.10 + DISPARITY_TOLERANCE + 0.05)
    promote_to(client, tmp_path, current)

    # then the one within the tolerance is promoted, and the one past it is refused, naming
    # the gap, until the file says why
    promote_to(client, tmp_path, within)
    with pytest.raises(PromotionRefusedError, match=r"disparity\.group\.true_positive_rate") as no:
        promote_to(client, tmp_path, past)
    assert "promote.disparity_tolerance" in str(no.value) and "override_reason" in str(no.value)
    assert alias_of(client, tmp_path) == within, "a refused promotion moved production"
    outcome = promote_to(client, tmp_path, past, override_reason="the new data is fairer")
    assert "overridden: the new data is fairer" in outcome
    assert alias_of(client, tmp_path) == past


@pytest.mark.parametrize(
    ("version", "digest", "message"),
    [(99, DIGEST, "does not exist"), (1, "sha256:" + "cd" * 32, "was not built for")],
    ids=["unknown-version", "foreign-digest"],
)
def test_a_version_or_digest_that_does_not_exist_is_refused(
    version: int,
    digest: str,
    message: str,
    registry: tuple[MlflowClient, list[int]],
    tmp_path: Path,
) -> None:
    client, (first, _, _) = registry
    promote_to(client, tmp_path, first)

    with pytest.raises(PromotionRefusedError, match=message):
        promote_to(client, tmp_path, version, image={"digest": digest})
    assert alias_of(client, tmp_path) == first


def test_environment_files_of_this_repository_parse() -> None:
    for name in ("production", "staging"):
        environment = read_environment(ROOT / "environments" / f"{name}.yaml")
        assert environment.model.name == PARAMS.mlflow.model_name
    # the Kubernetes overlay finds production.yaml by kind and name
    production = read_environment(ROOT / "environments" / "production.yaml")
    assert production.kind == "Environment"
    assert production.metadata is not None and production.metadata.name == "production"


@pytest.mark.parametrize(
    "change",
    [{"kind": "Deployment"}, {"apiVersion": "v1"}, {"spec": {}}],
    ids=["a-kubernetes-kind", "a-kubernetes-api", "an-unknown-key"],
)
def test_an_environment_file_that_is_not_one_is_refused(
    change: dict[str, object], tmp_path: Path
) -> None:
    spec = yaml.safe_load((ROOT / "environments" / "production.yaml").read_text())
    path = tmp_path / "production.yaml"
    path.write_text(yaml.safe_dump(spec | change))

    with pytest.raises(ValueError, match=next(iter(change))):
        read_environment(path)


def test_a_candidate_for_another_target_is_not_judged_against_production(
    registry: tuple[MlflowClient, list[int]], trained: Path, tmp_path: Path
) -> None:
    # given production on the trained model, and a better-scoring version of another target
    client, (first, _, _) = registry
    name = registered_name(tmp_path)
    promote_to(client, tmp_path, first)
    ref = RunRef.read(trained / "models" / "run.json")
    production = client.get_run(ref.run_id).data
    run = client.create_run(ref.experiment_id, tags={**production.tags, "target": "other"})
    client.log_metric(run.info.run_id, f"test_{GATE}", production.metrics[f"test_{GATE}"])
    client.set_terminated(run.info.run_id)
    created = client.create_model_version(name, f"runs:/{ref.run_id}/model", run.info.run_id)
    other = int(created.version)
    tag_image(client, name, other, DIGEST)

    # then promoting it is refused as not comparable, until a reason is given
    with pytest.raises(PromotionRefusedError, match="not comparable: the target changed"):
        promote_to(client, tmp_path, other)
    assert alias_of(client, tmp_path) == first
    reason = "we now predict the other column"
    assert "overridden" in promote_to(client, tmp_path, other, override_reason=reason)
