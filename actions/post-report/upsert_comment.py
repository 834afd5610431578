#!/usr/bin/env python3
"""Post the report as the pull request's one comment, or edit that comment if it is there.

Usage: upsert_comment.py <report.md>. The comment is found by a hidden marker this script
writes, or by the watermark CML wrote when it posted the report, so a repository that posted
with CML before keeps its one comment. Written out rather than taken from a library: it is
three REST calls (list, then edit or create), Python's standard library suffices, and no
maintained package does this without bringing a GitHub client along.

Environment: GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_EVENT_PATH (a pull_request event) as
the runner sets them, and REPO_TOKEN with `pull-requests: write`.
"""

import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

TIMEOUT = 30  # seconds, for every request
PAGES = 50  # at 100 comments a page: a pull request with more is not searched further
MARKER = "<!-- post-report: the model report, edited in place on every push -->"
CML_WATERMARK = re.compile(r'!\[\]\(https://cml\.dev/watermark\.png#[^ )]* "CML watermark[^"]*"\)')
MAX_BODY = 65536  # characters GitHub accepts in a comment
CUT = "\n\n*The report is cut short here: the job summary and the artifact hold all of it.*"
NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class PostError(Exception):
    """Stops the step with one ::error:: line."""


def request(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> Any:
    """One REST call: its JSON, with the next page's URL for a list (None when last)."""
    call = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "Content-Type": "application/json",
            "User-Agent": "post-report-action",
        },
    )
    try:
        with urllib.request.urlopen(call, timeout=TIMEOUT) as response:
            link = NEXT.search(response.headers.get("Link", ""))
            return json.load(response), link[1] if link else None
    except urllib.error.HTTPError as error:
        message = error.read().decode(errors="replace")[:300]
        hint = " (the token needs pull-requests: write)" if error.code in (401, 403) else ""
        raise PostError(f"{method} {url} answered {error.code}{hint}: {message}") from error
    except urllib.error.URLError as error:
        raise PostError(f"{method} {url} failed: {error.reason}") from error


def body_of(report: str) -> str:
    """The comment: the report, cut to what GitHub accepts, then the marker."""
    room = MAX_BODY - len(MARKER) - 2
    if len(report) > room:
        report = report[: room - len(CUT)] + CUT
    return f"{report}\n\n{MARKER}"


def ours(comment: dict[str, Any]) -> bool:
    text = comment.get("body") or ""
    return MARKER in text or CML_WATERMARK.search(text) is not None


def upsert(api: str, repository: str, number: int, token: str, report: str) -> str:
    """Edit the last comment that is ours, or create one; returns what was done."""
    issue = f"{api}/repos/{repository}/issues"
    url: str | None = f"{issue}/{number}/comments?per_page=100"
    found = None
    for _ in range(PAGES):
        if url is None:
            break
        page, url = request("GET", url, token)
        found = next((c for c in reversed(page) if ours(c)), found)
    if found is not None:
        request("PATCH", f"{issue}/comments/{found['id']}", token, {"body": body_of(report)})
        return f"edited comment {found['id']}"
    created, _ = request("POST", f"{issue}/{number}/comments", token, {"body": body_of(report)})
    return f"created comment {created['id']}"


def main(argv: list[str]) -> int:
    try:
        if len(argv) != 1:
            raise PostError("usage: upsert_comment.py <report.md>")
        event = json.loads(Path(os.environ["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
        if "pull_request" not in event:
            raise PostError("the report is posted on a pull request: this event has none")
        if not os.environ.get("REPO_TOKEN"):
            raise PostError("no token: pass one with pull-requests: write")
        done = upsert(
            os.environ["GITHUB_API_URL"].rstrip("/"),
            os.environ["GITHUB_REPOSITORY"],
            int(event["pull_request"]["number"]),
            os.environ["REPO_TOKEN"],
            Path(argv[0]).read_text(encoding="utf-8"),
        )
    except PostError as error:
        print(f"::error::Could not post the report comment: {error}")
        return 1
    print(f"Report comment: {done}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
