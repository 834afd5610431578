"""Derive the names a generated project's package may not take, and write them into the
pre-generation hook.

Usage: python scripts/forbidden_names.py [--check]
(`make relock` runs it after re-resolving the lock; `--check` only says whether the hook is
current, and exits 1 if not).

A package named like a module its Python or its dependencies already provide shadows that
module, and the project's CLI fails to import. The names are derived, never kept by hand:

- the standard library's module names (`sys.stdlib_module_names`) of every Python the prompt
  offers (the list in cookiecutter.json), asked of each interpreter: they differ between
  versions (`cgi`, `imp` and `distutils` are in 3.11, not in 3.13). uv finds the interpreters
  as the project's own tests do, from a directory whose `.python-version` names the version;
- the import names of every package in the generated `uv.lock`, transitive ones included
  (`joblib`, `typing_extensions`, `setuptools`): `uv export` lists each locked package with its
  markers; each is installed without its dependencies under a scratch prefix for the first
  supported Python and platform (Linux, macOS, Windows) whose markers select it, from uv's
  cache when it has the wheel; and the names it makes importable are read from its `RECORD`:
  the packages and modules at the root of site-packages, and in the directories its `.pth`
  files put on `sys.path` (as pywin32's do). `top_level.txt` is not used: it is missing from
  many wheels, and pywin32's names subpackages that are not importable on their own.

Only names `package_name` could take (lowercase identifiers) are kept. They are written as
Python literals between the BEGIN/END markers of `hooks/pre_gen_project.py`: cookiecutter runs
a hook as a rendered copy in a temporary directory, from which no other file of the template is
reachable (and a template cloned by cruft or from a URL is nowhere the hook could know), so the
hook carries its data. The lock's packages are keys (`name==version`), so a test sees at once
when the lock moved without this being run; tests/test_forbidden_names.py also recomputes all.
"""

import json
import re
import subprocess
import sys
import tempfile
import textwrap
from importlib.metadata import distributions
from pathlib import Path, PurePosixPath

from cookiecutter.main import cookiecutter
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

TEMPLATE = Path(__file__).resolve().parents[1]
HOOK = TEMPLATE / "hooks" / "pre_gen_project.py"
BEGIN = "# BEGIN FORBIDDEN NAMES"
END = "# END FORBIDDEN NAMES"
CHOOSABLE = re.compile(r"[a-z][a-z0-9_]*")  # what the hook accepts as package_name
MODULE_SUFFIXES = (".py", ".pyc", ".so", ".pyd")
# uv's --python-platform for each platform, with the environment markers it implies.
PLATFORMS = {
    "x86_64-manylinux_2_28": {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": "x86_64",
    },
    "aarch64-apple-darwin": {
        "sys_platform": "darwin",
        "platform_system": "Darwin",
        "os_name": "posix",
        "platform_machine": "arm64",
    },
    "x86_64-pc-windows-msvc": {
        "sys_platform": "win32",
        "platform_system": "Windows",
        "os_name": "nt",
        "platform_machine": "AMD64",
    },
}
EXPORT_FORMAT = ("--no-emit-project", "--no-hashes", "--no-header", "--no-annotate")
CPYTHON = {"implementation_name": "cpython", "platform_python_implementation": "CPython"}


