"""The promotion pull request: the environment file it edits and the report its body carries."""

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from conftest import BETTER, DIGEST, GATE, IMAGE, ROOT, registered_name, version_with_metrics
from mlflow import MlflowClient

from {{ cookiecutter.package_name }}.promote import read_environment, reconcile
from {{ cookiecutter.package_name }}.proposal import edit_environment, propose
from {{ cookiecutter.package_name }}.settings import load_params

TOLERANCE = load_params(ROOT / "params.yaml").promote.tolerance


@pytest.fixture
def production_file(tmp_path: Path) -> Path:
    path = tmp_path / "production.yaml"
    shutil.copyfile(ROOT / "environments" / "production.yaml", path)
    return path


def test_the_edit_names_the_candidate_and_keeps_the_comments(production_file: Path) -> None:
    comments = [line for line in production_file.read_text().splitlines() if line.startswith("#")]
    text = production_file.read_text().replace(
        "override_reason: null", "override_reason: argued for the last candidate"
    )
    production_file.write_text(text)

    edit_environment(production_file, 7, IMAGE, DIGEST)

    environment = read_environment(production_file)
    assert (environment.model.version, environment.image.digest) == (7, DIGEST)
    assert environment.image.name == IMAGE
    assert environment.override_reason is None, "an old candidate's reason carried over"
    lines = production_file.read_text().splitlines()
    assert [line for line in lines if line.startswith("#")] == comments
    # as a person would write it: the pre-commit hooks of the promotion pull request pass
    assert f"  digest: {DIGEST}" in lines, "the digest was folded onto a line of its own"
    assert all(line == line.rstrip() for line in lines), "trailing whitespace"


def test_the_edit_keeps_the_file_a_resource_kustomize_reads_and_never_applies(
    production_file: Path,
) -> None:
    edit_environment(production_file, 7, IMAGE, DIGEST)

    spec = yaml.safe_load(production_file.read_text())
    # what the production overlay selects the file by
    assert (spec["kind"], spec["metadata"]["name"]) == ("Environment", "production")
    # without it, the overlay would hand the file to the cluster to apply
    annotations = spec["metadata"]["annotations"]
    assert annotations == {"config.kubernetes.io/local-config": "true"}


def test_a_staging_deployment_is_recorded_in_its_file_and_adds_no_override(
    tmp_path: Path,
) -> None:
    staging = tmp_path / "staging.yaml"
    shutil.copyfile(ROOT / "environments" / "staging.yaml", staging)
    assert read_environment(staging).model.version is None, "main's copy names no version"

    edit_environment(staging, 3, IMAGE, DIGEST)

    environment = read_environment(staging)
    assert (environment.model.version, environment.image.name) == (3, IMAGE)
    assert environment.image.digest == DIGEST
    assert "override_reason" not in staging.read_text(), "staging has no gate to override"


@pytest.mark.parametrize(
    ("image", "digest", "field"),
    [
        (IMAGE, "latest", "digest"),
        (IMAGE + ":v1", DIGEST, "name"),  # a tag: the digest says which image
        ("GHCR.io/Acme/Model", DIGEST, "name"),  # registries want lowercase
    ],
    ids=["tag-as-digest", "tag-in-name", "uppercase-name"],
)
def test_a_malformed_image_leaves_the_file_alone(
    production_file: Path, image: str, digest: str, field: str
) -> None:
    before = production_file.read_text()

    with pytest.raises(ValueError, match=field):
        edit_environment(production_file, 7, image, digest)
    assert production_file.read_text() == before


def test_the_first_proposal_shows_the_candidate(
    registry: tuple[MlflowClient, list[int]], tmp_path: Path
) -> None:
    client, (first, _, _) = registry
    name = registered_name(tmp_path)

    proposal = propose(client, name, first, "production", GATE, TOLERANCE, "production.yaml")

    assert proposal.title == f"Promote {name} version {first} to production"
    assert proposal.decision.allowed
    assert "first promotion" in proposal.body
    assert f"**{GATE}** (gate)" in proposal.body and DIGEST in proposal.body


def _promote(client: MlflowClient, tmp_path: Path, name: str, version: int) -> None:
    path = tmp_path / "production.yaml"
    spec = {"model": {"name": name, "version": version}, "image": {"digest": DIGEST}}
    path.write_text(yaml.safe_dump(spec))
    reconcile(client, read_environment(path), "production", GATE, TOLERANCE)


