"""How long a pull request waits for its report: the generated pr.yml under act.

Prints the wall time of the PR workflow's model job for a hyperparameter change, cold (the
change trains) and warm (the same change again, restored from the DVC remote's run cache), and
the warm run against a bare `dvc repro` with nothing to do, the floor of any CI run.

Usage: python bench/pr_workflow.py   (part of `make bench`)
"""

import re
import sys
import tempfile
import time
from pathlib import Path

import yaml

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))  # the template tests' harness: act runner and stand-ins

from conftest import run  # noqa: E402 (after the path it is found on)
from standins.github_api import github_api  # noqa: E402
from workflow_runs import (  # noqa: E402
    checkout,
    pull_request_event,
    run_workflow,
    trained_repository,
)

GO_DURATION = re.compile(r"(?:(\d+)m)?([\d.]+)(s|ms|µs)")


def step_seconds(log: str, names: list[str]) -> dict[str, float]:
    """The model job's own steps' durations, from act's "Success - Main <step> [<time>]" lines."""
    seconds = {}
    for name in names:
        match = re.search(rf"(?:Success|Failure) - Main {re.escape(name)} \[([^\]]+)\]", log)
        if match and (duration := GO_DURATION.fullmatch(match[1])):
            minutes, value, unit = duration.groups()
            scale = {"s": 1.0, "ms": 1e-3, "µs": 1e-6}[unit]
            seconds[name] = int(minutes or 0) * 60 + float(value) * scale
    return seconds


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch_name, github_api() as (api_url, _):
        scratch = Path(scratch_name)
        origin = trained_repository(scratch)
        base = run(origin, "git", "rev-parse", "HEAD").stdout.strip()
        run(origin, "git", "checkout", "--quiet", "-b", "tune")
        params = origin / "params.yaml"
        params.write_text(params.read_text().replace("max_iter: 200", "max_iter: 150"))
        run(origin, "git", "commit", "--quiet", "--all", "--message", "Tune max_iter")
        head = run(origin, "git", "rev-parse", "HEAD").stdout.strip()
        run(origin, "git", "checkout", "--quiet", "main")

        event = pull_request_event(1, "tune", head, base)
        seconds = {}
        for attempt in ("cold", "warm"):
            clone = checkout(origin, "tune", scratch / f"ci-{attempt}")
            started = time.perf_counter()
            result = run_workflow(
                clone,
                "pr.yml",
                event,
                scratch / f"act-{attempt}",
                api_url=api_url,
                job="model",
                variables={"DVC_REMOTE_URL": str(scratch / f"{origin.name}-dvc-remote")},
            )
            seconds[attempt] = time.perf_counter() - started
            if not result.succeeded:
                sys.exit(f"the {attempt} run failed:\n{result.log[-4000:]}")
            training = re.search(r"::set-output:: training=(\w+)", result.log)  # run-pipeline's
            print(f"{attempt}: {seconds[attempt]:6.1f} s  (train stage: "
                  f"{training[1] if training else 'unknown'})")  # fmt: skip
            workflow = yaml.safe_load((clone / ".github/workflows/pr.yml").read_text())
            steps = [step["name"] for step in workflow["jobs"]["model"]["steps"]]
            for name, took in step_seconds(result.log, steps).items():
                print(f"    {took:6.1f} s  {name}")

        started = time.perf_counter()
        run(origin, "uv", "run", "--frozen", "dvc", "repro")
        bare = time.perf_counter() - started
        print(f"bare `dvc repro`, nothing to do: {bare:.1f} s")
        print(f"warm / cold: {seconds['warm'] / seconds['cold']:.2f}")
        print(f"warm workflow / bare dvc repro: {seconds['warm'] / bare:.1f}x")


if __name__ == "__main__":
    main()
