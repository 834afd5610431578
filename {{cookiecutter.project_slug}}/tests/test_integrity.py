"""A release registers only what dvc.lock records: a stage's output files are hashed again, so
an object overwritten in the DVC remote after it was pushed is refused, naming the file and
both hashes. Checked on a real DVC repository, since the format is DVC's."""

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.integrity import mismatches, recorded_output

# A stage like train: a directory output with files at two depths.
WRITE = (
    "python -c \"import pathlib; p = pathlib.Path('models/model'); p.mkdir(parents=True); "
    "(p / 'model.skops').write_text('weights'); pathlib.Path('models/run.json').write_text('{}')\""
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once (DVC takes seconds to start); each test changes a copy."""
    built = tmp_path_factory.mktemp("dvc")
    for command in (
        ["dvc", "init", "--no-scm", "--quiet"],
        ["dvc", "stage", "add", "--quiet", "--name", "train", "--outs", "models", WRITE],
        ["dvc", "repro", "--quiet"],
    ):
        subprocess.run(command, cwd=built, check=True, capture_output=True)
    return built


@pytest.fixture
def repository(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = shutil.copytree(trained, tmp_path / "repository")
    monkeypatch.chdir(copy)
    return copy


def test_outputs_as_recorded_pass(repository: Path) -> None:
    assert mismatches("train") == []


def test_a_changed_file_is_named_with_both_hashes(repository: Path) -> None:
    model = Path("models/model/model.skops")
    recorded = hashlib.md5(model.read_bytes()).hexdigest()
    model.chmod(0o644)  # DVC may leave it read-only
    model.write_text("not the reviewed weights")
    forged = hashlib.md5(b"not the reviewed weights").hexdigest()

    assert mismatches("train") == [
        f"models/model/model.skops: md5 {forged}, dvc.lock records {recorded}"
    ]


def test_a_missing_or_an_extra_file_is_named(repository: Path) -> None:
    Path("models/run.json").unlink()
    Path("models/model/extra.pkl").write_text("smuggled")

    found = mismatches("train")

    assert found[0].startswith("models/run.json: missing (dvc.lock records md5 ")
    assert found[1:] == ["models/model/extra.pkl: not in what dvc.lock records for models/"]


def test_a_tampered_file_list_in_the_cache_is_refused(repository: Path) -> None:
    [listing] = Path(".dvc/cache/files/md5").rglob("*.dir")
    listing.chmod(0o644)
    listing.write_text("[]")

    [problem] = mismatches("train")

    assert problem.startswith("models/: its file list has md5 ")


def test_no_lock_or_no_stage_is_said(repository: Path) -> None:
    assert mismatches("evaluate") == ["dvc.lock has no stage 'evaluate'"]
    Path("dvc.lock").unlink()
    assert mismatches("train") == [
        "dvc.lock is missing: nothing says what train's outputs should hold"
    ]


def test_only_what_the_stage_wrote_is_held_to_the_lock(repository: Path, tmp_path: Path) -> None:
    assert recorded_output(Path("models/run.json"), "train")
    assert recorded_output(Path("models"), "train")
    assert not recorded_output(tmp_path / "elsewhere" / "run.json", "train"), "a run of one's own"
    assert not recorded_output(Path("models/run.json"), "evaluate")
    Path("dvc.lock").unlink()
    assert not recorded_output(Path("models/run.json"), "train")
