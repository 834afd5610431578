"""The open-pull-request action's script, run as its step runs it, against the GitHub stand-in.

A temporary repository plays the repository on GitHub (its `main` checked out); the API
stand-in commits, moves branches and keeps pull requests in it. The workflow's checkout is a
clone of it, where the files to propose are written before the script runs.
"""

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PROJECT_ENV, TEMPLATE, run
from standins.github_api import APP_PERMISSIONS, GITHUB_TOKEN, GitHubState, github_api

SCRIPT = TEMPLATE / "actions" / "open-pull-request" / "open_pull_request.py"
REPOSITORY = "acme/income-classifier"
BRANCH = "promote/production"
TOKEN = "ghs_StandInTokenThatMustNeverBePrinted"
ENVIRONMENT = "environments/production.yaml"
# Requests to loopback must not go through a proxy the machine may have configured.
ENV = {key: value for key, value in PROJECT_ENV.items() if not key.lower().endswith("_proxy")}


@dataclass(frozen=True)
class GitHub:
    origin: Path  # the repository on "GitHub"
    workspace: Path  # the workflow's checkout of it
    api_url: str
    api: GitHubState
    scratch: Path

    def git(self, *args: str) -> str:
        return run(self.origin, "git", *args).stdout.strip()


@dataclass(frozen=True)
class Outcome:
    status: int
    log: str  # stdout and stderr, as the job log shows them
    outputs: dict[str, str]


@pytest.fixture
def github(tmp_path: Path) -> Iterator[GitHub]:
    origin = tmp_path / "origin"
    for path, text in {
        ENVIRONMENT: "model: income-classifier\nversion: 6\n",
        "README.md": "# Income classifier\n",
        "models/card.md": "# Model card\n",
    }.items():
        (origin / path).parent.mkdir(parents=True, exist_ok=True)
        (origin / path).write_text(text)
    run(origin, "git", "init", "--quiet", "--initial-branch=main")
    run(origin, "git", "add", ".")
    run(origin, "git", "commit", "--quiet", "--message", "Initial commit")
    run(tmp_path, "git", "clone", "--quiet", str(origin), "workspace")
    with github_api(origin) as (url, state):
        state.issue_token("app", APP_PERMISSIONS, TOKEN)
        yield GitHub(origin, tmp_path / "workspace", url, state, tmp_path)


