#!/usr/bin/env python3
"""Commit files to a bot branch through the GitHub REST API and open or update its one PR.

The branch is reset to a single commit on top of the base commit on every run, so the pull
request always shows exactly one commit. With PULL_REQUEST_OPEN=false only the branch moves: a
deployment branch that nobody merges. Commits made through the API with a GitHub App token
are signed by GitHub, and nothing is pushed with git: no credentials are written to disk.

Inputs come from the environment (the action maps them); Python's standard library only.
"""

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

TIMEOUT = 30  # seconds, for every request
MAX_BODY = 65536  # characters GitHub accepts in a pull request's body
FULL_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
# Printable ASCII without spaces: anything else would break (or leak into) the header.
TOKEN_CHARACTERS = re.compile(r"^[\x21-\x7e]+$")


class ActionError(Exception):
    """Stops the run with a message for the log, printed as one ::error:: line."""


# What a refusal of the token means here: the one mistake GitHub's message does not name.
TOKEN_HINTS = {
    401: "the token is not valid (expired, or not a token)",
    403: "the token lacks a permission: this action needs a GitHub App token with Contents: "
    "write and Pull requests: write (see the token input)",
}


class ApiError(ActionError):
    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        hint = f": {TOKEN_HINTS[status]}" if status in TOKEN_HINTS else ""
        super().__init__(f"{method} {path} answered {status}: {message}{hint}")
        self.status = status


@dataclass(frozen=True)
class Inputs:
    token: str
    repository: str
    branch: str
    base: str
    base_sha: str
    title: str
    body: str
    commit_message: str
    files: dict[str, str]  # path in the repository -> content
    open_pull_request: bool = True


@dataclass(frozen=True)
class GitHub:
    api_url: str
    repository: str
    token: str

    def request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        """One REST call; a status other than 2xx raises ApiError with GitHub's message."""
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            f"{self.api_url}{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
                "User-Agent": "open-pull-request-action",
            },
        )
        shown = path.split("?")[0]
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise ApiError(method, shown, error.code, error_message(error)) from None
        except TimeoutError:
            raise ActionError(f"{method} {shown} did not answer within {TIMEOUT} s") from None
        except urllib.error.URLError as error:
            raise ActionError(f"{method} {shown} failed: {error.reason}") from None

    def repo_path(self, rest: str) -> str:
        return f"/repos/{self.repository}/{rest}"


def error_message(error: urllib.error.HTTPError) -> str:
    """GitHub's `message`, with the details of a "Validation Failed" when it gives them."""
    try:
        answer = json.loads(error.read())
    except (ValueError, OSError):
        return error.reason or "no message"
    if not isinstance(answer, dict):
        return str(error.reason)
    message = str(answer.get("message") or error.reason)
    details = [  # {"message": ...} or {"field": "base", "code": "invalid"}
        str(item.get("message") or f"{item.get('field', '')} {item.get('code', '')}".strip())
        for item in answer.get("errors") or []
        if isinstance(item, dict)
    ]
    return f"{message} ({'; '.join(details)})" if details else message


def annotation(kind: str, message: str) -> str:
    """A workflow command: %, CR and LF escaped, so a message with newlines stays one line."""
    escaped = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::{kind}::{escaped}"


def required(name: str, variable: str) -> str:
    value = os.environ.get(variable, "")
    if not value.strip():
        raise ActionError(f"The {name} input is required and was empty")
    return value


def repository_path(entry: str) -> str:
    """A working-tree path as the repository names it: relative, no `..`, forward slashes."""
    path = PurePosixPath(entry)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ActionError(f"files: '{entry}' must be a path inside the repository, relative to it")
    return path.as_posix()


def read_files(listing: str) -> dict[str, str]:
    files: dict[str, str] = {}
    for line in listing.splitlines():
        entry = line.strip()
        if not entry:
            continue
        path = repository_path(entry)
        local = Path(path)
        if not local.is_file():
            raise ActionError(
                f"files: '{entry}' does not exist in the working tree (or is not a file)"
            )
        try:
            # bytes, then decode: text mode would turn CRLF into LF behind our back
            files[path] = local.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise ActionError(
                f"files: '{entry}' is not UTF-8 text, which is all this commits"
            ) from None
    if not files:
        raise ActionError("The files input lists no path")
    return files


