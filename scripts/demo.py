"""Generate a project with the default answers, set it up and run its pipeline end to end.

Usage: python scripts/demo.py OUTPUT_DIR   (what `make demo` runs)
"""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
TOOLS = TEMPLATE / ".tools" / "bin"


def step(number: int, title: str) -> float:
    print(f"\n==> [{number}/3] {title}", flush=True)
    return time.perf_counter()


def done(started: float) -> None:
    print(f"    done in {time.perf_counter() - started:.0f}s", flush=True)


def main(output_dir: Path) -> int:
    shutil.rmtree(output_dir, ignore_errors=True)
    output_dir.mkdir(parents=True)

    started = step(1, "Generate a project from the template with the default answers")
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(output_dir)))
    done(started)

    started = step(2, "Set it up: `make setup` (locked environment, git hooks)")
    subprocess.run(["make", "setup"], cwd=project, check=True)
    done(started)

    started = step(3, "Run the pipeline: `make run` (prepare -> validate -> train -> evaluate)")
    subprocess.run(["make", "run"], cwd=project, check=True)
    done(started)

    print(summary(project))
    return 0


def summary(project: Path) -> str:
    """Where everything is, and the exact commands to go on with: the project's Makefile calls
    `uv`, which `make demo` installed into this template's .tools/bin, not onto PATH."""
    run = json.loads((project / "models" / "run.json").read_text(encoding="utf-8"))
    metrics = json.loads((project / "reports" / "metrics.json").read_text(encoding="utf-8"))
    gate, value = next(iter(metrics.items()))  # evaluate writes the task's headline first
    figures = sorted(path.name for path in (project / "reports" / "figures").iterdir())
    return f"""
The project is at {project}
  metrics     {project / "reports" / "metrics.json"}  (test {gate} {value:.4f})
  plots       {project / "reports" / "figures"}/  ({", ".join(figures)})
  validation  {project / "reports" / "validation" / "validation.md"}
  model       {project / "models" / "model"}/
  MLflow run  {run["run_id"]} in {run["tracking_uri"]} (experiment {run["experiment_id"]})

Go on in it (uv is in this template's .tools/bin):
  export PATH="{TOOLS}:$PATH"
  cd {project}
  make help      # check, test, report, serve, drift, ...
  uv run mlflow ui --backend-store-uri sqlite:///mlflow.db   # browse the run
"""


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    raise SystemExit(main(Path(sys.argv[1]).resolve()))