def open_pull_request(
    github: GitHub,
    *,
    base_sha: str | None = None,
    title: str = "Promote income-classifier v7 to production",
    body: str = "Version 7 beats version 6 on the holdout set.\n",
    files: str = ENVIRONMENT,
    **inputs: str,
) -> Outcome:
    """Run the action's script in the workspace with the environment its step gives it."""
    attempt = len(list(github.scratch.glob("output-*")))
    output = github.scratch / f"output-{attempt}"
    output.touch()
    body_file = github.scratch / f"body-{attempt}.md"
    body_file.write_text(body)
    head = run(github.workspace, "git", "rev-parse", "HEAD").stdout.strip()
    env = ENV | {
        "GITHUB_API_URL": github.api_url,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_OUTPUT": str(output),
        "PULL_REQUEST_TOKEN": TOKEN,
        "PULL_REQUEST_BRANCH": BRANCH,
        "PULL_REQUEST_BASE": "main",
        "PULL_REQUEST_BASE_SHA": base_sha or head,
        "PULL_REQUEST_TITLE": title,
        "PULL_REQUEST_BODY_FILE": str(body_file),
        "PULL_REQUEST_COMMIT_MESSAGE": "",
        "PULL_REQUEST_FILES": files,
    }
    env |= {f"PULL_REQUEST_{key.upper()}": value for key, value in inputs.items()}
    completed = subprocess.run(
        ["python3", str(SCRIPT)],  # as the step runs it: the standard library only
        cwd=github.workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return Outcome(completed.returncode, completed.stdout + completed.stderr, outputs)


def write(github: GitHub, path: str, text: str) -> None:
    (github.workspace / path).parent.mkdir(parents=True, exist_ok=True)
    (github.workspace / path).write_text(text)


def writes(state: GitHubState) -> list[tuple[str, str]]:
    return [(method, path) for method, path in state.requests if method in ("POST", "PATCH")]


def open_pulls(state: GitHubState) -> list[int]:
    return sorted(number for number, pull in state.pulls.items() if pull["state"] == "open")


def assert_one_commit_on(github: GitHub, base: str, changed: dict[str, str]) -> None:
    """The bot branch is exactly one commit on `base`, changing exactly `changed` to its text."""
    assert github.git("rev-parse", f"{BRANCH}^") == base, "the bot commit is not on the base"
    assert github.git("rev-list", "--count", f"{base}..{BRANCH}") == "1", "commits stacked up"
    names = github.git("diff", "--name-only", base, BRANCH).splitlines()
    assert sorted(names) == sorted(changed), "the commit changes other files than listed"
    for path, text in changed.items():
        committed = run(github.origin, "git", "show", f"{BRANCH}:{path}").stdout
        assert committed == text, f"{path} is not committed with its working-tree content"


def test_the_first_run_opens_a_pull_request_of_one_commit_on_the_base(github: GitHub) -> None:
    base = github.git("rev-parse", "main")
    write(github, ENVIRONMENT, "model: income-classifier\nversion: 7\n")

    outcome = open_pull_request(github)

    assert outcome.status == 0, outcome.log
    assert outcome.outputs == {
        "number": "1",
        "url": f"https://github.com/{REPOSITORY}/pull/1",
        "result": "opened",
    }
    assert "#1 opened" in outcome.log, "the log does not say what happened"
    pull = github.api.pulls[1]
    assert (pull["head"]["ref"], pull["base"]["ref"], pull["state"]) == (BRANCH, "main", "open")
    assert pull["title"] == "Promote income-classifier v7 to production"
    assert pull["body"] == "Version 7 beats version 6 on the holdout set.\n"
    assert pull["head"]["sha"] == github.git("rev-parse", BRANCH)
    assert_one_commit_on(github, base, {ENVIRONMENT: "model: income-classifier\nversion: 7\n"})
    message = github.git("log", "-1", "--format=%s", BRANCH)
    assert message == "Promote income-classifier v7 to production", "the title is the default"
    assert github.git("rev-parse", "main") == base, "main moved"
    assert pull["triggers_workflows"], "opened with a token whose pull requests run no checks"


def test_a_job_token_without_write_permissions_is_refused_and_the_log_says_which(
    github: GitHub,
) -> None:
    # given the job's own GITHUB_TOKEN of a job that may only read, as drift.yml's jobs
    job_token = github.api.issue_token(GITHUB_TOKEN, {"contents": "read"})
    write(github, ENVIRONMENT, "model: income-classifier\nversion: 7\n")

    outcome = open_pull_request(github, token=job_token)

    assert outcome.status == 1
    assert "answered 403: Resource not accessible by integration" in outcome.log
    assert "needs a GitHub App token with Contents: write and Pull requests: write" in outcome.log
    assert github.api.pulls == {}
    assert run(github.origin, "git", "branch", "--list", BRANCH).stdout == ""


def test_a_pull_request_opened_with_the_job_token_would_run_no_checks(github: GitHub) -> None:
    # given a job token that may write, which GitHub still keeps from triggering workflows
    job_token = github.api.issue_token(GITHUB_TOKEN, APP_PERMISSIONS)
    write(github, ENVIRONMENT, "model: income-classifier\nversion: 7\n")

    outcome = open_pull_request(github, token=job_token)

    assert outcome.status == 0, outcome.log
    assert github.api.pulls[1]["triggers_workflows"] is False


def test_a_second_run_updates_the_same_pull_request_without_stacking(github: GitHub) -> None:
    base = github.git("rev-parse", "main")
    write(github, ENVIRONMENT, "model: income-classifier\nversion: 7\n")
    first = open_pull_request(github)
    first_commit = github.git("rev-parse", BRANCH)
    write(github, ENVIRONMENT, "model: income-classifier\nversion: 8\n")

    second = open_pull_request(
        github,
        title="Promote income-classifier v8 to production",
        body="Version 8 now.\n",
        commit_message="Point production at version 8",
    )

    assert (first.status, second.status) == (0, 0), first.log + second.log
    assert second.outputs["result"] == "updated"
    assert second.outputs["number"] == "1"
    assert open_pulls(github.api) == [1], "a second pull request was opened"
    pull = github.api.pulls[1]
    assert pull["title"] == "Promote income-classifier v8 to production"
    assert pull["body"] == "Version 8 now.\n"
    assert github.git("rev-parse", BRANCH) != first_commit, "the branch was not updated"
    assert pull["head"]["sha"] == github.git("rev-parse", BRANCH)
    assert_one_commit_on(github, base, {ENVIRONMENT: "model: income-classifier\nversion: 8\n"})
    assert github.git("log", "-1", "--format=%s", BRANCH) == "Point production at version 8"


def test_after_a_merge_the_next_run_opens_a_new_pull_request_on_the_new_base(
    github: GitHub,
) -> None:
    write(github, ENVIRONMENT, "model: income-classifier\nversion: 7\n")
    assert open_pull_request(github).status == 0
    merge = github.api.merge(1)
    # the next run starts from a fresh checkout of the new main
    run(github.workspace, "git", "checkout", "--quiet", "--", ".")
    run(github.workspace, "git", "pull", "--quiet", "--ff-only")
    assert run(github.workspace, "git", "rev-parse", "HEAD").stdout.strip() == merge
    write(github, ENVIRONMENT, "model: income-classifier\nversion: 8\n")

    outcome = open_pull_request(github, base_sha=merge)

    assert outcome.status == 0, outcome.log
    assert (outcome.outputs["number"], outcome.outputs["result"]) == ("2", "opened")
    first = github.api.pulls[1]
    assert (first["state"], first["merged"]) == ("closed", True)
    assert open_pulls(github.api) == [2]
    assert github.git("rev-parse", "main") == merge
    assert_one_commit_on(github, merge, {ENVIRONMENT: "model: income-classifier\nversion: 8\n"})


def test_with_open_false_only_the_branch_moves(github: GitHub) -> None:
    # given a deployment branch: one commit on main that nobody merges, moved on every release
    base = github.git("rev-parse", "main")
    write(github, ENVIRONMENT, "model: income-classifier\nversion: 7\n")
    first = open_pull_request(github, open="false", body_file="")
    write(github, ENVIRONMENT, "model: income-classifier\nversion: 8\n")

    # when it runs again
    second = open_pull_request(github, open="false", body_file="")

    # then the branch is one commit on main with the latest content, and no pull request exists
    assert (first.status, second.status) == (0, 0), first.log + second.log
    assert second.outputs == {"number": "", "url": "", "result": "pushed"}
    assert_one_commit_on(github, base, {ENVIRONMENT: "model: income-classifier\nversion: 8\n"})
    assert github.api.pulls == {}
    assert not any(path.endswith("/pulls") for _, path in writes(github.api)), "a PR was opened"


def test_a_listed_file_that_does_not_exist_fails_before_anything_is_written(
    github: GitHub,
) -> None:
    outcome = open_pull_request(github, files=f"{ENVIRONMENT}\nenvironments/staging.yaml")

    assert outcome.status == 1
    assert "::error::files: 'environments/staging.yaml' does not exist" in outcome.log
    assert writes(github.api) == [], "something was written before the inputs were checked"
    assert github.api.pulls == {}
    assert run(github.origin, "git", "branch", "--list", BRANCH).stdout == ""
    assert outcome.outputs == {}


def test_a_missing_token_fails_without_a_request(github: GitHub) -> None:
    outcome = open_pull_request(github, token="")

    assert outcome.status == 1
    assert "::error::The token input is required and was empty" in outcome.log
    assert github.api.requests == []


@pytest.mark.parametrize(
    ("inputs", "said"),
    [
        (
            {"base_sha": "0" * 40},
            f"GET /repos/{REPOSITORY}/git/commits/{'0' * 40} answered 404: Not Found",
        ),
        (
            {"base": "release"},  # no such branch: GitHub refuses the pull request
            f"POST /repos/{REPOSITORY}/pulls answered 422: Validation Failed (base invalid)",
        ),
    ],
    ids=["unknown-base-sha", "unknown-base-branch"],
)
def test_an_api_error_fails_with_its_status_and_message_and_never_the_token(
    github: GitHub, inputs: dict[str, str], said: str
) -> None:
    write(github, ENVIRONMENT, "model: income-classifier\nversion: 7\n")

    outcome = open_pull_request(github, **inputs)

    assert outcome.status == 1
    assert f"::error::{said}" in outcome.log
    assert TOKEN not in outcome.log, "the token was printed"
    assert outcome.outputs == {}
    assert github.api.pulls == {}


def test_files_in_different_folders_go_in_one_commit(github: GitHub) -> None:
    base = github.git("rev-parse", "main")
    write(github, ENVIRONMENT, "model: income-classifier\nversion: 7\n")
    write(github, "reports/promotion/summary.md", "# Version 7\n")

    outcome = open_pull_request(github, files=f"{ENVIRONMENT}\n\n  reports/promotion/summary.md\n")

    assert outcome.status == 0, outcome.log
    assert_one_commit_on(
        github,
        base,
        {
            ENVIRONMENT: "model: income-classifier\nversion: 7\n",
            "reports/promotion/summary.md": "# Version 7\n",
        },
    )


def test_the_stand_in_never_moves_the_checked_out_main(github: GitHub) -> None:
    main = github.git("rev-parse", "main")
    write(github, ENVIRONMENT, "model: income-classifier\nversion: 7\n")

    outcome = open_pull_request(github, branch="main", base="develop")

    assert outcome.status == 1
    assert "answered 422" in outcome.log
    assert github.git("rev-parse", "main") == main
    assert github.git("status", "--porcelain") == "", "the origin's working tree changed"