def read_inputs() -> Inputs:
    token = required("token", "PULL_REQUEST_TOKEN")
    if not TOKEN_CHARACTERS.match(token):
        raise ActionError("The token input has spaces, newlines or other characters no token has")
    repository = os.environ.get("GITHUB_REPOSITORY", "")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
        raise ActionError(f"GITHUB_REPOSITORY must be owner/name, got '{repository}'")
    branch = required("branch", "PULL_REQUEST_BRANCH").strip()
    base = required("base", "PULL_REQUEST_BASE").strip()
    if branch == base:
        raise ActionError(f"branch and base are both '{base}': the bot needs a branch of its own")
    bad_name = re.compile(r"(^[-/.]|^refs/|\.\.|[\s~^:?*\[\\]|/$|\.lock$|@\{)")
    if bad_name.search(branch):
        raise ActionError(
            f"branch '{branch}' is not a valid branch name (give it without refs/heads/)"
        )
    base_sha = required("base-sha", "PULL_REQUEST_BASE_SHA").strip().lower()
    if not FULL_SHA.match(base_sha):
        raise ActionError(f"base-sha must be a full commit SHA, got '{base_sha}'")
    title = required("title", "PULL_REQUEST_TITLE").strip()
    opening = os.environ.get("PULL_REQUEST_OPEN", "true")
    if opening not in ("true", "false"):
        raise ActionError(f'open must be "true" or "false", not \'{opening}\'')
    body = ""
    if opening == "true":
        body_file = Path(required("body-file", "PULL_REQUEST_BODY_FILE"))
        if not body_file.is_file():
            raise ActionError(f"body-file '{body_file}' does not exist")
        body = body_file.read_bytes().decode("utf-8", errors="replace")
        if len(body) > MAX_BODY:
            raise ActionError(
                f"body-file has {len(body)} characters; GitHub takes at most {MAX_BODY}"
            )
    message = os.environ.get("PULL_REQUEST_COMMIT_MESSAGE", "").strip() or title
    files = read_files(required("files", "PULL_REQUEST_FILES"))
    return Inputs(
        token, repository, branch, base, base_sha, title, body, message, files, opening == "true"
    )


def commit(github: GitHub, inputs: Inputs) -> str:
    """One commit with the files on top of base-sha; returns its SHA."""
    base = github.request("GET", github.repo_path(f"git/commits/{inputs.base_sha}"))
    entries = [
        {"path": path, "mode": "100644", "type": "blob", "content": content}
        for path, content in inputs.files.items()
    ]
    tree = github.request(
        "POST",
        github.repo_path("git/trees"),
        {"base_tree": base["tree"]["sha"], "tree": entries},
    )
    if tree["sha"] == base["tree"]["sha"]:
        print(
            annotation(
                "warning",
                f"The files are unchanged from {inputs.base_sha[:7]}: "
                "the pull request will show no changes",
            )
        )
    created = github.request(
        "POST",
        github.repo_path("git/commits"),
        {"message": inputs.commit_message, "tree": tree["sha"], "parents": [inputs.base_sha]},
    )
    return str(created["sha"])


def point_branch(github: GitHub, branch: str, sha: str) -> None:
    """Force the branch to `sha`, creating it when it does not exist."""
    ref = urllib.parse.quote(f"heads/{branch}", safe="/")
    try:
        github.request("PATCH", github.repo_path(f"git/refs/{ref}"), {"sha": sha, "force": True})
    except ApiError as update_error:
        if update_error.status not in (404, 422):  # GitHub answers 422 for a missing branch
            raise
        try:
            github.request(
                "POST", github.repo_path("git/refs"), {"ref": f"refs/heads/{branch}", "sha": sha}
            )
        except ApiError as create_error:
            # Both said why: the branch may exist and refuse the update for another reason.
            raise ActionError(f"{update_error}; then {create_error}") from None


def open_or_update(github: GitHub, inputs: Inputs) -> tuple[dict[str, Any], str]:
    """The branch's one open pull request into base, updated; or a new one."""
    owner = inputs.repository.split("/")[0]
    query = urllib.parse.urlencode(
        {"head": f"{owner}:{inputs.branch}", "base": inputs.base, "state": "open"}
    )
    found = sorted(
        github.request("GET", github.repo_path(f"pulls?{query}")), key=lambda pr: pr["number"]
    )
    if len(found) > 1:
        numbers = ", ".join(f"#{pr['number']}" for pr in found)
        print(
            annotation(
                "warning",
                f"{len(found)} open pull requests from {inputs.branch} into {inputs.base} "
                f"({numbers}): updating #{found[0]['number']}; close the others",
            )
        )
    if found:
        number = found[0]["number"]
        updated = github.request(
            "PATCH",
            github.repo_path(f"pulls/{number}"),
            {"title": inputs.title, "body": inputs.body},
        )
        return updated, "updated"
    opened = github.request(
        "POST",
        github.repo_path("pulls"),
        {"title": inputs.title, "head": inputs.branch, "base": inputs.base, "body": inputs.body},
    )
    return opened, "opened"


def main() -> int:
    try:
        output = os.environ.get("GITHUB_OUTPUT", "")
        if not output:
            raise ActionError("GITHUB_OUTPUT is not set: run this as a step of a GitHub workflow")
        inputs = read_inputs()
        github = GitHub(
            os.environ.get("GITHUB_API_URL", "").rstrip("/") or "https://api.github.com",
            inputs.repository,
            inputs.token,
        )
        sha = commit(github, inputs)
        point_branch(github, inputs.branch, sha)
        if not inputs.open_pull_request:
            with Path(output).open("a", encoding="utf-8") as handle:
                handle.write("number=\nurl=\nresult=pushed\n")
            print(f"{inputs.branch} is now {sha[:7]}, one commit on {inputs.base_sha[:7]}")
            return 0
        pull, result = open_or_update(github, inputs)
    except ActionError as failure:
        print(annotation("error", str(failure)))
        return 1
    with Path(output).open("a", encoding="utf-8") as handle:
        handle.write(f"number={pull['number']}\nurl={pull['html_url']}\nresult={result}\n")
    print(
        f"Pull request #{pull['number']} {result}: {inputs.branch} ({sha[:7]}, one commit on "
        f"{inputs.base_sha[:7]}) into {inputs.base}, {pull['html_url']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
