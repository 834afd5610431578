"""What keeps the template itself from rotting: its Dependabot settings and its weekly CI run.

Dependabot reads `.github/dependabot.yml` only on GitHub, so the file is checked here against
the schema of the keys Dependabot documents, and for what it must cover: the template's own
lock, every place an action is pinned (this repository's workflows, each composite action,
the generated workflows), each with a cooldown. The CI workflow must also run on a schedule.
"""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import TEMPLATE

BIN = Path(sys.executable).parent
DEPENDABOT = TEMPLATE / ".github" / "dependabot.yml"
CI = TEMPLATE / ".github" / "workflows" / "ci.yml"


@pytest.fixture(scope="module")
def updates() -> list[dict[str, Any]]:
    return yaml.safe_load(DEPENDABOT.read_text(encoding="utf-8"))["updates"]


def watched(updates: list[dict[str, Any]], ecosystem: str) -> set[str]:
    """The folders Dependabot reads for `ecosystem`."""
    folders: set[str] = set()
    for update in updates:
        if update["package-ecosystem"] == ecosystem:
            folders |= set(update.get("directories", [])) | {update.get("directory")} - {None}
    return folders


def test_dependabot_settings_use_only_documented_keys() -> None:
    completed = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(DEPENDABOT)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_dependabot_watches_the_lock_and_every_pinned_action(updates: list[dict[str, Any]]) -> None:
    assert watched(updates, "uv") == {"/"}, "the template's own uv.lock is not watched"
    actions = {
        f"/{path.parent.relative_to(TEMPLATE).as_posix()}"
        for path in TEMPLATE.glob("actions/*/action.yml")
    }
    missing = {"/", "/{{cookiecutter.project_slug}}", *actions} - watched(updates, "github-actions")
    assert not missing, f"Dependabot does not read the actions pinned in {sorted(missing)}"
    tracked = subprocess.run(
        ["git", "ls-files", "*package.json"],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    npm = {f"/{Path(path).parent.as_posix()}" for path in tracked}
    assert npm and watched(updates, "npm") == npm, "a package.json Dependabot does not read"


def test_every_dependabot_update_waits_out_a_cooldown_weekly(
    updates: list[dict[str, Any]],
) -> None:
    for update in updates:
        name = f"{update['package-ecosystem']} {update.get('directory', update.get('directories'))}"
        assert update.get("cooldown", {}).get("default-days", 0) >= 1, f"{name}: no cooldown"
        assert update["schedule"]["interval"] == "weekly", f"{name}: not weekly"


def test_ci_also_runs_weekly_off_the_hour() -> None:
    triggers = yaml.safe_load(CI.read_text(encoding="utf-8"))[True]  # YAML 1.1 reads `on` so
    crons = [entry["cron"] for entry in triggers.get("schedule", [])]
    assert len(crons) == 1, f"ci.yml runs on no single schedule: {crons}"
    minute, hour, day, month, weekday = crons[0].split()
    assert minute.isdigit() and int(minute) % 5 != 0, "on a round minute, when GitHub is busiest"
    assert hour.isdigit() and (day, month) == ("*", "*") and weekday.isdigit(), "not weekly"
    assert {"pull_request", "push"} <= set(triggers), "Dependabot's pull requests would not run"