def test_a_candidate_is_compared_with_production(
    registry: tuple[MlflowClient, list[int]], tmp_path: Path
) -> None:
    client, (first, worse, better) = registry
    name = registered_name(tmp_path)
    _promote(client, tmp_path, name, first)
    production = client.get_run(client.get_model_version(name, str(first)).run_id or "")
    baseline = production.data.metrics[f"test_{GATE}"]

    up = propose(client, name, better, "production", GATE, TOLERANCE, "production.yaml")
    down = propose(client, name, worse, "production", GATE, TOLERANCE, "production.yaml")

    assert up.decision.allowed and "✅" in up.body
    arrow = "▲" if BETTER > 0 else "▼"
    improved = baseline + 0.01 * BETTER
    row = (
        f"| **{GATE}** (gate) | {baseline:.4f} | {improved:.4f} | {arrow} {0.01 * BETTER:+.4f} ✅ |"
    )
    assert row in up.body
    assert f"production (v{first})" in up.body and f"candidate (v{better})" in up.body
    assert not down.decision.allowed
    assert "❌" in down.body and "override_reason" in down.body, "a refusal must say what to do"


def test_a_candidate_that_widens_a_gap_between_groups_is_refused_in_advance(
    registry: tuple[MlflowClient, list[int]], tmp_path: Path
) -> None:
    # given production with a gap of 0.10 between two groups, and a candidate better on the
    # gate metric whose gap is 0.20
    client, (first, *_) = registry
    name = registered_name(tmp_path)
    run_id = client.get_model_version(name, str(first)).run_id
    gate_value = client.get_run(str(run_id)).data.metrics[f"test_{GATE}"]
    gap = "test_disparity.group.true_positive_rate"
    before = {f"test_{GATE}": gate_value, gap: 0.10}
    current = version_with_metrics(client, name, first, before)
    candidate = version_with_metrics(
        client, name, first, {f"test_{GATE}": gate_value + 0.01 * BETTER, gap: 0.20}
    )
    _promote(client, tmp_path, name, current)

    # when the promotion is proposed
    proposed = propose(
        client, name, candidate, "production", GATE, TOLERANCE, "production.yaml",
        disparity_tolerance=0.05,
    )  # fmt: skip

    # then its body says the gate will refuse it, naming the gap, and what to do about it
    assert not proposed.decision.allowed
    assert "❌" in proposed.body and "override_reason" in proposed.body
    assert "disparity.group.true_positive_rate 0.1000 → 0.2000" in proposed.body
    assert "| disparity.group.true_positive_rate | 0.1000 | 0.2000 | ▲ +0.1000 ⚠️ |" in proposed.body


def test_the_proposal_says_where_the_model_was_trained_and_which_pull_request_reviewed_it(
    registry: tuple[MlflowClient, list[int]], tmp_path: Path
) -> None:
    client, (first, _, better) = registry
    name = registered_name(tmp_path)
    url = "https://github.com/acme/models/pull/7"
    client.set_model_version_tag(name, str(first), "training", "restored")
    client.set_model_version_tag(name, str(first), "pull_request", url)
    client.set_model_version_tag(name, str(better), "training", "ran")

    reviewed = propose(client, name, first, "production", GATE, TOLERANCE, "production.yaml")
    retrained = propose(client, name, better, "production", GATE, TOLERANCE, "production.yaml")

    assert f"| pull request | {url} (its comment is the model report) |" in reviewed.body
    restored = "| trained | by an earlier run on main (restored from main's run cache) |"
    assert restored in reviewed.body
    staged = client.get_model_version(name, str(first)).creation_timestamp // 1000
    when = datetime.fromtimestamp(staged, UTC)
    assert f"| put on staging | {when:%Y-%m-%d %H:%M} UTC |" in reviewed.body
    assert "Retrained on main" not in reviewed.body
    # a model main had to train is flagged above the numbers, and in its provenance
    assert "⚠️ **Retrained on main**" in retrained.body
    assert "| trained | retrained on main ⚠️ |" in retrained.body
    assert "| pull request | none recorded |" in retrained.body
