"""The generated `main.yml` and `promote.yml`, run for real under `act`: merge -> release ->
promotion pull request -> merge -> production, and rollback by revert.

A module fixture plays GitHub and the team's servers: a generated repository whose `main` has a
trained model (its data and run cache in the DVC remote beside it), the GitHub API stand-in
backed by that repository (so the promotion branch and its merge are real git), and an MLflow
tracking server on loopback whose backend store is PostgreSQL. The tests run in order, as the
story of one repository: each merges something into `main` and runs the workflow GitHub would.
"""

import hashlib
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run
from servers import mlflow_server, postgres, s3_client, s3_env, s3_keys, s3_server
from standins.github_api import APP_CLIENT_ID, GitHubState, github_api
from workflow_runs import (
    REPOSITORY,
    ROLES,
    Environment,
    WorkflowRun,
    generated_repository,
    pull_request_event,
    run_workflow,
    train_and_push,
)

pytestmark = pytest.mark.slow

MODEL = "income-classifier"
PROMOTION_BRANCH = "promote/production"
STAGING_BRANCH = "deploy/staging"
# The jobs whose summaries the cases read, by the names the run's page shows.
STAGING, PROPOSAL = "Deploy to staging", "Propose the promotion to production"
PROMOTE = "Promote what production.yaml names"
ECR = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{MODEL}"  # IMAGE_REPOSITORY, once set
RETRAINED = "Retrained on main"  # main.yml's warning when the merged model was not in the cache
DVC_BUCKET = "dvc"
# The environments as the generated README sets them up: deployments from main only, the App's
# key in `release` (the tests' tracking server asks for no password).
ENVIRONMENTS = {
    "production": Environment(branches=("main",)),
    "release": Environment(
        branches=("main",), secrets={"RELEASE_APP_PRIVATE_KEY": "standin-private-key"}
    ),
}


@dataclass
class GitHub:
    origin: Path  # the repository on "GitHub", `main` checked out
    dvc_remote: str  # the DVC_REMOTE_URL variable, in the bucket below
    tracking_uri: str  # the MLflow server the repository variable names
    api: GitHubState
    scratch: Path
    s3_url: str  # the S3-compatible server: the DVC remote's and the tracking server's buckets
    push: dict[str, Any]  # the last push to main a workflow ran for (`after`: its commit)
    runs: int = 0  # workflow runs so far, to name their scratch folders


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHub]:
    root = tmp_path_factory.mktemp("release")
    origin = generated_repository(root)
    # The first model is a weak one (few boosting rounds), so that a later one can beat it.
    set_max_iter(origin, 5)
    # The servers a team moves to: the tracking server of deploy/mlflow/ (runs and the registry
    # on PostgreSQL, models in a bucket behind it) and the DVC remote in another bucket, which
    # the workflows reach with credentials from the OIDC step.
    with (
        postgres() as database,
        s3_server("mlflow", root) as s3_url,
        mlflow_server(
            origin, database, "s3://mlflow/artifacts", root,
            env=s3_env(s3_url),
        ) as tracking,
        github_api(repository=origin) as (_, state),
    ):  # fmt: skip
        s3_client(s3_url).create_bucket(Bucket=DVC_BUCKET)
        dvc_remote = f"s3://{DVC_BUCKET}/{origin.name}"
        run(origin, "uv", "run", "--frozen", "dvc", "remote", "add", "--local", "--default",
            "s3", dvc_remote)  # fmt: skip
        train_and_push(origin, tracking_uri=tracking.url, env=s3_env(s3_url))
        pushed = {"after": head(origin, "main")}  # main as GitHub has it before the first merge
        yield GitHub(origin, dvc_remote, tracking.url, state, root, s3_url, pushed)


def set_max_iter(clone: Path, rounds: int) -> None:
    params = clone / "params.yaml"
    text = re.sub(r"max_iter: \d+", f"max_iter: {rounds}", params.read_text(), count=1)
    params.write_text(text)


