"""Read a revision's pipeline results, and what data changed between two revisions, through DVC.

Files committed to git (metrics, curves, params) are read from the revision's tree; files in
DVC's cache (tracked data) are read from the cache or the remote, as `dvc.api` does.
"""

import io
import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import dvc.api
import pandas as pd
import yaml
from dvc.api import DVCFileSystem
from dvc.exceptions import DvcException, FileMissingError, PathMissingError
from dvc.repo import Repo

from {{ cookiecutter.package_name }} import data
from {{ cookiecutter.package_name }}.fairness import Segment
from {{ cookiecutter.package_name }}.report import DataChange, Results, flatten

WORKSPACE = "workspace"
METRICS = "reports/metrics.json"
PARAMS = "params.yaml"
PLOTS = "reports/plots"  # evaluate's numbers behind the plots, committed (dvc.yaml)
# The files evaluate writes there (evaluate.py names them; repeated to keep DVC-side code from
# importing scikit-learn and matplotlib).
CURVE_FILES = {"roc": f"{PLOTS}/roc.csv", "precision_recall": f"{PLOTS}/precision_recall.csv"}
TABLES = {
    "confusion": f"{PLOTS}/confusion.csv",
    "per_class": f"{PLOTS}/per_class.csv",
    "predictions": f"{PLOTS}/predictions.csv",
}
EVALUATED = f"{PLOTS}/task.json"
FIT = f"{PLOTS}/fit.json"
SEGMENTS = f"{PLOTS}/segments.json"
MODEL = "models/model"  # train's output (train.MODEL_DIR under the stage's `models`)
PREPARED = "data/prepared"  # prepare's output
TEST_SPLIT = f"{PREPARED}/test.parquet"


def read_results(rev: str | None, root: Path = Path()) -> Results | None:
    """The results at `rev` (None: the working tree); None if that revision has no metrics."""
    metrics = _read_text(METRICS, rev, root)
    if metrics is None:
        return None
    params_text = _read_text(PARAMS, rev, root)
    curves = {
        name: frame
        for name, path in CURVE_FILES.items()
        if (frame := _csv(path, rev, root)) is not None
    }
    for name, frame in curves.items():
        if "label" not in frame.columns:  # written before curves were kept per label
            curves[name] = frame.assign(label="positive")
    tables = {name: _csv(path, rev, root) for name, path in TABLES.items()}
    evaluated, fit = _read_text(EVALUATED, rev, root), _read_text(FIT, rev, root)
    segments = _read_text(SEGMENTS, rev, root)
    return Results(
        revision=short_commit(rev, root) if rev else WORKSPACE,
        metrics={name: float(value) for name, value in json.loads(metrics).items()},
        params=flatten(yaml.safe_load(params_text) or {}) if params_text else {},
        curves=curves,
        confusion=tables["confusion"],
        per_class=tables["per_class"],
        predictions=tables["predictions"],
        evaluated=json.loads(evaluated) if evaluated else None,
        fit=json.loads(fit) if fit else None,
        segments=[Segment.from_json(facts) for facts in json.loads(segments)] if segments else None,
    )


def _csv(path: str, rev: str | None, root: Path) -> pd.DataFrame | None:
    text = _read_text(path, rev, root)
    if text is None:
        return None
    # Only an empty field is missing: a label such as "NA" or "None" is a label.
    return pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])


def _read_text(path: str, rev: str | None, root: Path) -> str | None:
    if rev is None:
        file = root / path
        return file.read_text(encoding="utf-8") if file.exists() else None
    try:
        return str(dvc.api.read(path, repo=str(root), rev=rev, encoding="utf-8"))
    except (FileNotFoundError, PathMissingError):
        return None


def data_changes(base: str, root: Path = Path()) -> list[DataChange]:
    """DVC-tracked source data (not pipeline outputs) that differs between `base` and now.

    A tracked directory (data/batches/) shows as the files in it that changed.
    """
    repo = Repo(str(root))
    sources = tracked_sources(root)
    diff = repo.diff(a_rev=base)
    # A file that is only absent here (CI pulls no more than it runs) is not a deletion.
    absent = {entry["path"] for entry in diff.get("not in cache", [])}
    changes = []
    for kind in ("added", "modified", "deleted"):
        for entry in diff.get(kind, []):
            path = entry["path"]
            in_directory = any(path.startswith(f"{source}/") for source in sources)
            if path.endswith("/") or (path not in sources and not in_directory):
                continue
            if kind == "deleted" and path in absent:
                continue
            changes.append(_data_change(path, kind, base, root))
    return changes


