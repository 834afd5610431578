"""post-report's `upsert_comment.py`, run as the action runs it, against the GitHub API stand-in.

The report's comment without CML: one per pull request, found again by its marker (or by the
watermark of a comment CML posted before) however many comments the pull request has, edited
rather than duplicated, cut to what GitHub accepts, and a refusal reported in one line.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TEMPLATE
from standins.github_api import GITHUB_TOKEN, GitHubState, github_api
from workflow_runs import REPOSITORY

SCRIPT = TEMPLATE / "actions" / "post-report" / "upsert_comment.py"
CML_COMMENT = '## Model report\n\n![](https://cml.dev/watermark.png#0123abcd "CML watermark")'


@pytest.fixture
def api() -> Iterator[GitHubState]:
    with github_api() as (_, state):
        yield state


def post(api: GitHubState, tmp_path: Path, report: str, *, number: int = 7, scope: str = "write"):
    """Run the script for pull request `number` with a job token whose pull_requests is `scope`."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": number}}), encoding="utf-8")
    (tmp_path / "report.md").write_text(report, encoding="utf-8")
    token = api.issue_token(GITHUB_TOKEN, {"pull_requests": scope})
    env = {
        "PATH": os.environ["PATH"],
        "GITHUB_API_URL": api.url,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_EVENT_PATH": str(event),
        "REPO_TOKEN": token,
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "report.md")],
        env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def test_posts_one_comment_then_edits_it(api: GitHubState, tmp_path: Path) -> None:
    # given a pull request with someone's comment on it
    api.comments[7] = [{"id": 900, "body": "Looks good to me"}]
    # when the report is posted, then posted again after a push
    first = post(api, tmp_path, "## Model report for `aaaa`")
    second = post(api, tmp_path, "## Model report for `bbbb`")
    # then there is one report comment, now the second report, and the other comment is intact
    assert first.returncode == 0 and second.returncode == 0, first.stdout + second.stdout
    [other, report] = api.comments[7]
    assert other == {"id": 900, "body": "Looks good to me"}
    assert report["body"].startswith("## Model report for `bbbb`")
    assert ("PATCH", f"/repos/{REPOSITORY}/issues/comments/{report['id']}") in api.requests
    assert f"edited comment {report['id']}" in second.stdout


def test_edits_the_comment_cml_posted_before(api: GitHubState, tmp_path: Path) -> None:
    # given a pull request whose report CML posted
    api.comments[7] = [{"id": 901, "body": CML_COMMENT}]
    # when the report is posted without CML
    assert post(api, tmp_path, "## Model report for `cccc`").returncode == 0
    # then CML's comment became the report: still one
    [comment] = api.comments[7]
    assert comment["id"] == 901 and comment["body"].startswith("## Model report for `cccc`")


def test_finds_its_comment_beyond_the_first_page(api: GitHubState, tmp_path: Path) -> None:
    # given a busy pull request: the report is comment 120 of 250 (GitHub pages them by 100)
    assert post(api, tmp_path, "## Model report for `dddd`").returncode == 0
    [report] = api.comments[7]
    chatter = [{"id": 1000 + n, "body": f"comment {n}"} for n in range(250)]
    api.comments[7] = [*chatter[:119], report, *chatter[119:249]]
    requests_before = len(api.requests)
    # when the report is posted again
    assert post(api, tmp_path, "## Model report for `eeee`").returncode == 0
    # then all three pages were read, that comment was edited and none added
    made = [method for method, _ in api.requests[requests_before:]]
    assert made == ["GET", "GET", "GET", "PATCH"], made
    assert len(api.comments[7]) == 250
    assert api.comments[7][119]["body"].startswith("## Model report for `eeee`")


def test_a_report_too_long_for_github_is_cut_saying_so(api: GitHubState, tmp_path: Path) -> None:
    assert post(api, tmp_path, "x" * 70_000).returncode == 0
    [comment] = api.comments[7]
    assert len(comment["body"]) <= 65_536, "GitHub refuses a comment this long"
    assert "the job summary and the artifact hold all of it" in comment["body"]


def test_a_token_that_cannot_write_fails_in_one_line(api: GitHubState, tmp_path: Path) -> None:
    # when the job's token may only read pull requests
    result = post(api, tmp_path, "## Model report", scope="read")
    # then nothing is posted and the one error line says what the token lacks
    assert result.returncode == 1
    [error] = [line for line in result.stdout.splitlines() if line.startswith("::error::")]
    assert "answered 403 (the token needs pull-requests: write)" in error, result.stdout
    assert 7 not in api.comments