def propose(github: GitHub, name: str, change: Callable[[Path], None]) -> None:
    """A developer's pull request `name`: one commit on main, pushed as the branch `name`."""
    clone = github.scratch / f"developer-{name}"
    run(github.scratch, "git", "clone", "--quiet", str(github.origin), clone.name)
    run(clone, "git", "checkout", "--quiet", "-b", name)
    change(clone)
    run(clone, "git", "commit", "--quiet", "--all", "--message", f"Change: {name}")
    run(clone, "git", "push", "--quiet", "origin", name)


def land(github: GitHub, branch: str) -> str:
    """Open the pull request of `branch` and merge it into main as GitHub's merge button does
    (a merge commit; the pull request closed as merged); returns the merge commit."""
    body = {"title": f"Change: {branch}", "head": branch, "base": "main"}
    return github.api.merge(github.api.open_pull(REPOSITORY, body)["number"])


def pull_request_of(github: GitHub, merge_commit: str) -> str:
    [url] = [pull["html_url"] for pull in github.api.pulls.values()
             if pull["merge_commit_sha"] == merge_commit]  # fmt: skip
    return url


def merge(github: GitHub, name: str, change: Callable[[Path], None]) -> str:
    propose(github, name, change)
    return land(github, name)


def head(repository: Path, revision: str = "HEAD") -> str:
    return run(repository, "git", "rev-parse", revision).stdout.strip()


def run_on_main(
    github: GitHub,
    workflow: str,
    *,
    unset: str | None = None,
    again: bool = False,
    dispatch: bool = False,
    variables: dict[str, str] | None = None,
) -> WorkflowRun:
    """Run `workflow` for the push that moved main since the last push run (`again`: that same
    push once more; `dispatch`: a workflow_dispatch on main), with the repository variable
    `unset` missing and `variables` added. The push must start `workflow` and no other, as on
    GitHub."""
    github.runs += 1
    if not again:
        github.push = {
            "ref": "refs/heads/main",
            "before": github.push["after"],
            "after": head(github.origin, "main"),
            "repository": {"full_name": REPOSITORY, "default_branch": "main"},
        }
    dispatched = {"ref": "refs/heads/main", "repository": {"full_name": REPOSITORY}}
    result = run_workflow(
        github.origin,
        workflow,
        dispatched if dispatch else github.push,
        github.scratch / f"act-{github.runs}",
        api=github.api,
        event_name="workflow_dispatch" if dispatch else "push",
        variables={
            name: value
            for name, value in {
                "MLFLOW_TRACKING_URI": github.tracking_uri,
                "DVC_REMOTE_URL": github.dvc_remote,
                "S3_ENDPOINT_URL": github.s3_url,
                "RELEASE_APP_CLIENT_ID": APP_CLIENT_ID,
            }.items()
            if name != unset
        }
        | ROLES
        | (variables or {}),
        environments=ENVIRONMENTS,
    )
    assert dispatch or result.started == [workflow], f"this push also starts {result.started}"
    return result


def run_pull_request(github: GitHub, branch: str, job: str = "promotion-gate") -> WorkflowRun:
    """pr.yml's `job` on the pull request of `branch` into main, with the repository's
    variables (the promotion gate reads only the tracking server's)."""
    github.runs += 1
    event = pull_request_event(
        github.runs, branch, head(github.origin, branch), head(github.origin, "main")
    )
    return run_workflow(
        github.origin,
        "pr.yml",
        event,
        github.scratch / f"act-{github.runs}",
        api=github.api,
        job=job,
        variables={
            "MLFLOW_TRACKING_URI": github.tracking_uri,
            "DVC_REMOTE_URL": github.dvc_remote,
            "S3_ENDPOINT_URL": github.s3_url,
        }
        | ROLES,
    )


def registry(github: GitHub) -> dict[str, Any]:
    """The server's view through its REST API: versions (tags, run) and aliases."""
    api = f"{github.tracking_uri}/api/2.0/mlflow"
    search = urllib.parse.urlencode({"filter": f"name = '{MODEL}'"})
    versions = rest(f"{api}/model-versions/search?{search}").get("model_versions", [])
    model = rest(f"{api}/registered-models/get?name={MODEL}") if versions else {}
    return {
        "versions": {
            int(version["version"]): {
                "tags": {tag["key"]: tag["value"] for tag in version.get("tags", [])},
                "run_id": version.get("run_id"),
            }
            for version in versions
        },
        "aliases": {
            alias["alias"]: int(alias["version"])
            for alias in model.get("registered_model", {}).get("aliases", [])
        },
    }


