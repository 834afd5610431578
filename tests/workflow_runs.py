"""Run a generated repository's workflows for real with `act` in host mode, with GitHub's
semantics where a kinder stand-in would let a broken workflow pass:

- the checkout is GitHub's for the event: a pull request runs on the merge commit of its head
  into its base (refs/pull/N/merge, made here as GitHub makes it), one commit deep unless the
  workflow asks for more; a push on the commit it pushed;
- the job's GITHUB_TOKEN has the permissions the workflow declares for it, read-only in a
  fork's pull request, and the GitHub API stand-in refuses what they do not allow;
- a fork's pull request gets no repository variables and no secrets;
- an environment's secrets and variables go only to jobs that name it (a job that reads one
  without naming it is refused: act has one set for the run), and a job may deploy to
  it only from a branch its policy allows; each such job is recorded as a deployment;
- a workflow runs only for an event that starts it on GitHub (its trigger, branch and path
  filters: `triggers.py`).

Remote actions are swapped for the stand-ins in `standins/actions/` (pinned by the same SHA the
workflow uses), `cml` for `standins/bin/cml`, and the GitHub API for `standins/github_api.py`.
Our own actions, the package, DVC and MLflow run as they would on GitHub.
"""

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from conftest import PROJECT_ENV, bake, run
from standins.github_api import GITHUB_TOKEN, LEVELS, GitHubState
from triggers import triggered

STANDINS = Path(__file__).parent / "standins"
ACT = Path(sys.executable).parent / "act"  # pinned in this template's own environment
REPOSITORY = "acme/income-classifier"  # what act reads from a checkout's `origin` URL
FORK = "someone/income-classifier"
# One AWS role per kind of job, as deploy/aws/stack.yaml's outputs set the repository's
# variables: each job must ask for its own kind's.
ROLES = {
    "AWS_PR_ROLE_ARN": "arn:aws:iam::123456789012:role/income-classifier-pull-requests",
    "AWS_RELEASE_ROLE_ARN": "arn:aws:iam::123456789012:role/income-classifier-release",
    "AWS_MONITOR_ROLE_ARN": "arn:aws:iam::123456789012:role/income-classifier-monitor",
}
# A workflow that declares no permissions gets the repository's default; GitHub's restricted one.
DEFAULT_PERMISSIONS = {"contents": "read", "packages": "read"}
SCOPES = ("actions", "attestations", "checks", "contents", "deployments", "discussions",
          "id_token", "issues", "models", "packages", "pages", "pull_requests",
          "repository_projects", "security_events", "statuses")  # fmt: skip
# act prints a step's job summary as "[<workflow>/<job>]   ⚙  Summary - <first line>", the
# other lines following bare until the next line act prefixes with a job.
SUMMARY = re.compile(r"^\[[^/\]]+/(?P<job>[^\]]+?) *\]   \u2699  Summary - (?P<line>.*)$")
JOB_LINE = re.compile(r"^\[[^/\]]+/[^\]]+\] ")
# What GitHub shows on a pull request it made no merge commit for: no workflow runs for it.
CONFLICT = "This branch has conflicts that must be resolved"
REMOTE_ACTION = re.compile(r"^\s*(?:- )?uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})\b", re.MULTILINE)


@dataclass(frozen=True)
class WorkflowRun:
    returncode: int
    log: str
    artifacts: Path  # $STANDIN_ARTIFACTS: one folder per uploaded artifact
    cml_calls: list[dict[str, Any]]  # what `cml` was asked to post, in order
    records: Path  # $STANDIN_LOG: what the other stand-ins were asked to do, one JSONL each
    sha: str  # GITHUB_SHA: what the jobs checked out (a pull request's merge commit)
    started: list[str]  # every workflow GitHub starts for this event, this one among them
    deployments: list[tuple[str, str]]  # (environment, ref) of each job that named one

    def recorded(self, standin: str) -> list[dict[str, Any]]:
        """What the `standin` stand-in recorded in this run (docker, app-token), in order."""
        log = self.records / f"{standin}.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0

    def summary(self, job: str) -> str:
        """What job `job` (its name as the log shows it) wrote to its job summary, all steps."""
        blocks: list[list[str]] = []
        current: list[str] | None = None
        for line in self.log.splitlines():
            if match := SUMMARY.match(line):
                current = [match["line"]] if match["job"] == job else None
                if current is not None:
                    blocks.append(current)
            elif JOB_LINE.match(line):
                current = None
            elif current is not None:
                current.append(line)
        return "\n".join("\n".join(block) for block in blocks).rstrip()


