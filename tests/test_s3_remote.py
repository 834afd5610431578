"""The DVC remote on S3-compatible storage (`dvc-s3`, in every generated project), against a
real S3 server on loopback: a push killed midway and run again leaves a remote from which a
fresh clone pulls data with identical content hashes."""

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_ENV, run
from servers import s3_env, s3_keys, s3_server
from workflow_runs import generated_repository

pytestmark = pytest.mark.slow

BUCKET = "data"
FILES = 300  # of 100 kB each: enough objects that a push can be caught halfway


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A generated repository and the environment that reaches the S3 server, as a team's
    machine with credentials and `AWS_ENDPOINT_URL_S3` set would."""
    root = tmp_path_factory.mktemp("s3")
    project = generated_repository(root)
    with s3_server(BUCKET, root) as endpoint:
        yield project, s3_env(endpoint)


def dvc(project: Path, env: dict[str, str], *args: str) -> str:
    assignments = [f"{name}={value}" for name, value in env.items()]
    return run(project, "env", *assignments, "uv", "run", "--frozen", "dvc", *args).stdout


def test_a_push_killed_midway_resumes_and_a_fresh_clone_pulls_identical_data(
    s3: tuple[Path, dict[str, str]],
) -> None:
    project, env = s3
    endpoint = env["AWS_ENDPOINT_URL_S3"]
    # given the project's default remote moved to S3, and a dataset of many files
    dvc(project, env, "remote", "add", "--default", "s3", f"s3://{BUCKET}/{project.name}")
    images = project / "data" / "images"
    images.mkdir()
    for number in range(FILES):
        (images / f"{number:04}.bin").write_bytes(os.urandom(100_000))
    dvc(project, env, "add", "data/images")
    run(project, "git", "add", "--all")
    run(project, "git", "commit", "--quiet", "--message", "Keep the data on S3")
    expected = {path.name: md5(path) for path in sorted(images.iterdir())}
    expected_raw = md5(project / "data" / "raw" / "adult.csv")

    # when a push is killed once part of the data is stored
    push = subprocess.Popen(
        ["uv", "run", "--frozen", "dvc", "push"],
        cwd=project,
        env={**PROJECT_ENV, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # uv and dvc in one process group, killed together
    )
    deadline = time.monotonic() + 120
    while push.poll() is None and time.monotonic() < deadline:
        if len(s3_keys(endpoint, BUCKET)) >= 30:
            break
        time.sleep(0.2)
    os.killpg(push.pid, signal.SIGKILL)
    push.wait(timeout=30)
    stored_when_killed = len(s3_keys(endpoint, BUCKET))
    cache = project / ".dvc" / "cache" / "files" / "md5"
    total = sum(1 for path in cache.rglob("*") if path.is_file())  # every object a push sends

    # and the push is run again
    again = dvc(project, env, "push")

    # then the first push had stopped midway, the second stored the rest
    assert 0 < stored_when_killed < total, f"not killed midway: {stored_when_killed} of {total}"
    assert "pushed" in again and len(s3_keys(endpoint, BUCKET)) == total
    # and a fresh clone pulls every file back with the same content
    clone = project.parent / "fresh-clone"
    run(project.parent, "git", "clone", "--quiet", str(project), clone.name)
    tracked = [str(path.relative_to(clone)) for path in sorted(clone.glob("data/**/*.dvc"))]
    dvc(clone, env, "pull", *tracked)  # the data; the untrained pipeline has no outputs yet
    assert {path.name: md5(path) for path in sorted((clone / "data/images").iterdir())} == expected
    assert md5(clone / "data" / "raw" / "adult.csv") == expected_raw
    pointer = yaml.safe_load((clone / "data" / "raw" / "adult.csv.dvc").read_text())
    assert pointer["outs"][0]["md5"] == expected_raw, "the pulled data is not the version git names"
    assert "are in sync" in dvc(clone, env, "status", "--cloud", *tracked)
