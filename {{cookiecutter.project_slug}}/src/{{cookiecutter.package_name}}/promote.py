"""Promote: make the registry say what an environment file says, after the gate agrees.

`environments/<name>.yaml` is the record: the model version and image digest an environment
runs. Promotion reconciles the registry alias of the same name to that file. It is idempotent
(a second run changes nothing), and reverting the file's commit moves the alias back.

`gate` is pure; `register`, `tag_image`, `fetch_version` and `reconcile` talk to the MLflow
registry.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import mlflow
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pydantic import BaseModel, ConfigDict, Field

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.compare import verdict
from {{ cookiecutter.package_name }}.tasks import gain

IMAGE_DIGEST_TAG = "image_digest"
# Set on every version an alias has pointed at, to the commit of the environment file that put
# it there: the registry's side of the audit trail (the file's git history is the other).
RAN_IN_TAG = "ran_in_{alias}"


class PromotionRefusedError(RuntimeError):
    """The environment file asks for something the registry or the gate cannot accept."""


class RegistrationError(RuntimeError):
    """The trained model cannot be registered where MLFLOW_TRACKING_URI points."""


class ModelRef(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")
    name: str = Field(min_length=1)
    version: int | None = Field(default=None, ge=1)


class ImageRef(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")
    # The registry repository, without tag or digest: lowercase, as registries require.
    name: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)+$",
    )
    digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")


class EnvironmentMetadata(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")
    name: str = Field(min_length=1)
    annotations: dict[str, str] = {}


class Environment(BaseModel):
    """An environment file: what runs there, and why if the gate had to be overridden.

    `apiVersion`, `kind` and `metadata` let kustomize read the file as a resource (the
    Kubernetes overlay takes the image and version from it); promotion ignores them.
    """

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")
    api_version: Literal["mlops.local/v1"] | None = Field(default=None, alias="apiVersion")
    kind: Literal["Environment"] | None = None
    metadata: EnvironmentMetadata | None = None
    model: ModelRef
    image: ImageRef = ImageRef()
    override_reason: str | None = None


def read_environment(path: Path) -> Environment:
    with path.open(encoding="utf-8") as handle:
        return Environment.model_validate(yaml.safe_load(handle))


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    message: str


def gate(
    metric: str,
    candidate: float,
    current: float | None,
    tolerance: float,
    override_reason: str | None,
    not_comparable: str | None = None,
    minimum: float | None = None,
) -> GateDecision:
    """A candidate may not be worse than what runs now by more than `tolerance` on `metric`,
    nor worse than `minimum` (promote.minimum: the floor that a first promotion, which has
    nothing to be compared with, must clear too).

    `not_comparable` says why the two numbers measure different things (another target or
    task): then there is no verdict, and only a reason lets the candidate through.
    """
    overridden = bool(override_reason and override_reason.strip())
    if minimum is not None and gain(metric, before=minimum, after=candidate) < 0:
        summary = f"{metric}: candidate {candidate:.4f}, below the floor promote.minimum {minimum}"
        if overridden:
            return GateDecision(True, f"{summary}, overridden: {override_reason}")
        return GateDecision(False, summary)
    if current is None:
        floor = "" if minimum is None else f", above the floor promote.minimum {minimum}"
        return GateDecision(True, f"nothing runs yet; candidate {metric} {candidate:.4f}{floor}")
    if not_comparable:
        summary = (
            f"not comparable: {not_comparable}, so {metric} {candidate:.4f} cannot be judged "
            f"against the current {current:.4f}"
        )
        if overridden:
            return GateDecision(True, f"{summary}; overridden: {override_reason}")
        return GateDecision(False, summary)
    worse_by = -gain(metric, before=current, after=candidate)
    summary = f"{metric}: candidate {candidate:.4f}, current {current:.4f}"
    if verdict(-worse_by, -worse_by, tolerance) != "worse":  # the report's rule, one measurement
        return GateDecision(True, f"{summary}: within the gate (tolerance {tolerance})")
    if overridden:
        return GateDecision(
            True, f"{summary}: worse by {worse_by:.4f}, overridden: {override_reason}"
        )
    return GateDecision(
        False, f"{summary}: worse by {worse_by:.4f}, more than the tolerance {tolerance}"
    )


def disparity_gate(
    decision: GateDecision,
    current: dict[str, float],
    candidate: dict[str, float],
    tolerance: float | None,
    override_reason: str | None,
) -> GateDecision:
    """The gate metric's `decision`, refused after all where a segment's disparity (a gap
    between groups, `disparity.*` metrics) widens by more than `tolerance` against what runs
    now, unless `override_reason` says why."""
    if not decision.allowed or tolerance is None:
        return decision
    widened = {
        key: (current[key], value)
        for key, value in sorted(candidate.items())
        if key in current and value - current[key] > tolerance
    }
    if not widened:
        return decision
    listed = ", ".join(
        f"{key} {before:.4f} → {after:.4f}" for key, (before, after) in widened.items()
    )
    summary = f"a disparity widened by more than promote.disparity_tolerance {tolerance}: {listed}"
    if override_reason and override_reason.strip():
        return GateDecision(True, f"{decision.message}; {summary}, overridden: {override_reason}")
    return GateDecision(False, f"{decision.message}; but {summary}")


def disparities(metrics: dict[str, float]) -> dict[str, float]:
    """The `disparity.*` entries of a version's test metrics (without the `test_` prefix)."""
    return {key: value for key, value in metrics.items() if key.startswith("disparity.")}


