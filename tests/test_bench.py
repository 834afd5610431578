"""The benchmarks run only with `make bench`, so nothing else notices when the harness they
share with the tests changes under them: each must still import, and have its `main`."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The benchmarks `make bench` runs, as its recipe names them.
BENCHMARKS = re.findall(r"python (bench/\w+\.py)", (ROOT / "Makefile").read_text())


def test_make_bench_runs_every_benchmark() -> None:
    helpers = {"bench/drift_probe.py"}  # run by bench/drift.py, inside a generated project
    on_disk = {path.relative_to(ROOT).as_posix() for path in (ROOT / "bench").glob("*.py")}
    assert set(BENCHMARKS) == on_disk - helpers


@pytest.mark.parametrize("relative", BENCHMARKS)
def test_a_benchmark_imports_and_has_a_main(relative: str) -> None:
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)

    spec.loader.exec_module(module)  # its imports, not its work: that runs under __main__

    assert callable(getattr(module, "main", None)), f"{relative} has no main()"