def registered_files(github: GitHub, version: int) -> dict[str, str]:
    """md5 of each file of `version` where the tracking server keeps it (its bucket), by path."""
    api = f"{github.tracking_uri}/api/2.0/mlflow"
    found = rest(f"{api}/model-versions/get?name={MODEL}&version={version}")["model_version"]
    model_id = found["source"].removeprefix("models:/")  # the logged model `register` names
    folder = f"/models/{model_id}/artifacts/"
    keys = [key for key in s3_keys(github.s3_url, "mlflow") if folder in key]
    assert keys, f"no files of version {version} ({model_id}) in the bucket"
    return {key.split(folder, 1)[1]: object_md5(github.s3_url, "mlflow", key) for key in keys}


def object_md5(s3_url: str, bucket: str, key: str) -> str:
    body = s3_client(s3_url).get_object(Bucket=bucket, Key=key)["Body"].read()
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def as_stored(files: dict[str, str]) -> dict[str, str]:
    """A downloaded model's files as the store keeps them: MLflow adds `registered_model_meta`
    to every model it downloads (train's copy in models/ and the image's have it)."""
    return {path: md5 for path, md5 in files.items() if path != "registered_model_meta"}


def image_files(build: dict[str, Any], folder: str = "models/model/") -> dict[str, str]:
    """md5 of each file the image got from the build context under `folder`, by path there."""
    return {
        path.removeprefix(folder): md5
        for path, md5 in build["files"].items()
        if path.startswith(folder)
    }