@dataclass(frozen=True)
class Registration:
    version: int
    created: bool  # False: this commit's model was registered before (a re-run)


def register(
    client: MlflowClient,
    name: str,
    run_id: str,
    tags: dict[str, str],
    artifact_name: str = "model",  # train.MODEL_DIR, the name the run logged its model under
) -> Registration:
    """A new version of `name` from the model the run logged, once per `git_commit` tag.

    Re-running a release for the same commit finds the version it registered, so a retried
    workflow never leaves two versions of one commit.
    """
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise RegistrationError(
            f"run {run_id} is not in the tracking store at {client.tracking_uri}. Train with "
            "MLFLOW_TRACKING_URI pointing there (the pull request's pipeline does when the "
            "repository variable is set), or retrain here with `dvc repro --force train`."
        ) from None
    # MLflow 3 keeps a logged model apart from its run's artifacts: register that model.
    logged = [
        model
        for model in client.search_logged_models(
            [run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'"
        )
        if model.name == artifact_name
    ]
    if not logged:
        raise RegistrationError(f"run {run_id} logged no model named {artifact_name!r}")
    model_id = logged[-1].model_id
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    if commit := tags.get("git_commit"):
        query = f"name = '{name}' and tags.git_commit = '{commit}'"
        for existing in client.search_model_versions(query):
            if existing.run_id == run_id:
                return Registration(int(existing.version), created=False)
    version = client.create_model_version(
        name, source=f"models:/{model_id}", run_id=run_id, tags=tags, model_id=model_id
    )
    return Registration(int(version.version), created=True)


def fetch_version(
    client: MlflowClient, name: str, version: int, model_dir: Path, run_file: Path
) -> tracking.RunRef:
    """Write version `version` of `name` as training writes a model: its files in `model_dir`,
    its run in `run_file`. The release builds its image from this, so the image serves the
    version the registry names, whatever model the checkout's dvc.lock points at."""
    try:
        registered = client.get_model_version(name, str(version))
        run = client.get_run(registered.run_id or "")
    except MlflowException as error:
        raise RegistrationError(
            f"{name} version {version} or its run is not in {client.tracking_uri}: {error}"
        ) from None
    shutil.rmtree(model_dir, ignore_errors=True)
    model_dir.mkdir(parents=True)
    # The logged model the version was made from, downloaded as train downloads it: the same
    # files, where `models:/<name>/<version>` would add the registry's name and version.
    mlflow.artifacts.download_artifacts(
        artifact_uri=registered.source, tracking_uri=client.tracking_uri, dst_path=str(model_dir)
    )
    ref = tracking.RunRef(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        tracking_uri=client.tracking_uri,
        model_name=name,
        git_commit=run.data.tags.get("git_commit", "unknown"),
        data_version=run.data.tags.get("data_version", "unknown"),
        fit_seconds=run.data.metrics.get("fit_seconds"),  # train logs it
    )
    ref.write(run_file)
    return ref


def tag_image(client: MlflowClient, name: str, version: int, digest: str) -> None:
    """Record the digest of the serving image built for a version."""
    ImageRef(digest=digest)  # refuse anything but a sha256 digest
    client.set_model_version_tag(name, str(version), IMAGE_DIGEST_TAG, digest)


def current_version(client: MlflowClient, name: str, alias: str) -> int | None:
    try:
        return int(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def reconcile(
    client: MlflowClient,
    environment: Environment,
    alias: str,
    gate_metric: str,
    tolerance: float,
    commit: str = "unknown",
    check_only: bool = False,
    minimum: float | None = None,
    disparity_tolerance: float | None = None,
) -> str:
    """Point `alias` at the file's version; returns what happened, raises PromotionRefusedError.

    `commit` is the environment file's commit, recorded on the version as the deployment.
    `check_only`: decide exactly as a merge would, refusals included, and change nothing.
    """
    name, wanted = environment.model.name, environment.model.version
    now = current_version(client, name, alias)
    if wanted is None:
        # Only a revert of the first promotion gets here: the environment runs nothing again.
        if now is None:
            return f"{alias} runs no version of {name}: nothing to change"
        if not check_only:
            client.delete_registered_model_alias(name, alias)
        return f"{alias} no longer runs {name} (was version {now}): the file names no version"
    try:
        version = client.get_model_version(name, str(wanted))
    except MlflowException:
        raise PromotionRefusedError(
            f"{name} version {wanted} does not exist in the registry"
        ) from None
    recorded = version.tags.get(IMAGE_DIGEST_TAG)
    if environment.image.digest is not None and environment.image.digest != recorded:
        raise PromotionRefusedError(
            f"image {environment.image.digest} was not built for {name} version {wanted} "
            f"(its image is {recorded or 'not recorded'})"
        )
    if now == wanted:
        return f"{alias} already runs {name} version {wanted}: nothing to change"
    ran_here = RAN_IN_TAG.format(alias=alias)
    if ran_here in version.tags:
        # A version this environment ran before: a rollback (a reverted file), not a candidate.
        if not check_only:
            client.set_registered_model_alias(name, alias, str(wanted))
            client.set_model_version_tag(name, str(wanted), ran_here, commit)
        return f"{alias} rolled back to {name} version {wanted} (from version {now})"
    decision = gate(
        gate_metric,
        candidate=_test_metric(client, name, wanted, gate_metric),
        current=None if now is None else _test_metric(client, name, now, gate_metric),
        tolerance=tolerance,
        override_reason=environment.override_reason,
        not_comparable=None
        if now is None
        else not_comparable(predicts(client, name, wanted), predicts(client, name, now)),
        minimum=minimum,
    )
    if now is not None:
        decision = disparity_gate(
            decision,
            disparities(test_metrics(client, name, now)),
            disparities(test_metrics(client, name, wanted)),
            disparity_tolerance,
            environment.override_reason,
        )
    if not decision.allowed:
        raise PromotionRefusedError(
            f"{decision.message}. Set `override_reason` in the environment file to promote it "
            "anyway."
        )
    if not check_only:
        client.set_registered_model_alias(name, alias, str(wanted))
        client.set_model_version_tag(name, str(wanted), ran_here, commit)
    moved = f"from version {now}" if now is not None else "for the first time"
    return f"{alias} now runs {name} version {wanted} ({moved}); {decision.message}"


def predicts(client: MlflowClient, name: str, version: int) -> dict[str, str]:
    """The task and target a version was trained for (its run's tags; empty before they
    were recorded)."""
    run_id = client.get_model_version(name, str(version)).run_id
    tags = client.get_run(run_id).data.tags if run_id else {}
    return {key: tags[key] for key in ("task", "target") if key in tags}


def not_comparable(candidate: dict[str, str], current: dict[str, str] | None) -> str | None:
    """Why two versions' metrics cannot be set against each other, if they cannot."""
    for key, what in (("target", "the target"), ("task", "the task")):
        before, after = (current or {}).get(key), candidate.get(key)
        if before and after and before != after:
            return f"{what} changed ({before} → {after})"
    return None


def _test_metric(client: MlflowClient, name: str, version: int, metric: str) -> float:
    metrics = test_metrics(client, name, version)
    if metric not in metrics:
        raise PromotionRefusedError(f"{name} version {version} has no test_{metric} to gate on")
    return metrics[metric]


def test_metrics(client: MlflowClient, name: str, version: int) -> dict[str, float]:
    """A version's metrics on its test split, without the `test_` prefix."""
    run_id = client.get_model_version(name, str(version)).run_id
    if run_id is None:
        raise PromotionRefusedError(f"{name} version {version} was not registered from a run")
    metrics = client.get_run(run_id).data.metrics
    return {key[5:]: float(value) for key, value in metrics.items() if key.startswith("test_")}
