"""How long the first ten minutes take: generate, install, run the pipeline from scratch.

Prints seconds for `uv sync --frozen` with a warm cache (plain, and with bytecode compiled as
`make setup` does; the environment is the same for every task), then per task (binary,
multiclass, regression): seconds to generate, seconds for `dvc repro` from scratch with each
stage's share, the share spent in fitting the model itself, and seconds per thousand rows.

Each task's bundled dataset has its own size (48,842, 28,157 and 15,402 rows), and a pipeline's
start-up costs the same for any size, so per thousand rows a smaller dataset looks slower for
no fault of its task. The comparison the target is about ("no task more than 1.5x slower than
binary per thousand rows") is therefore made again at equal size: each task's raw data
resampled (with replacement, seeded) to the binary dataset's row count.

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
from dataclasses import dataclass
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


TASKS = ("binary", "multiclass", "regression")
RAW_PATH = "import yaml; print(yaml.safe_load(open('params.yaml'))['data']['raw'])"
RESAMPLE = """
import sys, pandas as pd, yaml
raw = yaml.safe_load(open("params.yaml"))["data"]["raw"]
frame = pd.read_csv(raw, keep_default_na=False, dtype=str)
frame.sample(n=int(sys.argv[1]), replace=True, random_state=0).to_csv(raw, index=False)
"""


@dataclass(frozen=True)
class Measured:
    rows: int
    repro: float
    stages: dict[str, float]
    fit: float

    def per_thousand_rows(self, seconds: float) -> float:
        return 1000 * seconds / self.rows


def project_python(project: Path, script: str, *args: str) -> str:
    completed = subprocess.run(
        ["uv", "run", "--frozen", "python", "-c", script, *args],
        cwd=project,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    return completed.stdout.strip()


def measure(project: Path) -> Measured:
    with (project / project_python(project, RAW_PATH)).open("rb") as handle:
        rows = sum(1 for _ in handle) - 1
    repro, stages = repro_with_stage_times(project)
    return Measured(rows, repro, stages, fit_seconds(project))


def main() -> int:
    generated: dict[str, float] = {}
    results: dict[str, Measured] = {}
    equal: dict[str, Measured] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for task in TASKS:
            print(f"Generating the {task} project ...", flush=True)
            started = time.perf_counter()
            project = Path(
                cookiecutter(
                    str(TEMPLATE),
                    no_input=True,
                    output_dir=str(Path(scratch) / task),
                    extra_context={"task": task},
                )
            )
            generated[task] = time.perf_counter() - started
            if task == "binary":
                print("Installing it (first sync warms uv's cache) ...", flush=True)
                timed(["uv", "sync", "--frozen"], project)
                shutil.rmtree(project / ".venv")
                sync_warm = timed(["uv", "sync", "--frozen"], project)
                shutil.rmtree(project / ".venv")
                sync_compiled = timed(["uv", "sync", "--frozen", "--compile-bytecode"], project)
            else:
                timed(["uv", "sync", "--frozen", "--compile-bytecode"], project)
            print("Running its pipeline from scratch ...", flush=True)
            results[task] = measure(project)
            if task != "binary":
                rows = results["binary"].rows
                print(f"... and again on its data resampled to {rows:,} rows", flush=True)
                project_python(project, RESAMPLE, str(rows))
                equal[task] = measure(project)
    equal["binary"] = results["binary"]

    print(f"\n{'step':<48}{'seconds':>9}")
    print(f"{'uv sync --frozen, warm cache':<48}{sync_warm:>9.1f}")
    print(f"{'uv sync --frozen --compile-bytecode, warm':<48}{sync_compiled:>9.1f}")
    for task, result in results.items():
        print(f"\n{task} ({result.rows:,} rows)")
        print(f"{'  generate (cookiecutter + hooks)':<48}{generated[task]:>9.1f}")
        print(f"{'  dvc repro from scratch':<48}{result.repro:>9.1f}")
        for stage, seconds in result.stages.items():
            print(f"{'    stage ' + stage:<48}{seconds:>9.1f}  ({seconds / result.repro:.0%})")
        share = result.fit / result.repro
        print(f"{'    of which fitting the model':<48}{result.fit:>9.1f}  ({share:.1%})")

    binary = results["binary"]
    print(
        f"\n{'seconds per thousand rows':<28}{'repro':>8}{'fit':>8}{'vs binary':>11}"
        f"{'repro, equal size':>19}{'vs binary':>11}"
    )
    for task in TASKS:
        own, same = results[task], equal[task]
        repro, fit = own.per_thousand_rows(own.repro), own.per_thousand_rows(own.fit)
        repro_same = same.per_thousand_rows(same.repro)
        print(
            f"{task:<28}{repro:>8.2f}{fit:>8.3f}"
            f"{repro / binary.per_thousand_rows(binary.repro):>10.2f}x{repro_same:>19.2f}"
            f"{repro_same / binary.per_thousand_rows(binary.repro):>10.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