def supported_pythons() -> list[str]:
    return list(json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"])


def stdlib_modules(version: str) -> set[str]:
    """`sys.stdlib_module_names` of the installed Python `version`."""
    with tempfile.TemporaryDirectory() as scratch:
        # pyenv's shims, like uv, pick the version a directory's .python-version names
        (Path(scratch) / ".python-version").write_text(f"{version}\n")
        found = subprocess.run(
            ["uv", "python", "find", version], cwd=scratch, capture_output=True, text=True
        )
        if found.returncode != 0:
            raise SystemExit(
                f"no Python {version} found: install it where uv looks (e.g. `uv python "
                f"install {version}` or `pyenv install {version}`)"
            )
        names = subprocess.run(
            [found.stdout.strip(), "-c", "import sys; print(*sys.stdlib_module_names)"],
            cwd=scratch,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    return set(names)


def locked_requirements() -> list[Requirement]:
    """Every package of the generated lock, pinned, with the markers that select it."""
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(
            cookiecutter(str(TEMPLATE), no_input=True, output_dir=scratch, accept_hooks=False)
        )
        exported = subprocess.run(
            ["uv", "export", "--frozen", "--all-groups", "--all-extras", *EXPORT_FORMAT],
            cwd=project,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return [Requirement(line) for line in exported.splitlines() if line.strip()]


def installed_for(requirement: Requirement, pythons: list[str]) -> tuple[str, str]:
    """The first supported Python and platform whose markers select `requirement`."""
    for version in pythons:
        for platform, markers in PLATFORMS.items():
            environment = {**markers, **CPYTHON, "python_version": version}
            environment["python_full_version"] = f"{version}.0"
            if requirement.marker is None or requirement.marker.evaluate(environment):
                return version, platform
    raise SystemExit(f"{requirement} is installed for no supported Python and platform")


def top_level_names(site_packages: Path) -> dict[str, set[str]]:
    """`name==version` of each distribution under `site_packages` -> the names it makes
    importable: the packages (namespace packages too, which dependencies import through, like
    protobuf's `google`) and modules at the root of site-packages, and the modules and regular
    packages in the directories its `.pth` files add to `sys.path` (pywin32's `win32/lib`, for
    `win32con`), whose other folders no import goes through."""
    found: dict[str, set[str]] = {}
    for dist in distributions(path=[str(site_packages)]):
        files = {PurePosixPath(file) for file in dist.files or []}
        roots = [PurePosixPath()]
        for pth in (file for file in files if len(file.parts) == 1 and file.suffix == ".pth"):
            for line in (site_packages / pth).read_text().splitlines():
                if line.strip() and not line.startswith(("#", "import ", "import\t")):
                    roots.append(PurePosixPath(line.strip().replace("\\", "/")))
        names = set()
        for file in files:
            for root in roots:
                if file.parts[: len(root.parts)] != root.parts:
                    continue
                top, *rest = file.parts[len(root.parts) :] or ("",)
                if top == ".." or top.endswith((".dist-info", ".data")):
                    continue  # scripts and data outside site-packages, and metadata
                if rest and (not root.parts or root / top / "__init__.py" in files):
                    names.add(top)  # a package
                elif top.endswith(MODULE_SUFFIXES):
                    names.add(top.partition(".")[0])  # six.py, _cffi_backend.cpython-311-...so
        found[f"{canonicalize_name(dist.metadata['Name'])}=={dist.version}"] = names
    return found


def locked_imports() -> dict[str, tuple[str, ...]]:
    """Each locked package (`name==version`) -> the import names package_name could take."""
    requirements = locked_requirements()
    pythons = supported_pythons()
    groups: dict[tuple[str, str], list[str]] = {}
    for requirement in requirements:
        groups.setdefault(installed_for(requirement, pythons), []).append(
            f"{requirement.name}{requirement.specifier}"
        )
    found: dict[str, set[str]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for index, ((version, platform), pins) in enumerate(sorted(groups.items())):
            prefix = Path(scratch) / str(index)
            target = ("--prefix", str(prefix), "--python-version", version)
            install = ("uv", "pip", "install", "--quiet", "--no-deps", "--python-platform")
            subprocess.run([*install, platform, *target, *pins], check=True)
            for site_packages in prefix.glob("**/site-packages"):
                found |= top_level_names(site_packages)
    expected = {
        f"{canonicalize_name(r.name)}=={next(iter(r.specifier)).version}" for r in requirements
    }
    if set(found) != expected:
        raise SystemExit(
            f"installed packages differ from the lock's: missing {sorted(expected - set(found))}, "
            f"unexpected {sorted(set(found) - expected)}"
        )
    return {
        key: tuple(sorted(name for name in names if CHOOSABLE.fullmatch(name)))
        for key, names in sorted(found.items())
    }


def quoted(names: list[str] | tuple[str, ...], indent: int) -> str:
    """Names as double-quoted literals, comma-separated and wrapped within 100 columns."""
    return textwrap.fill(
        ", ".join(f'"{name}"' for name in names),
        width=100,
        initial_indent=" " * indent,
        subsequent_indent=" " * indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def block(stdlib: set[str], imports: dict[str, tuple[str, ...]]) -> str:
    """The hook's generated data, between its markers."""
    entries = []
    for key, names in imports.items():
        one_line = f'    "{key}": ({quoted(names, 0)}{"," if len(names) == 1 else ""}),'
        if len(one_line) <= 100:
            entries.append(one_line)
        else:
            entries.append(f'    "{key}": (\n{quoted(names, 8)},\n    ),')
    standard = sorted(name for name in stdlib if CHOOSABLE.fullmatch(name))
    return "\n".join(
        [
            f"{BEGIN}: written by scripts/forbidden_names.py (`make relock`); do not edit.",
            "# fmt: off",
            f"# sys.stdlib_module_names of Python {', '.join(supported_pythons())}, together.",
            "STDLIB_MODULES = frozenset({",
            quoted(standard, 4),
            "})",
            "# The generated uv.lock's packages, with the import names each installs.",
            "LOCKED_IMPORTS: dict[str, tuple[str, ...]] = {",
            *entries,
            "}",
            "# fmt: on",
            END,
        ]
    )


def current_block() -> str:
    hook = HOOK.read_text()
    return hook[hook.index(BEGIN) : hook.index(END) + len(END)]


def computed_block() -> str:
    stdlib = set().union(*(stdlib_modules(version) for version in supported_pythons()))
    return block(stdlib, locked_imports())


def main(args: list[str]) -> int:
    computed = computed_block()
    if args == ["--check"]:
        if computed != current_block():
            print(f"{HOOK.relative_to(TEMPLATE)} is stale: run `make relock`", file=sys.stderr)
            return 1
        return 0
    HOOK.write_text(HOOK.read_text().replace(current_block(), computed))
    print(f"Updated the forbidden names in {HOOK.relative_to(TEMPLATE)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
