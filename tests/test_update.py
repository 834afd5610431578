"""The update path: a repository made from this template at commit A receives a change the
template made at commit B through `cruft update`, as a diff, with the user's own edits kept or
reported as conflicts, and without the post-generation hook's one-time set-up running again.

The template is this working tree, committed as A into a repository of its own (cruft clones
its template with git). One repository is made per way of making one (`cruft create`, plain
`cookiecutter`, and `cookiecutter` from a folder that is not a git checkout, then `cruft link`),
all at A before B exists; each test updates a copy.

Whether the hook set anything up is seen, not inferred: `git` and `uv` are reached through
PATH shims that log their arguments and run the real program. The hook's DVC runs through uv and
its repository through `git init` and `git commit`; cruft itself calls neither `uv`, `init` nor
`commit`. The log of the creations shows the shims see the hook when it does set up.
"""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PROJECT_ENV, TEMPLATE, run

pytestmark = pytest.mark.slow

SLUG = "income-classifier"
README = "{{cookiecutter.project_slug}}/README.md"
# The line of the generated README that the template changes at B, and what it becomes.
LINE = "## Updating from the template"
CHANGED = "## Updating from the template (revised at B)"
DATA = Path("data/raw/adult.csv")  # the default (binary) task's
SPY = """#!/bin/sh
printf '%s\\n' "$(basename "$0") $*" >> "{log}"
exec "{real}" "$@"
"""


@dataclass
class Template:
    path: Path
    a: str  # the commit the repositories were made from
    b: str  # the commit that changes LINE of the generated README


@dataclass
class Spy:
    """PATH with logging shims for git and uv in front."""

    folder: Path

    @property
    def log(self) -> Path:
        return self.folder / "calls.log"

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def env(self) -> dict[str, str]:
        return PROJECT_ENV | {"PATH": f"{self.folder}{os.pathsep}{PROJECT_ENV['PATH']}"}


def make_spy(folder: Path) -> Spy:
    folder.mkdir()
    for tool in ("git", "uv"):
        real = shutil.which(tool, path=PROJECT_ENV["PATH"])
        assert real, f"{tool} is not on PATH"
        shim = folder / tool
        shim.write_text(SPY.format(log=folder / "calls.log", real=real))
        shim.chmod(0o755)
    return Spy(folder)


def hook_set_up(calls: list[str]) -> list[str]:
    """The calls that only the hook's one-time set-up makes."""
    return [call for call in calls if call.startswith(("uv ", "git init", "git commit"))]


