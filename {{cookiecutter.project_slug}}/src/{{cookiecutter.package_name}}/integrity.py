"""A stage's outputs on disk against the hashes `dvc.lock` records for them.

DVC checks out what its cache holds under a hash without hashing it again, and then remembers
that hash for the file it wrote, so neither `dvc pull` nor `dvc status` notices an object that
someone overwrote in the remote after it was pushed. A release must ship what was reviewed, so
`register` hashes the files itself first. Hand-written because DVC has no public call for it:
its lock and its cache's directory listings are plain YAML and JSON, and their md5s are of the
bytes (DVC 3's `md5` hash).
"""

import hashlib
import json
import subprocess
from pathlib import Path

import yaml

LOCK = Path("dvc.lock")
CHUNK = 1 << 20


def mismatches(stage: str, lock: Path = LOCK) -> list[str]:
    """One line per output file of `stage` whose content is not what `lock` records (or that
    the record does not list, or that is missing); none when they all match."""
    if not lock.is_file():
        return [f"{lock} is missing: nothing says what {stage}'s outputs should hold"]
    entry = (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {}).get(stage)
    if entry is None:
        return [f"{lock} has no stage {stage!r}"]
    problems = []
    for out in entry.get("outs", []):
        path, recorded = Path(out["path"]), out.get("md5", "")
        if out.get("hash") != "md5":
            problems.append(f"{path}: recorded with the hash {out.get('hash')!r}, not DVC 3's md5")
        elif recorded.endswith(".dir"):
            problems += _directory(path, recorded)
        else:
            problems += _file(path, recorded)
    return problems


def recorded_output(path: Path, stage: str, lock: Path = LOCK) -> bool:
    """Whether `path` is, or is inside, one of the outputs `lock` records for `stage`: a file
    the pipeline wrote, which must then be what the lock says."""
    if not lock.is_file():
        return False
    entry = (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {}).get(stage)
    outputs = [Path(out["path"]).resolve() for out in (entry or {}).get("outs", [])]
    where = path.resolve()
    return any(where == output or output in where.parents for output in outputs)


def md5_of(path: Path) -> str:
    digest = hashlib.md5()  # DVC's content address
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _file(path: Path, recorded: str) -> list[str]:
    if not path.is_file():
        return [f"{path}: missing (dvc.lock records md5 {recorded})"]
    actual = md5_of(path)
    return [] if actual == recorded else [f"{path}: md5 {actual}, dvc.lock records {recorded}"]


def _directory(path: Path, recorded: str) -> list[str]:
    """The directory's listing comes from the cache, checked against its own hash first."""
    digest = recorded.removesuffix(".dir")
    listing = _cache() / "files" / "md5" / digest[:2] / f"{digest[2:]}.dir"
    if not listing.is_file():
        return [f"{path}/: its file list ({recorded}) is not in the DVC cache to check against"]
    raw = listing.read_bytes()
    actual = hashlib.md5(raw).hexdigest()
    if actual != digest:
        return [f"{path}/: its file list has md5 {actual}.dir, dvc.lock records {recorded}"]
    expected = {entry["relpath"]: entry["md5"] for entry in json.loads(raw)}
    problems = [
        problem
        for relpath in sorted(expected)
        for problem in _file(path / relpath, expected[relpath])
    ]
    present = {file.relative_to(path).as_posix() for file in path.rglob("*") if file.is_file()}
    problems += [
        f"{path / extra}: not in what dvc.lock records for {path}/"
        for extra in sorted(present - set(expected))
    ]
    return problems


def _cache() -> Path:
    """The local cache's directory, wherever the project's DVC config puts it."""
    shown = subprocess.run(["dvc", "cache", "dir"], capture_output=True, text=True, check=True)
    return Path(shown.stdout.strip())