def pinned_actions(repo: Path) -> dict[str, Path]:
    """`owner/name@sha` of every remote action the workflows and local actions use -> stand-in."""
    sources = [*repo.glob(".github/workflows/*.yml"), *repo.glob(".github/actions/*/action.yml")]
    pins = {}
    for source in sources:
        for name, sha in REMOTE_ACTION.findall(source.read_text(encoding="utf-8")):
            standin = STANDINS / "actions" / name.split("/")[1]
            assert standin.is_dir(), f"{source.name} uses {name}, which has no stand-in"
            pins[f"{name}@{sha}"] = standin
    return pins


@dataclass(frozen=True)
class Environment:
    """A GitHub environment, as Settings > Environments defines it. One a workflow names
    without its being defined here is created bare on first use, as GitHub does."""

    branches: tuple[str, ...] | None = None  # the deployment branch policy; None: any branch
    secrets: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)


def environment_of(job: dict[str, Any]) -> str | None:
    named = job.get("environment")
    return named.get("name") if isinstance(named, dict) else named


def _only_from_its_environment(
    name: str,
    job: dict[str, Any],
    environments: dict[str, "Environment"],
    repository_level: dict[str, set[str]],
) -> None:
    """Fail when job `name` reads a secret or variable that only environments it does not name
    define (the repository's level has none of that name): on GitHub it would be empty."""
    own = environment_of(job)
    text = json.dumps(job)
    for kind, attribute in (("secrets", "secrets"), ("vars", "variables")):
        for value in sorted(set(re.findall(rf"\b{kind}\.([A-Za-z_]\w*)", text))):
            holders = [
                env for env, spec in environments.items() if value in getattr(spec, attribute)
            ]
            if holders and own not in holders and value not in repository_level[kind]:
                raise AssertionError(
                    f"job {name} reads {kind}.{value}, which only the environment "
                    f"{' or '.join(holders)} holds and the job does not name: on GitHub it "
                    "would be empty"
                )


def permissions(spec: object) -> dict[str, str]:
    """A `permissions:` value as scope -> level, scopes spelled as the REST API spells them."""
    if spec is None:
        return dict(DEFAULT_PERMISSIONS)
    if spec in ("read-all", "write-all"):
        return dict.fromkeys(SCOPES, str(spec).removesuffix("-all"))
    assert isinstance(spec, dict), f"permissions: {spec!r}"
    return {scope.replace("-", "_"): level for scope, level in spec.items() if level != "none"}


def job_permissions(workflow: dict[str, Any], *, fork: bool) -> dict[str, dict[str, str]]:
    """Each job's GITHUB_TOKEN: its own `permissions`, else the workflow's. A fork's pull request
    gets them read-only and no OIDC token, as on GitHub."""
    granted = {}
    for name, job in workflow["jobs"].items():
        scopes = permissions(job.get("permissions", workflow.get("permissions")))
        if fork:
            scopes = {scope: "read" for scope in scopes if scope != "id_token"}
        granted[name] = scopes
    return granted


def shared_token(granted: list[dict[str, str]]) -> dict[str, str]:
    """act gives every job of a run one GITHUB_TOKEN: it gets what all of them may do, so no job
    can do more than on GitHub."""
    scopes = set.intersection(*(set(job) for job in granted)) if granted else set()
    return {scope: min((job[scope] for job in granted), key=LEVELS.__getitem__) for scope in scopes}


