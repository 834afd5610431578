"""Which workflows GitHub starts for an event: the `on:` trigger, its branch and path filters.

Hand-written because GitHub's filter patterns are their own syntax, which no Python library
implements: `*` stops at `/`, `**` does not, `?` and `+` quantify the character before them (as
in a regular expression, unlike a glob), and a later `!pattern` excludes what an earlier one
matched. https://docs.github.com/actions/reference/workflows-and-actions/workflow-syntax
#filter-pattern-cheat-sheet
"""

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml


def pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char in "?+":
            out.append(char)  # applies to the previous character, as GitHub's does
        elif char == "[":
            end = pattern.index("]", i)
            out.append(pattern[i : end + 1])
            i = end + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def matches(patterns: list[str], name: str) -> bool:
    """Whether `name` is included by `patterns`, read in order (a `!` pattern excludes)."""
    included = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if pattern_regex(pattern.removeprefix("!")).match(name):
            included = not negated
    return included


def filters_pass(spec: dict[str, Any] | None, key: str, names: list[str]) -> bool:
    """GitHub's rule for `branches`/`paths` (some name included) and their `-ignore` forms
    (some name not ignored); no filter lets everything through."""
    spec = spec or {}
    if key in spec:
        return any(matches(spec[key], name) for name in names)
    if f"{key}-ignore" in spec:
        return any(not matches(spec[f"{key}-ignore"], name) for name in names)
    return True


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """The workflow's `on:` as a mapping (YAML 1.1 reads a bare `on` as True)."""
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on)


def changed_files(repo: Path, event_name: str, event: dict[str, Any]) -> list[str]:
    """The files GitHub's path filters look at: a push's `before..after`, a pull request's
    changes against the merge base (`base...head`)."""
    if event_name == "pull_request":
        pull = event["pull_request"]
        span = f"{pull['base']['sha']}...{pull['head']['sha']}"
    else:
        span = f"{event['before']}..{event['after']}"
    listed = subprocess.run(
        ["git", "diff", "--name-only", span],
        cwd=repo, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return listed.stdout.splitlines()


def branch_of(event_name: str, event: dict[str, Any]) -> str:
    """The branch the filters read: a push's own, a pull request's base."""
    if event_name == "pull_request":
        return str(event["pull_request"]["base"]["ref"])
    return str(event["ref"]).removeprefix("refs/heads/")


def triggered(repo: Path, event_name: str, event: dict[str, Any]) -> list[str]:
    """The workflow files in `repo` (checked out at the event's commit) that the event starts."""
    started = []
    for path in sorted((repo / ".github" / "workflows").glob("*.y*ml")):
        on = triggers(yaml.safe_load(path.read_text(encoding="utf-8")))
        if event_name not in on:
            continue
        spec = on[event_name]
        if event_name in ("push", "pull_request") and not (
            filters_pass(spec, "branches", [branch_of(event_name, event)])
            and filters_pass(spec, "paths", changed_files(repo, event_name, event))
        ):
            continue
        started.append(path.name)
    return started
