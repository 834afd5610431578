"""A promotion proposal: the environment file edited to name a candidate, and the pull request
body that compares the candidate with what the environment runs now.

The release workflow writes both and opens (or updates) one pull request with them. Merging it is
the deployment; `promote.reconcile` applies it.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from ruamel.yaml import YAML
from ruamel.yaml.representer import RoundTripRepresenter

from {{ cookiecutter.package_name }}.promote import (
    IMAGE_DIGEST_TAG,
    GateDecision,
    ImageRef,
    current_version,
    disparities,
    disparity_gate,
    gate,
    not_comparable,
    predicts,
)
from {{ cookiecutter.package_name }}.report import metrics_table, params_table
from {{ cookiecutter.package_name }}.tracking import run_url

# What the release pipeline did with the train stage (run-pipeline's `training` output).
TRAINED = {
    "ran": "retrained on main ⚠️",
    "restored": "by an earlier run on main (restored from main's run cache)",
    "skipped": "before this merge (nothing that feeds it changed)",
}


@dataclass(frozen=True)
class VersionFacts:
    """What a reviewer needs to know about one registered version."""

    version: int
    metrics: dict[str, float]  # the test split's, without the "test_" prefix
    params: dict[str, str]
    git_commit: str
    data_version: str
    run_id: str
    run_link: str  # a Markdown link to the run when the store has a web UI
    image_digest: str | None
    registered_at: datetime  # and put on staging: `register --alias staging` does both
    training: str | None  # what the release pipeline did: "ran" means retrained there
    pull_request: str | None  # the merged pull request's URL


def describe(client: MlflowClient, name: str, version: int) -> VersionFacts:
    model_version = client.get_model_version(name, str(version))
    run = client.get_run(model_version.run_id or "")
    link = run_url(client.tracking_uri, run.info.experiment_id, run.info.run_id)
    return VersionFacts(
        version=version,
        metrics={
            key.removeprefix("test_"): value
            for key, value in run.data.metrics.items()
            if key.startswith("test_")
        },
        params=dict(run.data.params),
        git_commit=model_version.tags.get("git_commit", "unknown"),
        data_version=model_version.tags.get("data_version", "unknown"),
        run_id=run.info.run_id,
        run_link=f"[{run.info.run_id}]({link})" if link else f"`{run.info.run_id}`",
        image_digest=model_version.tags.get(IMAGE_DIGEST_TAG),
        registered_at=datetime.fromtimestamp(model_version.creation_timestamp / 1000, UTC),
        training=model_version.tags.get("training"),
        pull_request=model_version.tags.get("pull_request"),
    )


def edit_environment(path: Path, version: int, image_name: str, digest: str) -> None:
    """Name `version` and its image (`image_name@digest`) in the environment file, keeping its
    comments.

    Any override reason is dropped: it argued for an earlier candidate, not this one.
    """
    # Refuse a malformed name or anything but a sha256 digest before touching the file.
    ImageRef(name=image_name, digest=digest)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # ruamel folds at 80: a digest would move to its own line, after a space
    yaml.representer.add_representer(type(None), _null)
    spec: Any = yaml.load(path)
    spec["model"]["version"] = version
    spec["image"]["name"] = image_name
    spec["image"]["digest"] = digest
    if "override_reason" in spec:
        spec["override_reason"] = None
    yaml.dump(spec, path)


def _null(representer: RoundTripRepresenter, _: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


@dataclass(frozen=True)
class Proposal:
    title: str
    body: str
    decision: GateDecision


def propose(
    client: MlflowClient,
    name: str,
    candidate_version: int,
    alias: str,
    gate_metric: str,
    tolerance: float,
    environment_file: str,
    minimum: float | None = None,
    disparity_tolerance: float | None = None,
) -> Proposal:
    """The pull request that would move `alias` to `candidate_version`, and the gate's view."""
    candidate = describe(client, name, candidate_version)
    now = current_version(client, name, alias)
    current = describe(client, name, now) if now is not None else None
    decision = gate(
        gate_metric,
        candidate=candidate.metrics[gate_metric],
        current=current.metrics.get(gate_metric) if current else None,
        tolerance=tolerance,
        override_reason=None,
        not_comparable=None
        if now is None
        else not_comparable(predicts(client, name, candidate_version), predicts(client, name, now)),
        minimum=minimum,
    )
    if current is not None:
        decision = disparity_gate(
            decision,
            disparities(current.metrics),
            disparities(candidate.metrics),
            disparity_tolerance,
            override_reason=None,
        )
    title = f"Promote {name} version {candidate_version} to {alias}"
    body = render(name, alias, candidate, current, decision, gate_metric, environment_file)
    return Proposal(title, body, decision)