def tool(*command: str, cwd: Path, env: dict[str, str] | None = None, check: bool = True):
    completed = subprocess.run(
        command, cwd=cwd, env=env or PROJECT_ENV, capture_output=True, text=True, timeout=600
    )
    if check and completed.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` exited {completed.returncode} in {cwd}\n"
            f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
        )
    return completed


def cruft(*args: str, cwd: Path, env: dict[str, str] | None = None, check: bool = True):
    return tool(sys.executable, "-m", "cruft", *args, cwd=cwd, env=env, check=check)


def copy_working_tree(destination: Path) -> None:
    """This template's files as they are on disk, uncommitted changes included."""
    listed = run(TEMPLATE, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.stdout.split("\0")):
        source, target = TEMPLATE / name, destination / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted, not committed yet
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(source.readlink())
        else:
            shutil.copy2(source, target)


def commit(repository: Path, message: str) -> str:
    run(repository, "git", "add", "--all")
    run(repository, "git", "commit", "--quiet", "--no-verify", "--message", message)
    return run(repository, "git", "rev-parse", "HEAD").stdout.strip()


def status(project: Path) -> set[str]:
    return set(run(project, "git", "status", "--porcelain").stdout.splitlines())


@dataclass
class Made:
    projects: dict[str, Path]  # how it was made -> the repository, at A
    template: Template
    creation: list[str]  # the shims' log while the repositories were made
    unlinked_warning: str  # what cookiecutter printed for a template that is not a checkout


MADE_BY = ("cruft create", "cookiecutter", "cookiecutter, then cruft link")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    root = tmp_path_factory.mktemp("update")
    template = root / "template"
    copy_working_tree(template)
    run(template, "git", "init", "--quiet", "--initial-branch=main")
    a = commit(template, "A")
    spy = make_spy(root / "spy")

    projects = {}
    # free text that JSON escapes: the hook's .cruft.json must still be cruft's, byte for byte
    answers = json.dumps({"description": 'Says "hi" \\ 🚀 Zoë\non two lines'})
    create = ("create", str(template), "--no-input", "--extra-context", answers)
    cruft(*create, "--output-dir", "created", cwd=root, env=spy.env())
    projects["cruft create"] = root / "created" / SLUG
    baked = [sys.executable, "-m", "cookiecutter", "--no-input", str(template), "-o", "baked"]
    tool(*baked, cwd=root, env=spy.env())
    projects["cookiecutter"] = root / "baked" / SLUG
    # a template that is not a git checkout (a downloaded archive): no commit to record
    archive = root / "archive"
    shutil.copytree(template, archive, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    unlinked = tool(sys.executable, "-m", "cookiecutter", "--no-input", str(archive), cwd=root)
    linked = root / SLUG
    assert not (linked / ".cruft.json").exists(), "answers recorded without a template commit"
    cruft("link", str(template), "--checkout", a, "--no-input", cwd=linked)
    commit(linked, "Link to the template")
    projects["cookiecutter, then cruft link"] = linked

    readme = template / README
    text = readme.read_text()
    assert f"\n{LINE}\n" in text, f"the generated README has no line {LINE!r}"
    readme.write_text(text.replace(f"\n{LINE}\n", f"\n{CHANGED}\n"))
    # and the task's data, which a repository's DVC owns: no update may touch it
    data = template / "{{cookiecutter.project_slug}}/tasks/binary/data/raw" / DATA.name
    with data.open("a") as table:
        table.write(data.read_text().splitlines()[-1] + "\n")
    b = commit(template, "B: a line of the generated README, a row of the data")
    return Made(projects, Template(template, a, b), spy.calls(), unlinked.stderr)


@pytest.fixture
def copy_of(made: Made, tmp_path: Path):
    """A copy of a repository made at A, for a test to update."""

    def copy(made_by: str) -> Path:
        project = tmp_path / SLUG
        shutil.copytree(made.projects[made_by], project, symlinks=True)
        return project

    return copy


@pytest.mark.parametrize("made_by", MADE_BY[:2])
def test_a_new_repository_is_clean_with_one_commit(made: Made, made_by: str) -> None:
    project = made.projects[made_by]
    assert status(project) == set(), f"{made_by} left changes in the new repository"
    assert run(project, "git", "rev-list", "--count", "HEAD").stdout.strip() == "1"
    recorded = json.loads((project / ".cruft.json").read_text())
    assert (recorded["template"], recorded["commit"]) == (str(made.template.path), made.template.a)


def test_the_shims_see_the_hook_set_up_a_repository(made: Made) -> None:
    # the negative checks below mean something only if the shims see a set-up when there is one
    set_up = hook_set_up(made.creation)
    assert sum(call.startswith("git init") for call in set_up) == 2, made.creation
    assert sum(call.startswith("uv tool run") for call in set_up) == 2, made.creation


def test_a_template_that_is_not_a_checkout_says_to_link(made: Made) -> None:
    assert "no .cruft.json" in made.unlinked_warning
    assert "uvx cruft@2.16.0 link <template-url> --checkout <commit>" in made.unlinked_warning


@pytest.mark.parametrize("made_by", MADE_BY)
def test_a_new_repository_is_what_its_template_renders(made: Made, made_by: str) -> None:
    # cruft diff renders the recorded commit the way an update does: the same files, no more
    completed = cruft("diff", "--exit-code", cwd=made.projects[made_by], check=False)
    assert (completed.returncode, completed.stdout) == (0, ""), completed.stdout[-4000:]


@pytest.mark.parametrize("made_by", MADE_BY)
def test_update_applies_the_template_change(made: Made, made_by: str, copy_of, tmp_path) -> None:
    project = copy_of(made_by)
    assert cruft("check", cwd=project, check=False).returncode == 1, "A is up to date with B"
    spy = make_spy(tmp_path / "spy")
    commits = run(project, "git", "rev-list", "--count", "HEAD").stdout
    data = (project / DATA).read_bytes()

    completed = cruft("update", "-y", cwd=project, env=spy.env())

    assert f"\n{CHANGED}\n" in (project / "README.md").read_text(), completed.stdout
    assert status(project) == {"M  README.md", " M .cruft.json"}, "more than the update changed"
    assert json.loads((project / ".cruft.json").read_text())["commit"] == made.template.b
    assert not list(project.rglob("*.rej"))
    assert (project / DATA).read_bytes() == data, "the update changed the repository's data"
    assert hook_set_up(spy.calls()) == [], "the hook set up a repository inside the update"
    assert sorted(tmp_path.iterdir()) == sorted([project, spy.folder]), "left beside the project"
    assert run(project, "git", "rev-list", "--count", "HEAD").stdout == commits, "a commit made"
    assert cruft("check", cwd=project, check=False).returncode == 0, "still out of date"


def test_a_user_edit_on_another_line_is_kept(made: Made, copy_of) -> None:
    project = copy_of("cruft create")
    readme = project / "README.md"
    first, rest = readme.read_text().split("\n", 1)
    readme.write_text(f"{first} (our fork)\n{rest}")
    commit(project, "Our title")

    cruft("update", "-y", cwd=project)

    text = readme.read_text()
    assert text.startswith(f"{first} (our fork)\n"), "the user's edit was lost"
    assert f"\n{CHANGED}\n" in text, "the template's change was not applied"
    assert status(project) == {"M  README.md", " M .cruft.json"}
    assert not list(project.rglob("*.rej"))


def test_a_user_edit_on_the_same_line_is_a_reported_conflict(made: Made, copy_of) -> None:
    project = copy_of("cruft create")
    readme = project / "README.md"
    readme.write_text(readme.read_text().replace(f"\n{LINE}\n", "\n## Keeping up with upstream\n"))
    commit(project, "Our heading")

    completed = cruft("update", "-y", cwd=project)

    # cruft applies with git's three-way merge: markers in the file, the path unmerged
    assert "Applied patch to 'README.md' with conflicts." in completed.stderr
    assert "Good work!" in completed.stdout  # cruft's success line all the same (README)
    assert "UU README.md" in status(project)
    text = readme.read_text()
    conflict = f"<<<<<<< ours\n## Keeping up with upstream\n=======\n{CHANGED}\n>>>>>>> theirs"
    assert conflict in text, "the conflict is not shown in the file"


def test_cruft_create_with_a_checkout_leaves_only_that_reference_to_commit(
    made: Made, tmp_path: Path
) -> None:
    # the one thing the hook cannot see (README): cruft records --checkout after the hook
    create = ("create", str(made.template.path), "--no-input", "--checkout", made.template.a)
    cruft(*create, "--output-dir", str(tmp_path), cwd=tmp_path)
    project = tmp_path / SLUG

    assert status(project) == {" M .cruft.json"}
    diff = run(project, "git", "diff", "--unified=0", ".cruft.json").stdout
    lines = diff.splitlines()
    changed = [line for line in lines if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ['-  "checkout": null,', f'+  "checkout": "{made.template.a}",'], diff
