"""How long the generated drift check takes, and how much memory, against a plain Evidently run.

Bakes the default project, then for 10 thousand, 100 thousand and 1 million rows draws a
reference and a batch from its dataset (shifted and not: `drift_probe.SHIFT`), and checks each
pair three ways, each in a fresh process (`drift_probe.py`): a plain `DataDriftPreset`, the
project's `drift` command with sampling off, and the same with sampling on. Prints wall time and
peak memory of each, the sampled run's time as a share of the plain run's, and whether its
verdicts (the dataset's and every column's) match the full run's.

Then the same check on a window of the inference log (`drift --window 24h`): 1 million and 10
million records in files of `serve.capture.file_rows` (100,000), as the server rolls them,
against a reference of 100,000 rows. The 10 million row window is checked sampled only (the
target: within 20 s and 1 GiB peak); at 1 million rows, the sampled verdicts against the full
check's. Prints wall time, CPU time (the wall clock of a shared machine counts others' work
too) and peak memory.

Usage: python bench/drift.py   (part of `make bench`)
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from conftest import PROJECT_ENV, bake, run  # noqa: E402 (after the path it is found on)

PROBE = Path(__file__).with_name("drift_probe.py")
SIZES = (10_000, 100_000, 1_000_000)
SAMPLE_ROWS = 50_000  # drift.sample_rows when sampling is on
TIMEOUT_SECONDS = 900  # per measurement
WINDOW_SIZES = (1_000_000, 10_000_000)  # records in the inference log's window
FULL_WINDOW_ROWS = 1_000_000  # up to here the window is also checked without sampling
FILE_ROWS = 100_000  # serve.capture.file_rows: where the server closes a file


# Bytecode is cached, as in a user's environment: the clocks include lazy imports.
ENV = {key: value for key, value in PROJECT_ENV.items() if key != "PYTHONDONTWRITEBYTECODE"}


def probe(project: Path, *args: str) -> dict[str, object]:
    command = [str(project / ".venv" / "bin" / "python"), "-W", "ignore", str(PROBE), *args]
    completed = subprocess.run(
        command, cwd=project, env=ENV, capture_output=True, text=True,
        timeout=TIMEOUT_SECONDS, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{completed.stderr[-3000:]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def params_with(project: Path, folder: Path, sample_rows: int | None) -> Path:
    """The project's params.yaml with drift.sample_rows set."""
    value = "null" if sample_rows is None else str(sample_rows)
    path = folder / f"params-{value}.yaml"
    text = (project / "params.yaml").read_text()
    path.write_text(text.replace("sample_rows: null", f"sample_rows: {value}", 1))
    return path


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as scratch:
        root = Path(scratch)
        project = bake(root)
        run(project, "uv", "sync", "--frozen")
        full, sampled = params_with(project, root, None), params_with(project, root, SAMPLE_ROWS)
        print(
            "Drift check: the generated `drift` command (read, contract, Evidently, HTML) against "
            f"a plain DataDriftPreset; sampled = {SAMPLE_ROWS:,} rows a side"
        )
        header = (
            f"{'rows':>9} {'batch':>9} | {'plain s':>7} {'MiB':>5} | {'full s':>6} {'MiB':>5} | "
            f"{'sampled s':>9} {'MiB':>5} | {'/plain':>6} | sampled verdicts = full"
        )
        print(header, "-" * len(header), sep="\n")
        for rows in SIZES:
            for kind in ("unshifted", "shifted"):
                folder = root / f"{rows}-{kind}"
                folder.mkdir()
                probe(project, "data", str(rows), kind, str(folder))
                plain = probe(project, "plain", str(folder))
                whole = probe(project, "ours", str(folder), str(full))
                part = probe(project, "ours", str(folder), str(sampled))
                same = (whole["drifted"], whole["columns"]) == (part["drifted"], part["columns"])
                share = float(str(part["seconds"])) / float(str(plain["seconds"]))
                print(
                    f"{rows:>9,} {kind:>9} | {plain['seconds']:>7.1f} {plain['peak_mib']:>5.0f} | "
                    f"{whole['seconds']:>6.1f} {whole['peak_mib']:>5.0f} | "
                    f"{part['seconds']:>9.1f} {part['peak_mib']:>5.0f} | {share:>6.2f} | "
                    f"{'yes' if same else 'NO'} (dataset drift: {part['drifted']})"
                )
        windows(project, root, full, sampled)


def windows(project: Path, root: Path, full: Path, sampled: Path) -> None:
    print(
        "\nDrift check on a window of the inference log (`drift --window 24h`), files of "
        f"{FILE_ROWS:,} records; sampled = {SAMPLE_ROWS:,} rows a side"
    )
    header = (
        f"{'records':>10} {'files':>5} {'window':>9} | {'sampled s':>9} {'cpu s':>6} {'MiB':>5} | "
        f"{'full s':>6} {'cpu s':>6} {'MiB':>5} | sampled verdicts = full"
    )
    print(header, "-" * len(header), sep="\n")
    for rows in WINDOW_SIZES:
        for kind in ("unshifted", "shifted"):
            folder = root / f"window-{rows}-{kind}"
            folder.mkdir()
            made = probe(project, "log", str(rows), str(FILE_ROWS), kind, str(folder))
            part = probe(project, "window", str(folder), str(sampled))
            line = (
                f"{rows:>10,} {made['files']:>5} {kind:>9} | {part['seconds']:>9.1f} "
                f"{part['cpu_seconds']:>6.1f} {part['peak_mib']:>5.0f} | "
            )
            if rows <= FULL_WINDOW_ROWS:
                whole = probe(project, "window", str(folder), str(full))
                same = (whole["drifted"], whole["columns"]) == (part["drifted"], part["columns"])
                line += (
                    f"{whole['seconds']:>6.1f} {whole['cpu_seconds']:>6.1f} "
                    f"{whole['peak_mib']:>5.0f} | {'yes' if same else 'NO'}"
                )
            else:
                line += f"{'-':>6} {'-':>6} {'-':>5} | (not run in full)"
            print(f"{line} (dataset drift: {part['drifted']}, {part['rows']:,} records)")


if __name__ == "__main__":
    main()