def render(
    name: str,
    alias: str,
    candidate: VersionFacts,
    current: VersionFacts | None,
    decision: GateDecision,
    gate_metric: str,
    environment_file: str,
) -> str:
    version = candidate.version
    parts = [
        f"## Promote {name} version {version} to {alias}",
        f"Merging this pull request is the deployment: the promote workflow points the "
        f"registry's `{alias}` alias at version {version}, and {alias} runs its image "
        f"`{candidate.image_digest or 'not recorded'}`. Reverting the merge rolls back.",
        _gate(decision, gate_metric, environment_file),
    ]
    if candidate.training == "ran":
        parts.append(
            "⚠️ **Retrained on main**: this model was not in main's run cache when its commit "
            "was merged, so the release workflow trained it from that commit (a release never "
            "restores what a pull request's job pushed). It is not the file the pull request's "
            "report was made from; its numbers below are its own."
        )
    if current is None:
        parts.append(f"Nothing runs in {alias} yet: this is the first promotion.")
        parts.append(
            "### Candidate (test split)\n\n"
            + metrics_table({}, candidate.metrics, gate_metric, labels=("—", f"v{version}"))
        )
    else:
        labels = (f"{alias} (v{current.version})", f"candidate (v{version})")
        parts.append(
            f"### Candidate against {alias} (test split)\n\n"
            + metrics_table(current.metrics, candidate.metrics, gate_metric, labels)
        )
        changed = params_table(current.params, candidate.params, labels)
        parts.append(
            f"### Parameters that changed\n\n{changed}" if changed else "No parameter changed."
        )
    parts.append(_provenance(alias, candidate, current))
    parts.append(
        "<sub>Opened by the release workflow. Each merge to `main` updates this pull request "
        "to its newest model until it is merged or closed; it is never duplicated.</sub>"
    )
    return "\n\n".join(parts) + "\n"


def _gate(decision: GateDecision, gate_metric: str, environment_file: str) -> str:
    if decision.allowed:
        return f"✅ **Gate ({gate_metric})**: {decision.message}."
    return (
        f"❌ **Gate ({gate_metric})**: {decision.message}. As it stands, "
        f"merging this will be refused: to promote it anyway, add to this pull request an "
        f"`override_reason` in `{environment_file}` that says why."
    )


def _provenance(alias: str, candidate: VersionFacts, current: VersionFacts | None) -> str:
    columns = [current, candidate] if current is not None else [candidate]
    header = f"| | {alias} | candidate |" if current is not None else "| | candidate |"
    rows = {
        "pull request": [
            f"{facts.pull_request} (its comment is the model report)"
            if facts.pull_request
            else "none recorded"
            for facts in columns
        ],
        "put on staging": [f"{facts.registered_at:%Y-%m-%d %H:%M} UTC" for facts in columns],
        "trained": [TRAINED.get(facts.training or "", "not recorded") for facts in columns],
        "commit": [f"`{facts.git_commit[:12]}`" for facts in columns],
        "data version": [f"`{facts.data_version}`" for facts in columns],
        "MLflow run": [facts.run_link for facts in columns],
        "image": [f"`{facts.image_digest or 'not recorded'}`" for facts in columns],
    }
    lines = ["### Provenance", "", header, "| --- " * (len(columns) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows.items()]
    return "\n".join(lines)
