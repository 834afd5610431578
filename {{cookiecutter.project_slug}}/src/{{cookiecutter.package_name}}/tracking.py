"""MLflow I/O: where runs go, and the provenance every run carries (git commit, data version)."""

import hashlib
import json
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow

# The embedded default: a SQLite store and ./mlruns artifacts in the project, both git-ignored.
# MLFLOW_TRACKING_URI overrides it (a tracking server once a team outgrows one machine).
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


@dataclass(frozen=True)
class RunRef:
    """Written next to the model so later stages (and the PR report) find the run."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    model_name: str = "unknown"
    git_commit: str = "unknown"
    data_version: str = "unknown"
    fit_seconds: float | None = None  # how long the fit took (None: written before it was kept)

    @property
    def url(self) -> str | None:
        return run_url(self.tracking_uri, self.experiment_id, self.run_id)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> "RunRef":
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str | None:
    """The run's page when the store is a tracking server; None for a local store."""
    if tracking_uri.startswith(("http://", "https://")):
        return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
    return None


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def client() -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=tracking_uri())


def use_experiment(name: str) -> str:
    mlflow.set_tracking_uri(tracking_uri())
    return mlflow.set_experiment(name).experiment_id


def file_md5(path: Path) -> str:
    """The same content hash DVC records for a file, so a run points at a DVC data version."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_version(files: list[Path]) -> str:
    """One file: its DVC content hash. Raw data and batches: a hash of their names and hashes."""
    if len(files) == 1:
        return file_md5(files[0])
    listing = "".join(f"{path.name} {file_md5(path)}\n" for path in files)
    return hashlib.md5(listing.encode(), usedforsecurity=False).hexdigest()


# What the pipeline itself rewrites before train runs (dvc.lock, the committed reports): a
# change there says nothing about the code and params the model was trained from.
PIPELINE_WRITES = (":(exclude)dvc.lock", ":(exclude)reports")


def git_state() -> dict[str, str]:
    """Commit and dirtiness of the working tree (beyond what the pipeline writes); 'unknown'
    outside a git checkout."""
    try:
        commit = _git("rev-parse", "HEAD")
        dirty = bool(
            _git("status", "--porcelain", "--untracked-files=no", "--", ".", *PIPELINE_WRITES)
        )
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit, "git_dirty": str(dirty).lower()}


def _git(*args: str) -> str:
    completed = subprocess.run(
        ["git", *args], check=True, capture_output=True, text=True, timeout=30
    )
    return completed.stdout.strip()
