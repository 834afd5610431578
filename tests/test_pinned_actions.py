"""Every remote action the template pins, against what the real action declares at that commit.

`standins/actions/upstream.yml` holds, per pin, the real `action.yml`'s runtime and inputs
(copied from the action's repository). A pin it does not list, a runtime GitHub is retiring
(Node 20 and older), an input the pinned version lacks or deprecates, or a stand-in that
accepts an input the real action would reject, fails here with the file and the action named.
"""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import TEMPLATE

UPSTREAM = Path(__file__).parent / "standins" / "actions" / "upstream.yml"
STANDINS = UPSTREAM.parent
SOURCES = sorted(
    [
        *TEMPLATE.glob(".github/workflows/*.yml"),
        *TEMPLATE.glob("{{cookiecutter.project_slug}}/.github/workflows/*.yml"),
        *TEMPLATE.glob("actions/*/action.yml"),
    ]
)
PIN = re.compile(r"^\s*(?:- )?uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v[\d.]+)\s*$", re.M)
OLDEST_NODE = 24  # GitHub's runners warn about Node 20 actions and are removing that runtime


def runtime_problem(using: str) -> str | None:
    """Why GitHub will not keep running an action declaring `runs.using: <using>`, or None."""
    if using in ("composite", "docker"):
        return None
    node = re.fullmatch(r"node(\d+)", using)
    if node is None:
        return f"declares an unknown runtime {using!r}"
    if int(node[1]) < OLDEST_NODE:
        return f"declares {using}, which GitHub is retiring: pin a release on node{OLDEST_NODE}"
    return None


def pin_problems(text: str, upstream: dict[str, Any]) -> list[str]:
    """What is wrong with each `owner/repo@sha # vX.Y.Z` pin in a workflow or action's text."""
    problems = []
    for name, sha, version in PIN.findall(text):
        known = upstream.get(f"{name}@{sha}")
        if known is None:
            problems.append(
                f"{name}@{sha} ({version}) is not in {UPSTREAM.name}: confirm the tag's commit "
                "in the action's repository and copy its action.yml's runs.using and inputs there"
            )
        elif known["version"] != version:
            problems.append(f"{name}@{sha} says {version}, but that commit is {known['version']}")
        elif problem := runtime_problem(known["using"]):
            problems.append(f"{name}@{sha} ({version}) {problem}")
    return problems


def steps_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    if "runs" in document:  # an action
        return document["runs"].get("steps", [])
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


@pytest.fixture(scope="module")
def upstream() -> dict[str, Any]:
    return yaml.safe_load(UPSTREAM.read_text(encoding="utf-8"))


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.relative_to(TEMPLATE).as_posix())
def test_every_pin_is_a_known_release_on_a_supported_runtime(
    source: Path, upstream: dict[str, Any]
) -> None:
    assert pin_problems(source.read_text(encoding="utf-8"), upstream) == []


def test_the_rule_refuses_a_node20_pin_and_an_unknown_one(upstream: dict[str, Any]) -> None:
    # given a workflow whose checkout is pinned to a release that declares node20, and an
    # action pinned to a commit nobody recorded
    old = "11bd71901bbe5b1630ceea73d27597364c9af683"
    workflow = (
        "    steps:\n"
        f"      - uses: actions/checkout@{old} # v4.2.2\n"
        f"      - uses: example/unknown@{'0' * 40} # v1.0.0\n"
    )
    recorded = upstream | {f"actions/checkout@{old}": {"version": "v4.2.2", "using": "node20"}}
    # then both are refused, each saying why
    assert pin_problems(workflow, recorded) == [
        f"actions/checkout@{old} (v4.2.2) declares node20, which GitHub is retiring: "
        "pin a release on node24",
        f"example/unknown@{'0' * 40} (v1.0.0) is not in upstream.yml: confirm the tag's commit "
        "in the action's repository and copy its action.yml's runs.using and inputs there",
    ]
    assert runtime_problem("node16") is not None and runtime_problem("node24") is None
    assert runtime_problem("composite") is None and runtime_problem("docker") is None


def test_every_recorded_pin_is_used(upstream: dict[str, Any]) -> None:
    used = {f"{name}@{sha}" for path in SOURCES for name, sha, _ in PIN.findall(path.read_text())}
    assert set(upstream) == used, "upstream.yml lists pins nothing uses, or misses some"


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.relative_to(TEMPLATE).as_posix())
def test_steps_give_only_inputs_the_pinned_version_has(
    source: Path, upstream: dict[str, Any]
) -> None:
    for step in steps_of(yaml.safe_load(source.read_text(encoding="utf-8"))):
        known = upstream.get(step.get("uses", ""))
        if known is None:  # a local action (their inputs are actionlint's), or refused above
            continue
        given = set(step.get("with", {}))
        assert given <= set(known["inputs"]), (
            f"{source.name}: {step['uses']} has no input {sorted(given - set(known['inputs']))}"
        )
        assert not given & set(known.get("deprecated", [])), (
            f"{source.name}: {step['uses']} deprecates {sorted(given & set(known['deprecated']))}"
        )


def test_stand_ins_accept_only_what_the_real_actions_accept(upstream: dict[str, Any]) -> None:
    # A stand-in that took an input the real action lacks would let a broken workflow pass.
    for pin, known in upstream.items():
        standin = STANDINS / pin.split("@")[0].split("/")[1] / "action.yml"
        if pin.startswith("actions/setup-python@"):  # the template's own CI, never run by act
            continue
        assert standin.is_file(), f"{pin} has no stand-in at {standin.parent}"
        accepted = set(yaml.safe_load(standin.read_text(encoding="utf-8")).get("inputs", {}))
        extra = accepted - (set(known["inputs"]) - set(known.get("deprecated", [])))
        assert not extra, f"the {standin.parent.name} stand-in accepts {sorted(extra)}, {pin} not"
