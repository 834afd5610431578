"""How long the first ten minutes take: generate, install, run the pipeline from scratch.

Prints, for the default project: seconds to generate, seconds for `uv sync --frozen` with a warm
cache (plain, and with bytecode compiled as `make setup` does), seconds for `dvc repro` from
scratch with each stage's share, and the share spent in fitting the model itself.

Usage: python bench/foundation.py   (what `make bench` runs)
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
ENV = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
ENV |= {"DVC_NO_ANALYTICS": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
STAGE_LINE = re.compile(r"^Running stage '(?P<stage>[^']+)'")


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=ENV, check=True, capture_output=True)
    return time.perf_counter() - started


def repro_with_stage_times(project: Path) -> tuple[float, dict[str, float]]:
    """Run `dvc repro`, timing each stage from the moment DVC announces it to the next."""
    started = time.perf_counter()
    marks: list[tuple[str, float]] = []
    with subprocess.Popen(
        ["uv", "run", "--frozen", "dvc", "repro"],
        cwd=project,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if match := STAGE_LINE.match(line):
                marks.append((match["stage"], time.perf_counter()))
    total = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"dvc repro failed ({process.returncode})")
    ends = [at for _, at in marks[1:]] + [started + total]
    return total, {stage: end - at for (stage, at), end in zip(marks, ends, strict=True)}


def fit_seconds(project: Path) -> float:
    script = (
        "import json, mlflow; mlflow.set_tracking_uri('sqlite:///mlflow.db');"
        "run = mlflow.search_runs(search_all_experiments=True, output_format='list')[0];"
        "print(json.dumps(run.data.metrics))"
    )
    completed = subprocess.run(
        ["uv", "run", "--frozen", "python", "-c", script],
        cwd=project,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(completed.stdout)["fit_seconds"])


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        print("Generating the default project ...", flush=True)
        started = time.perf_counter()
        project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=scratch))
        generate = time.perf_counter() - started

        print("Installing it (first sync warms uv's cache) ...", flush=True)
        timed(["uv", "sync", "--frozen"], project)
        shutil.rmtree(project / ".venv")
        sync_warm = timed(["uv", "sync", "--frozen"], project)
        shutil.rmtree(project / ".venv")
        sync_compiled = timed(["uv", "sync", "--frozen", "--compile-bytecode"], project)

        print("Running the pipeline from scratch ...", flush=True)
        repro, stages = repro_with_stage_times(project)
        fit = fit_seconds(project)

    print(f"\n{'step':<44}{'seconds':>9}")
    print(f"{'generate (cookiecutter + hooks)':<44}{generate:>9.1f}")
    print(f"{'uv sync --frozen, warm cache':<44}{sync_warm:>9.1f}")
    print(f"{'uv sync --frozen --compile-bytecode, warm':<44}{sync_compiled:>9.1f}")
    print(f"{'dvc repro from scratch':<44}{repro:>9.1f}")
    for stage, seconds in stages.items():
        print(f"{'  stage ' + stage:<44}{seconds:>9.1f}  ({seconds / repro:.0%})")
    print(f"{'  of which fitting the model':<44}{fit:>9.1f}  ({fit / repro:.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