def merge_commit(origin: Path, number: int, base: str, head: str) -> str | None:
    """GitHub's test merge of a pull request, refs/pull/N/merge in `origin` (and its head as
    refs/pull/N/head); None when the two conflict, and GitHub makes no merge commit."""
    run(origin, "git", "update-ref", f"refs/pull/{number}/head", head)
    merged = subprocess.run(
        ["git", "merge-tree", "--write-tree", base, head],
        cwd=origin, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    if merged.returncode != 0:
        run(origin, "git", "update-ref", "-d", f"refs/pull/{number}/merge")
        return None
    tree = merged.stdout.split()[0]
    message = f"Merge {head} into {base}"
    identity = ("-c", "user.name=GitHub", "-c", "user.email=noreply@github.com")
    commit = run(origin, "git", *identity, "commit-tree", tree, "-p", base, "-p", head,
                 "-m", message).stdout.strip()  # fmt: skip
    run(origin, "git", "update-ref", f"refs/pull/{number}/merge", commit)
    return commit


def event_checkout(origin: Path, event_name: str, event: dict[str, Any], path: Path) -> str | None:
    """A clone of `origin` at the commit the event runs on, for act to read the workflows and
    GITHUB_SHA from (the jobs check out their own); returns that commit, or None for a pull
    request that conflicts with its base, for which GitHub makes no merge commit."""
    run(path.parent, "git", "clone", "--quiet", "--no-checkout", str(origin), path.name)
    if event_name == "pull_request":
        pull = event["pull_request"]
        sha = merge_commit(origin, pull["number"], pull["base"]["sha"], pull["head"]["sha"])
        if sha is None:
            return None
        run(path, "git", "fetch", "--quiet", "origin", sha)
        run(path, "git", "checkout", "--quiet", "--detach", sha)
    else:
        branch = event.get("ref", "refs/heads/main").removeprefix("refs/heads/")
        sha = event.get("after") or run(path, "git", "rev-parse", f"origin/{branch}").stdout
        run(path, "git", "checkout", "--quiet", "-B", branch, sha.strip())
    run(path, "git", "remote", "set-url", "origin", f"https://github.com/{REPOSITORY}.git")
    return run(path, "git", "rev-parse", "HEAD").stdout.strip()


def run_workflow(
    origin: Path,
    workflow: str,
    event: dict[str, Any],
    scratch: Path,
    *,
    api: GitHubState,
    event_name: str = "pull_request",
    job: str | None = None,
    variables: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    environments: dict[str, Environment] | None = None,
    runner: str = "ubuntu-latest",
    timeout: float = 900,
    cml: bool = True,
) -> WorkflowRun:
    """Run `.github/workflows/<workflow>` of `origin` (the repository on "GitHub") for `event`.
    Jobs run on this machine when they ask for the `runner` label; others are skipped. With
    `cml` false, CML is not installed and cannot be (`tool_path`)."""
    scratch.mkdir(parents=True, exist_ok=True)
    event_file = scratch / "event.json"
    event_file.write_text(json.dumps(event), encoding="utf-8")
    artifacts, records, home = scratch / "artifacts", scratch / "records", scratch / "home"
    for folder in (artifacts, records, home):
        folder.mkdir(exist_ok=True)
    repo = scratch / "repository"
    sha = event_checkout(origin, event_name, event, repo)
    if sha is None:  # no pull_request workflow starts, so no required check ever passes
        return WorkflowRun(1, CONFLICT, artifacts, [], records, "", [], [])
    started = triggered(repo, event_name, event)
    assert workflow in started, f"GitHub starts {started} for this {event_name}, not {workflow}"
    definition = yaml.safe_load((repo / ".github" / "workflows" / workflow).read_text())
    fork = event_name == "pull_request" and (
        event["pull_request"]["head"]["repo"]["full_name"] != REPOSITORY
    )
    granted = job_permissions(definition, fork=fork)
    running = [job] if job else list(definition["jobs"])
    token = api.issue_token(GITHUB_TOKEN, shared_token([granted[name] for name in running]))
    permissions_file = scratch / "permissions.json"
    permissions_file.write_text(json.dumps(granted), encoding="utf-8")
    variables, secrets = dict(variables or {}), dict(secrets or {})
    repository_level = {"secrets": set(secrets), "vars": set(variables)}
    if event.get("ref"):
        ref = str(event["ref"])
    elif event_name.startswith("pull_request"):
        ref = f"refs/pull/{event.get('number')}/merge"
    else:  # a schedule runs on the default branch
        ref = f"refs/heads/{event.get('repository', {}).get('default_branch', 'main')}"
    deployments = []
    named = {environment_of(definition["jobs"][name]) for name in running}
    for name in sorted(filter(None, named)):
        environment = (environments or {}).get(name, Environment())
        branch = ref.removeprefix("refs/heads/")
        if environment.branches is not None and branch not in environment.branches:
            refusal = (
                f'Branch "{branch}" is not allowed to deploy to {name} due to environment '
                "protection rules."
            )  # GitHub fails the job before it starts; here, the run
            return WorkflowRun(1, refusal, artifacts, [], records, sha, started, [])
        deployments.append((name, ref))
        secrets |= environment.secrets
        variables |= environment.variables
    # act has one set of secrets and variables for the whole run, so a job that does not name
    # an environment would see its values here: such a reading is refused instead, as GitHub
    # would give that job nothing.
    for name in running:
        defined = definition["jobs"][name]
        _only_from_its_environment(name, defined, environments or {}, repository_level)
    if fork:  # GitHub passes a fork's pull request no variables and no secrets
        variables, secrets = {}, {}
    env = {key: value for key, value in PROJECT_ENV.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env |= {
        "HOME": str(home),  # act's caches and workspace copies stay in the scratch folder
        "UV_CACHE_DIR": env.get("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv")),
        "PATH": f"{tool_path(scratch, cml=cml)}{os.pathsep}{env['PATH']}",
        "STANDIN_LOG": str(records),
        "STANDIN_ARTIFACTS": str(artifacts),
        "STANDIN_ORIGIN": str(origin),  # what the checkout stand-in fetches from
        "STANDIN_PERMISSIONS": str(permissions_file),  # each job's, for permission checks
    }
    command = [
        str(ACT),
        event_name,
        "--workflows", f".github/workflows/{workflow}",
        "--platform", f"{runner}=-self-hosted",
        "--eventpath", str(event_file),
        "--env", f"GITHUB_API_URL={api.url}",
        "--secret", f"GITHUB_TOKEN={token}",
        "--container-daemon-socket", "-",
        # act would copy the repository in place of actions/checkout and skip its stand-in,
        # which then could not fetch what GitHub's checkout fetches.
        "--no-skip-checkout",
    ]  # fmt: skip
    for spec, standin in pinned_actions(repo).items():
        command += ["--local-repository", f"{spec}={standin}"]
    for name, value in variables.items():
        command += ["--var", f"{name}={value}"]
    for name, value in secrets.items():
        command += ["--secret", f"{name}={value}"]
    if job:
        command += ["--job", job]
    completed = subprocess.run(
        command,
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    cml_log = records / "cml.jsonl"
    calls = (
        [json.loads(line) for line in cml_log.read_text().splitlines()] if cml_log.exists() else []
    )
    cml_log.unlink(missing_ok=True)
    log = completed.stdout + completed.stderr
    (scratch / "act.log").write_text(log, encoding="utf-8")  # whole, where a failure shows less
    return WorkflowRun(
        completed.returncode, log, artifacts, calls, records, sha, started, deployments
    )


def tool_path(scratch: Path, *, cml: bool) -> str:
    """The stand-ins' commands for the run's PATH. Without `cml`: all but `cml`, and an npm
    whose registry no longer has CML, so that installing it fails as it would then."""
    if cml:
        return str(STANDINS / "bin")
    tools = scratch / "bin"
    tools.mkdir(exist_ok=True)
    for tool in [*(STANDINS / "bin").iterdir(), STANDINS / "registry-without-cml" / "npm"]:
        if tool.name != "cml" and not (tools / tool.name).exists():
            (tools / tool.name).symlink_to(tool)
    return str(tools)


def generated_repository(root: Path, **answers: str) -> Path:
    """A generated repository with its environment installed, as its author has it."""
    origin = bake(root, **answers)
    run(origin, "uv", "sync", "--frozen")
    return origin


def train_and_push(
    origin: Path, *, tracking_uri: str | None = None, env: dict[str, str] | None = None
) -> None:
    """Train `main` and commit it, and push its data, outputs and run cache to its DVC remote
    (the folder beside it unless `origin` says otherwise): the repository as on GitHub after
    its first model. `env`: what the remote needs, such as credentials."""
    settings = ({"MLFLOW_TRACKING_URI": tracking_uri} if tracking_uri else {}) | (env or {})
    with_env = ("env", *(f"{name}={value}" for name, value in settings.items()))
    run(origin, *with_env, "uv", "run", "--frozen", "dvc", "repro")
    run(origin, "git", "add", "--all")
    run(origin, "git", "commit", "--quiet", "--message", "Train the first model")
    run(origin, *with_env, "uv", "run", "--frozen", "dvc", "push", "--run-cache")


def trained_repository(root: Path, **answers: str) -> Path:
    origin = generated_repository(root, **answers)
    train_and_push(origin)
    return origin


def pull_request_event(
    number: int, branch: str, head: str, base: str, *, fork: bool = False
) -> dict[str, Any]:
    """The `pull_request` payload fields the workflows read."""
    head_repository = FORK if fork else REPOSITORY
    return {
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"sha": head, "ref": branch, "repo": {"full_name": head_repository}},
            "base": {"sha": base, "ref": "main", "repo": {"full_name": REPOSITORY}},
        },
        "repository": {"full_name": REPOSITORY},
    }