def _data_change(path: str, kind: str, base: str, root: Path) -> DataChange:
    """One changed file: its rows on each side and, when both sides read as tables, how they
    differ by content."""
    before = None if kind == "added" else read_table(path, base, root)
    after = None if kind == "deleted" else read_table(path, None, root)
    change = DataChange(
        path=path,
        change=kind,
        rows_before=None if before is None else len(before),
        rows_after=None if after is None else len(after),
    )
    if before is not None and after is not None:
        rows = data.row_changes(before, after)
        return replace(
            change,
            rows_added=rows.added,
            rows_removed=rows.removed,
            rows_changed=rows.changed,
            columns_added=rows.columns_added,
            columns_removed=rows.columns_removed,
        )
    if kind == "added" and after is not None:
        return replace(change, rows_added=len(after), rows_removed=0, rows_changed=0)
    if kind == "deleted" and before is not None:
        return replace(change, rows_added=0, rows_removed=len(before), rows_changed=0)
    return change


def prepared_rows(rev: str, root: Path = Path()) -> pd.DataFrame | str:
    """Every row `rev` trained and tested on (its prepare stage's train and test splits, from
    DVC's cache or remote), or why they are out of reach."""
    try:
        fs = DVCFileSystem(repo=str(root), rev=rev)
        frames = []
        for name in ("train", "test"):
            with fs.open(f"{PREPARED}/{name}.parquet", "rb") as handle:
                frames.append(pd.read_parquet(handle))
    except (DvcException, OSError) as error:  # no such output there, or the remote unreachable
        return f"the base's prepared data could not be read ({error})"
    return pd.concat(frames).sort_index()


def read_table(path: str, rev: str | None, root: Path) -> pd.DataFrame | None:
    """A CSV at `rev` (None: the working tree), or None: another format, absent, or out of
    reach (a fork's pull request has no DVC remote), or not a table pandas can read."""
    if not path.endswith(".csv"):
        return None
    try:
        if rev is None:
            return pd.read_csv(root / path)
        with dvc.api.open(path, repo=str(root), rev=rev, mode="rb") as handle:
            return pd.read_csv(handle)
    except (FileNotFoundError, FileMissingError, DvcException, ValueError, UnicodeDecodeError):
        return None


# `dvc status` states of files that are only absent here (CI skips pulling what it won't use)
ABSENT = {"deleted", "not in cache"}


def stale_stages(root: Path = Path()) -> list[str]:
    """Pipeline stages whose inputs changed since their outputs were produced.

    A file that is merely absent is not a change: `dvc repro --allow-missing` leaves unchanged
    stages' outputs in the remote.
    """
    status = Repo(str(root)).status()
    return sorted(
        name.split(":")[-1]
        for name, entries in status.items()
        if not name.endswith(".dvc") and any(_changed(entry) for entry in entries)
    )


def _changed(entry: str | dict[str, dict[str, Any]]) -> bool:
    if isinstance(entry, str):  # "changed command", "always changed"
        return True
    states = [state for changes in entry.values() for state in changes.values()]
    return any(not isinstance(state, str) or state not in ABSENT for state in states)


def tracked_sources(root: Path) -> set[str]:
    """Paths that `.dvc` files track: the data people add, not what the pipeline writes."""
    listed = _git(root, "ls-files", "--", "*.dvc").splitlines()
    sources = set()
    for pointer in listed:
        outs = yaml.safe_load((root / pointer).read_text(encoding="utf-8")).get("outs", [])
        parent = Path(pointer).parent
        sources |= {(parent / out["path"]).as_posix() for out in outs}
    return sources


def fetch_model(rev: str, destination: Path, root: Path = Path()) -> str | None:
    """Copy the model that `rev`'s dvc.lock names into `destination`, from DVC's cache or
    remote. Returns why it could not (no model at `rev`, or the remote out of reach: a fork's
    pull request), or None once it is there."""
    try:
        fs = DVCFileSystem(repo=str(root), rev=rev)
        if not fs.isdir(MODEL):
            return f"`{rev[:12]}` has no trained model"
        fs.get(MODEL, str(destination), recursive=True)
    except (DvcException, OSError) as error:  # the remote unreachable, or not configured
        return f"the base's model could not be fetched from the DVC remote ({error})"
    return None


def revision_exists(rev: str, root: Path = Path()) -> bool:
    try:
        _git(root, "rev-parse", "--verify", "--quiet", rev + "^{commit}")
    except subprocess.CalledProcessError:
        return False
    return True


def carry_over(rev: str, directory: str, root: Path = Path()) -> list[str]:
    """Copy the files that `directory` holds at `rev` (a DVC-tracked directory) and lacks here;
    returns their names. The content comes from DVC's cache or remote."""
    fs = DVCFileSystem(repo=str(root), rev=rev)
    if not fs.isdir(directory):
        return []
    target = root / directory
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for remote_path in sorted(fs.ls(directory, detail=False)):
        name = Path(remote_path).name
        if not (target / name).exists():
            fs.get_file(remote_path, str(target / name))
            copied.append(name)
    return copied


def short_commit(rev: str, root: Path = Path()) -> str:
    return _git(root, "rev-parse", "--short=7", rev)


def head_commit(root: Path = Path()) -> str:
    return _git(root, "rev-parse", "HEAD")


def _git(root: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=60
    )
    return completed.stdout.strip()


def read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