def rest(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return dict(json.load(response))


def open_promotions(github: GitHub) -> list[dict[str, Any]]:
    return [
        pull
        for pull in github.api.pulls.values()
        if pull["state"] == "open" and pull["head"]["ref"] == PROMOTION_BRANCH
    ]


def environment_on(github: GitHub, revision: str, name: str = "production") -> dict[str, Any]:
    shown = run(github.origin, "git", "show", f"{revision}:environments/{name}.yaml")
    return dict(yaml.safe_load(shown.stdout))


def assert_staging_runs(
    github: GitHub, merged: str, version: int, digest: str, image: str = f"ghcr.io/{REPOSITORY}"
) -> None:
    """deploy/staging is one commit on `merged`, naming exactly `version` and its image."""
    assert head(github.origin, f"{STAGING_BRANCH}~1") == merged, "not one commit on the merge"
    changed = run(github.origin, "git", "diff", "--name-only", merged, STAGING_BRANCH).stdout
    assert changed.split() == ["environments/staging.yaml"]
    staged = environment_on(github, STAGING_BRANCH, "staging")
    assert staged["model"] == {"name": MODEL, "version": version}
    assert staged["image"] == {"name": image, "digest": digest}
    on_main = environment_on(github, "main", "staging")
    assert on_main["model"]["version"] is None, "main got a bot commit"


def edit_production(version: int, digest: str, reason: str | None = None) -> Callable[[Path], None]:
    """A hand-made promotion: what a person who edits production.yaml directly merges."""

    def edit(clone: Path) -> None:
        path = clone / "environments" / "production.yaml"
        spec = yaml.safe_load(path.read_text())
        spec["model"]["version"], spec["image"]["digest"] = version, digest
        spec["override_reason"] = reason
        path.write_text(yaml.safe_dump(spec, sort_keys=False))

    return edit


def failure_context(result: WorkflowRun) -> str:
    return f"workflow log (end):\n{result.log[-8000:]}"


def test_a_merge_registers_the_reviewed_model_and_opens_one_promotion(github: GitHub) -> None:
    # given a merged pull request that changes no model input
    def document(clone: Path) -> None:
        readme = clone / "README.md"
        readme.write_text(readme.read_text() + "\nRelease notes live in the promotion PR.\n")

    merged = merge(github, "docs", document)

    # when main.yml runs for the push
    result = run_on_main(github, "main.yml")

    # then the model main already had is version 1, on staging, built into an image
    assert result.succeeded, failure_context(result)
    assert RETRAINED not in result.log, "main retrained a model the run cache had"
    state = registry(github)
    assert list(state["versions"]) == [1] and state["aliases"] == {"staging": 1}
    tags = state["versions"][1]["tags"]
    trained = json.loads((github.origin / "models" / "run.json").read_text())
    assert state["versions"][1]["run_id"] == trained["run_id"], "not the reviewed model's run"
    assert tags["git_commit"] == merged and tags["data_version"] == trained["data_version"]
    [build] = [record for record in result.recorded("docker") if "tags" in record]
    assert build["tags"] == [f"ghcr.io/{REPOSITORY}:{merged}"] and build["push"]
    assert build["build_args"]["GIT_COMMIT"] == merged
    assert build["build_args"]["MODEL_VERSION"] == "1"
    assert tags["image_digest"] == build["digest"], "the image is not recorded on the version"
    stored = s3_keys(github.s3_url, "mlflow")
    assert any(key.endswith("/MLmodel") for key in stored), "the model is not in the bucket"
    # and the image serves those very files, which the job that read the DVC remote (the only
    # one) reached with credentials from the OIDC step
    assert as_stored(image_files(build)) == registered_files(github, 1) != {}
    release_role = {"role": ROLES["AWS_RELEASE_ROLE_ARN"], "region": "us-east-1"}
    assert result.recorded("aws-credentials") == [release_role]

    # and one promotion pull request proposes exactly that version and image
    [promotion] = open_promotions(github)
    assert promotion["title"] == f"Promote {MODEL} version 1 to production"
    assert "first promotion" in promotion["body"] and build["digest"] in promotion["body"]
    # with the pull request that was merged, which reviewed it: main.yml found it through the API
    reviewed_in = pull_request_of(github, merged)
    assert (
        f"| pull request | {reviewed_in} (its comment is the model report) |" in (promotion["body"])
    )
    assert tags["pull_request"] == reviewed_in and "Retrained on main" not in promotion["body"]
    proposed = environment_on(github, PROMOTION_BRANCH)
    assert proposed["model"]["version"] == 1 and proposed["image"]["digest"] == build["digest"]
    assert proposed["image"]["name"] == f"ghcr.io/{REPOSITORY}", "not the image that was pushed"
    changed = run(github.origin, "git", "diff", "--name-only", "main", PROMOTION_BRANCH).stdout
    assert changed.split() == ["environments/production.yaml"]
    assert head(github.origin, f"{PROMOTION_BRANCH}~1") == merged, "not one commit on main"
    shown = run(github.origin, "git", "show", f"{PROMOTION_BRANCH}:environments/production.yaml")
    assert "# What production runs" in shown.stdout, "the file's comments were lost"
    tokens = result.recorded("app-token")
    assert {"client_id": APP_CLIENT_ID, "contents": "write", "pull_requests": "write"} in tokens
    # and staging, through its branch, runs version 1: a token that can write contents only
    assert {"client_id": APP_CLIENT_ID, "contents": "write", "pull_requests": ""} in tokens
    assert len(tokens) == 2
    assert promotion["opened_by"] == "app" and promotion["triggers_workflows"], "no checks"
    assert_staging_runs(github, merged, 1, build["digest"])
    # and the run's page says what each job recorded and proposed
    assert result.summary(STAGING) == (
        f"environments/staging.yaml now names version 1, ghcr.io/{REPOSITORY}@{build['digest']}"
    )
    assert result.summary(PROPOSAL) == promotion["body"].rstrip()

    # and that pull request's promotion gate passes (nothing runs yet) without deploying it
    gate = run_pull_request(github, PROMOTION_BRANCH)
    assert gate.succeeded, failure_context(gate)
    allowed = f"Promotion allowed. Once merged: production now runs {MODEL} version 1"
    assert gate.summary("Promotion gate").startswith(f"{allowed} (for the first time)")
    assert registry(github)["aliases"] == {"staging": 1}


def test_another_merge_updates_the_same_promotion(github: GitHub) -> None:
    # given a merged pull request whose model nobody trained (no run cache for it), and the
    # team's ECR repository (deploy/aws/'s stack output) set as IMAGE_REPOSITORY since
    merged = merge(github, "more-rounds", lambda clone: set_max_iter(clone, 200))
    [before] = open_promotions(github)
    stored = set(s3_keys(github.s3_url, DVC_BUCKET))

    # when main.yml runs
    result = run_on_main(github, "main.yml", variables={"IMAGE_REPOSITORY": ECR})

    # then main trained it and said so, registered version 2, and updated the one promotion
    assert result.succeeded, failure_context(result)
    assert RETRAINED in result.log, "main retrained without saying so"
    assert set(s3_keys(github.s3_url, DVC_BUCKET)) > stored, "the new model was not pushed"
    state = registry(github)
    assert sorted(state["versions"]) == [1, 2] and state["aliases"] == {"staging": 2}
    assert state["versions"][2]["tags"]["git_commit"] == merged
    # and the image serves version 2, though the merged dvc.lock still names version 1's model
    [build] = [record for record in result.recorded("docker") if "tags" in record]
    served = as_stored(image_files(build))
    assert served == registered_files(github, 2) != registered_files(github, 1)
    # pushed to ECR, logged in there with the release role's credentials, not a password
    assert build["tags"] == [f"{ECR}:{merged}"] and build["push"]
    logins = [record for record in result.recorded("docker") if "login" in record]
    assert logins == [{"login": ECR.split("/")[0], "with": "aws"}]
    assert {"role": ROLES["AWS_RELEASE_ROLE_ARN"], "region": "us-east-1"} in result.recorded(
        "aws-credentials"
    )
    [after] = open_promotions(github)
    assert after["number"] == before["number"], "a second promotion pull request was opened"
    assert after["title"] == f"Promote {MODEL} version 2 to production"
    # and its description warns that this is not the model a pull request reviewed
    assert "⚠️ **Retrained on main**" in after["body"], after["body"]
    assert state["versions"][2]["tags"]["training"] == "ran"
    assert ("PATCH", f"/repos/{REPOSITORY}/pulls/{after['number']}") in github.api.requests
    proposed = environment_on(github, PROMOTION_BRANCH)
    assert proposed["model"]["version"] == 2
    assert proposed["image"]["name"] == ECR
    assert proposed["image"]["digest"] == state["versions"][2]["tags"]["image_digest"]
    assert_staging_runs(github, merged, 2, state["versions"][2]["tags"]["image_digest"], ECR)
    assert head(github.origin, f"{PROMOTION_BRANCH}~1") == merged, "the branch stacked commits"


def test_merging_the_promotion_deploys_it_and_running_again_changes_nothing(
    github: GitHub,
) -> None:
    # given the promotion pull request, merged
    [promotion] = open_promotions(github)
    merged = github.api.merge(promotion["number"])

    # when promote.yml runs for that push, and then once more
    first = run_on_main(github, "promote.yml")
    tags_after_first = registry(github)["versions"][2]["tags"]
    again = run_on_main(github, "promote.yml", again=True)

    # then production runs version 2, recorded as deployed by that merge, and nothing moved again
    assert first.succeeded, failure_context(first)
    assert first.deployments == [("production", "refs/heads/main")], "not run as a deployment"
    deployed = first.summary(PROMOTE)
    assert deployed.startswith(f"production now runs {MODEL} version 2 (for the first time)")
    assert again.succeeded, failure_context(again)
    assert again.summary(PROMOTE) == f"production already runs {MODEL} version 2: nothing to change"
    state = registry(github)
    assert state["aliases"] == {"staging": 2, "production": 2}
    assert state["versions"][2]["tags"]["ran_in_production"] == merged
    assert state["versions"][2]["tags"] == tags_after_first


def test_a_worse_model_is_refused_unless_the_file_says_why(github: GitHub) -> None:
    # given a pull request that puts the weaker version 1 in production, with no reason given
    digest = registry(github)["versions"][1]["tags"]["image_digest"]
    propose(github, "back-to-v1", edit_production(1, digest))

    # when its promotion gate runs, it fails the pull request before anything deploys
    gate = run_pull_request(github, "back-to-v1")
    assert not gate.succeeded, "the gate let a worse model through without a reason"
    assert "Promotion refused" in gate.log and "override_reason" in gate.log

    # and merged anyway, promote.yml refuses it too, and production stays on version 2
    land(github, "back-to-v1")
    refused = run_on_main(github, "promote.yml")
    assert not refused.succeeded, "a worse model was promoted without a reason"
    assert "Promotion refused" in refused.log and "override_reason" in refused.log
    assert registry(github)["aliases"]["production"] == 2

    # when a follow-up change gives the reason, the gate and then promote.yml let it through
    reason = "version 2 misbehaves on this month's data"
    propose(github, "back-to-v1-because", edit_production(1, digest, reason))
    gate = run_pull_request(github, "back-to-v1-because")
    assert gate.succeeded, failure_context(gate)
    assert f"overridden: {reason}" in gate.log
    assert registry(github)["aliases"]["production"] == 2, "the gate deployed"
    land(github, "back-to-v1-because")
    overridden = run_on_main(github, "promote.yml")
    assert overridden.succeeded, failure_context(overridden)
    assert f"overridden: {reason}" in overridden.log
    assert registry(github)["aliases"]["production"] == 1


def test_reverting_a_promotion_rolls_production_back(github: GitHub) -> None:
    # given production on version 1 by the last two merges; revert them
    merges = run(github.origin, "git", "rev-list", "--merges", "-2", "HEAD").stdout.split()
    for commit in merges:  # newest first, as `git revert` of a range would
        run(github.origin, "git", "revert", "--no-edit", "-m", "1", commit)

    # when promote.yml runs for the revert
    result = run_on_main(github, "promote.yml")

    # then production is back on version 2, with no gate in the way
    assert result.succeeded, failure_context(result)
    assert f"production rolled back to {MODEL} version 2 (from version 1)" in result.log
    assert registry(github)["aliases"]["production"] == 2


@pytest.mark.parametrize(
    ("version", "digest_of", "message"),
    [(99, 2, "version 99 does not exist"), (1, 2, "was not built for")],
    ids=["unknown-version", "another-versions-image"],
)
def test_a_version_or_image_that_does_not_exist_is_refused(
    github: GitHub, version: int, digest_of: int, message: str
) -> None:
    # given a change naming something the registry cannot vouch for
    digest = registry(github)["versions"][digest_of]["tags"]["image_digest"]
    merge(github, f"bad-{version}", edit_production(version, digest, reason="trust me"))

    # when promote.yml runs
    result = run_on_main(github, "promote.yml")

    # then it is refused with the reason, and production is untouched
    assert not result.succeeded, f"{message}: promoted anyway"
    assert "Promotion refused" in result.log and message in result.log
    assert registry(github)["aliases"]["production"] == 2


def test_a_release_without_a_tracking_server_stops_at_once_naming_the_variable(
    github: GitHub,
) -> None:
    before = registry(github)

    result = run_on_main(github, "main.yml", unset="MLFLOW_TRACKING_URI", dispatch=True)

    assert not result.succeeded
    assert "Set the repository variable MLFLOW_TRACKING_URI" in result.log
    assert "Running stage" not in result.log and not result.recorded("docker")
    assert registry(github) == before


def test_production_is_deployed_from_main_only(github: GitHub) -> None:
    # given a branch whose production.yaml names version 1, and the environment's branch policy
    digest = registry(github)["versions"][1]["tags"]["image_digest"]
    propose(github, "sneaky", edit_production(1, digest, reason="from a branch"))
    event = {"ref": "refs/heads/sneaky", "repository": {"full_name": REPOSITORY}}

    # when promote.yml is started on that branch by hand
    github.runs += 1
    result = run_workflow(
        github.origin,
        "promote.yml",
        event,
        github.scratch / f"act-{github.runs}",
        api=github.api,
        event_name="workflow_dispatch",
        variables={"MLFLOW_TRACKING_URI": github.tracking_uri},
        environments=ENVIRONMENTS,
    )

    # then GitHub refuses the job before it starts, and production is untouched
    assert not result.succeeded
    assert 'Branch "sneaky" is not allowed to deploy to production' in result.log
    assert registry(github)["aliases"]["production"] == 2


def test_a_pull_requests_push_cannot_change_what_main_releases(github: GitHub) -> None:
    # given a pull request that changes the model, whose pipeline trained it and pushed it (its
    # branch's dvc.lock is not updated) with the pull requests' role
    stored = set(s3_keys(github.s3_url, DVC_BUCKET))
    propose(github, "reviewed", lambda clone: set_max_iter(clone, 100))
    reviewed = run_pull_request(github, "reviewed", job="model")
    assert reviewed.succeeded, failure_context(reviewed)
    assert "Train stage: ran" in reviewed.log
    pr_role = {"role": ROLES["AWS_PR_ROLE_ARN"], "region": "us-east-1"}
    assert reviewed.recorded("aws-credentials") == [pr_role], "not the pull requests' role"
    pushed = set(s3_keys(github.s3_url, DVC_BUCKET)) - stored
    # which went to the remote's pull-requests/ folder only, never where main restores from
    outside = {key for key in pushed if not key.startswith(f"{remote_prefix(github)}/")}
    assert pushed and not outside, f"a pull request wrote where releases read: {outside}"
    trained = models_listing(github, pushed_models(github, pushed, PULL_REQUESTS), PULL_REQUESTS)
    # and then its job (its code unreviewed, at any push) forged what it pushed: another model's
    # bytes under the key of the one it trained, whose run-cache entry is keyed on exactly the
    # commit main will have
    lock = yaml.safe_load(run(github.origin, "git", "show", "main:dvc.lock").stdout)
    [on_main] = [out for out in lock["stages"]["train"]["outs"] if out["path"] == "models"]
    other = models_listing(github, on_main["md5"])["model/model.skops"]
    client = s3_client(github.s3_url)
    forgery = client.get_object(Bucket=DVC_BUCKET, Key=remote_key(github, other))["Body"].read()
    planted = remote_key(github, trained["model/model.skops"], PULL_REQUESTS)
    client.put_object(Bucket=DVC_BUCKET, Key=planted, Body=forgery)
    before = set(s3_keys(github.s3_url, DVC_BUCKET))
    versions_before = set(registry(github)["versions"])

    # when it is merged and main.yml runs for the push
    merged = land(github, "reviewed")
    result = run_on_main(github, "main.yml")

    # then main trained the merged commit itself, from its own runs, and released that model:
    # neither the forgery nor the file the pull request's job pushed
    assert result.succeeded, failure_context(result)
    assert "Train stage: ran" in result.log and RETRAINED in result.log
    released_md5 = pushed_models(github, set(s3_keys(github.s3_url, DVC_BUCKET)) - before)
    released = models_listing(github, released_md5)
    [version] = set(registry(github)["versions"]) - versions_before
    model_files = {path.removeprefix("model/"): md5 for path, md5 in released.items()
                   if path.startswith("model/")}  # fmt: skip
    registered = registered_files(github, version)
    assert registered == as_stored(model_files) != {}, "not the model main trained"
    assert registered["model.skops"] not in {other, trained["model/model.skops"]}
    [build] = [record for record in result.recorded("docker") if "tags" in record]
    assert image_files(build, "models/") == released, "the image serves another model"
    # and the run's summary and the promotion say that main trained it, and which model it is
    summary = result.summary("Reproduce and register the model")
    assert summary.startswith("### Trained on main"), summary
    assert f"the released model is this run's (models md5 {released_md5})" in summary
    assert "which a release never reads" in summary
    [promotion] = open_promotions(github)
    assert promotion["title"] == f"Promote {MODEL} version {version} to production"
    assert "⚠️ **Retrained on main**" in promotion["body"]
    assert "| trained | retrained on main ⚠️ |" in promotion["body"]
    assert pull_request_of(github, merged) in promotion["body"]


PULL_REQUESTS = "pull-requests"  # the folder of the remote that pull requests push to (pr.yml)


def remote_prefix(github: GitHub, folder: str = "") -> str:
    """The DVC remote's key prefix in the bucket, or that of its `folder`."""
    remote = github.dvc_remote.removeprefix(f"s3://{DVC_BUCKET}/")
    return f"{remote}/{folder}" if folder else remote


def pushed_models(github: GitHub, pushed: set[str], folder: str = "") -> str:
    """The DVC hash of the `models` output a pipeline recorded in the run-cache entry it pushed
    among `pushed` (DVC's lock entry for the train stage) to the remote or its `folder`: the
    one entry the remote itself does not hold too (a run pushes every entry it has, the ones
    it pulled from there included)."""
    client = s3_client(github.s3_url)
    runs = f"{remote_prefix(github, folder)}/runs/"
    mains = set(s3_keys(github.s3_url, DVC_BUCKET)) if folder else set()
    entries = [
        yaml.safe_load(client.get_object(Bucket=DVC_BUCKET, Key=key)["Body"].read())
        for key in sorted(pushed)
        if key.startswith(runs)
        and key.replace(runs, f"{remote_prefix(github)}/runs/", 1) not in mains
    ]
    [models] = [out for entry in entries for out in entry["outs"] if out["path"] == "models"]
    return str(models["md5"])


def models_listing(github: GitHub, digest: str, folder: str = "") -> dict[str, str]:
    """md5 of each file of the `models` directory whose DVC hash is `digest`, by path in it."""
    key = remote_key(github, digest, folder)
    listing = s3_client(github.s3_url).get_object(Bucket=DVC_BUCKET, Key=key)
    return {entry["relpath"]: entry["md5"] for entry in json.loads(listing["Body"].read())}


def remote_key(github: GitHub, digest: str, folder: str = "") -> str:
    """Where the DVC remote (or its `folder`) keeps the object whose hash is `digest`."""
    return f"{remote_prefix(github, folder)}/files/md5/{digest[:2]}/{digest[2:]}"


def trained_on_main(github: GitHub, rounds: int) -> str:
    """The `models` hash of the train-stage run-cache entry in the remote itself (main's runs)
    whose parameters say `max_iter: rounds`."""
    client = s3_client(github.s3_url)
    runs = f"{remote_prefix(github)}/runs/"
    found = set()
    for key in s3_keys(github.s3_url, DVC_BUCKET):
        if key.startswith(runs):
            entry = yaml.safe_load(client.get_object(Bucket=DVC_BUCKET, Key=key)["Body"].read())
            models = [out["md5"] for out in entry["outs"] if out["path"] == "models"]
            if models and f"max_iter: {rounds}\n" in yaml.safe_dump(entry.get("params")):
                found.update(models)
    [digest] = found
    return str(digest)


def test_a_model_overwritten_in_the_remote_after_release_is_not_released(github: GitHub) -> None:
    # given the model main's last release trained (the reviewed pull request's, 100 rounds)
    # and pushed to the remote itself, and then someone with write access there (not a pull
    # request's role, which cannot write there: test_aws_stack) overwrote its file's object
    # with another model that loads and scores as well: the one main's dvc.lock names
    recorded = models_listing(github, trained_on_main(github, 100))["model/model.skops"]
    lock = yaml.safe_load(run(github.origin, "git", "show", "main:dvc.lock").stdout)
    [on_main] = [out for out in lock["stages"]["train"]["outs"] if out["path"] == "models"]
    other = models_listing(github, on_main["md5"])["model/model.skops"]
    assert other != recorded
    client = s3_client(github.s3_url)
    forgery = client.get_object(Bucket=DVC_BUCKET, Key=remote_key(github, other))["Body"].read()
    client.put_object(Bucket=DVC_BUCKET, Key=remote_key(github, recorded), Body=forgery)
    versions_before = set(registry(github)["versions"])

    # when a change that does not touch the model is merged and main.yml runs for the push
    def document(clone: Path) -> None:
        readme = clone / "README.md"
        readme.write_text(readme.read_text() + "\nA note after the release.\n")

    merge(github, "after-the-release", document)
    result = run_on_main(github, "main.yml")

    # then DVC restores the forged file from main's run cache without noticing, and the
    # release stops before registering it, naming the file and both hashes
    assert "Train stage: restored" in result.log, "the test meant the restore to be fooled"
    assert not result.succeeded, "a model that is not the one main trained was released"
    named = f"models/model/model.skops: md5 {other}, dvc.lock records {recorded}"
    assert named in result.log, result.log[-3000:]
    assert set(registry(github)["versions"]) == versions_before
    assert not result.recorded("docker"), "an image was built for a refused model"
