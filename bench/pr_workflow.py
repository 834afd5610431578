"""How long a pull request waits for its report: the generated pr.yml under act.

Prints the wall time of the PR workflow's model job for a hyperparameter change, cold (the
change trains) and warm (the same change again, restored from the DVC remote's run cache), with
each step's time; the warm run against a bare `dvc repro` with nothing to do, the floor of any
CI run; and the report alone, with the parts of its same-rows comparison: the base's model
fetched, loaded and scored on the PR's test rows, the paired bootstrap, the segments.

Usage: python bench/pr_workflow.py   (part of `make bench`)
"""

import json
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
from workflow_runs import pull_request_event, run_workflow, trained_repository  # noqa: E402

GO_DURATION = re.compile(r"(?:(\d+)m)?([\d.]+)(s|ms|µs)")
# The same-rows comparison alone, in the project's environment: `_on_the_same_rows` as the
# report calls it, each part it calls timed where it is looked up (the modules' attributes).
# The libraries it needs are imported first and timed apart: the report loads most anyway.
SAME_ROWS = """
import json, sys, time
from collections import defaultdict
from pathlib import Path
started = time.perf_counter()
import mlflow.sklearn, scipy.stats, skops.io, sklearn.metrics
from {package} import cli, compare, evaluate, fairness, revisions
from {package}.settings import load_params
took = defaultdict(list, imports=[time.perf_counter() - started])

def timed(owner, name, part):
    inner = getattr(owner, name)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            took[part].append(time.perf_counter() - started)
    setattr(owner, name, wrapper)

timed(revisions, "fetch_model", "fetch")
timed(mlflow.sklearn, "load_model", "load")  # the base's model first, then the candidate
timed(evaluate, "score", "score")
timed(compare, "paired", "bootstrap")
timed(fairness, "segments", "segments")
started = time.perf_counter()
compared, why = cli._on_the_same_rows(sys.argv[1], load_params(Path("params.yaml")), None)
took["total"].append(time.perf_counter() - started)
assert compared is not None, why
print(json.dumps({{"resamples": compared.paired.resamples, "rows": compared.paired.rows, **took}}))
"""


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
    with tempfile.TemporaryDirectory() as scratch_name, github_api() as (_, api):
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
        workflow = yaml.safe_load((origin / ".github/workflows/pr.yml").read_text())
        steps = [step["name"] for step in workflow["jobs"]["model"]["steps"]]
        seconds = {}
        for attempt in ("cold", "warm"):
            started = time.perf_counter()
            result = run_workflow(
                origin,
                "pr.yml",
                event,
                scratch / f"act-{attempt}",
                api=api,
                job="model",
                variables={"DVC_REMOTE_URL": str(scratch / f"{origin.name}-dvc-remote")},
            )
            seconds[attempt] = time.perf_counter() - started
            if not result.succeeded:
                sys.exit(f"the {attempt} run failed:\n{result.log[-4000:]}")
            training = re.search(r"Train stage: (\w+)", result.log)  # run-pipeline says so
            print(f"{attempt}: {seconds[attempt]:6.1f} s  (train stage: "
                  f"{training[1] if training else 'unknown'})")  # fmt: skip
            for name, took in step_seconds(result.log, steps).items():
                print(f"    {took:6.1f} s  {name}")

        started = time.perf_counter()
        run(origin, "uv", "run", "--frozen", "dvc", "repro")
        bare = time.perf_counter() - started
        print(f"bare `dvc repro`, nothing to do: {bare:.1f} s")
        print(f"warm / cold: {seconds['warm'] / seconds['cold']:.2f}")
        print(f"warm workflow / bare dvc repro: {seconds['warm'] / bare:.1f}x")

        # The report alone, on the branch trained here, against main.
        run(origin, "git", "checkout", "--quiet", "tune")
        run(origin, "uv", "run", "--frozen", "dvc", "repro")
        started = time.perf_counter()
        run(origin, "uv", "run", "--frozen", origin.name, "report", "--base", base)
        report = time.perf_counter() - started
        package = origin.name.replace("-", "_")
        measured = json.loads(run(origin, "uv", "run", "--frozen", "python", "-c",
                                  SAME_ROWS.format(package=package), base).stdout)  # fmt: skip
        base_model = measured["fetch"][0] + measured["load"][0] + measured["score"][0]
        bootstrap = measured["bootstrap"][0]
        print(f"report command: {report:.1f} s; the same-rows comparison in it: "
              f"{measured['total'][0]:.2f} s on {measured['rows']:,} rows, of which")  # fmt: skip
        fetch, load, score = measured["fetch"][0], measured["load"][0], measured["score"][0]
        print(f"    {base_model:6.2f} s  the base's model: fetched {fetch:.2f} s, "
              f"loaded {load:.2f} s, scored {score:.2f} s")  # fmt: skip
        candidate = measured["load"][1] + measured["score"][1]
        print(f"    {candidate:6.2f} s  this revision's model: loaded and scored")
        print(f"    {bootstrap:6.2f} s  paired bootstrap, {measured['resamples']} resamples")
        print(f"    {sum(measured['segments']):6.2f} s  segments of both models")
        print(f"    ({measured['imports'][0]:.2f} s importing the libraries, before it)")
        print(f"bootstrap + base scoring: {bootstrap + base_model:.2f} s (target: at most 5 s)")


if __name__ == "__main__":
    main()
