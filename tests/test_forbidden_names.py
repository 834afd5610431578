"""The names the pre-generation hook refuses for a package are the ones derived today: the
standard library of every supported Python and the import names of every package in the
generated lock (scripts/forbidden_names.py writes them into the hook; `make relock` runs it)."""

import importlib.util
import tomllib
from types import ModuleType

from conftest import TEMPLATE

LOCK = TEMPLATE / "{{cookiecutter.project_slug}}" / "uv.lock"


def load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.replace("/", "_")[:-3], TEMPLATE / path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_hook_knows_every_package_of_the_generated_lock() -> None:
    # given every package the generated lock pins, transitive ones included
    packages = tomllib.loads(LOCK.read_text())["package"]
    locked = {f"{p['name']}=={p['version']}" for p in packages if "cookiecutter" not in p["name"]}

    # then the hook's names were derived from exactly those (a quick check; the next recomputes)
    derived = set(load("hooks/pre_gen_project.py").LOCKED_IMPORTS)
    assert derived == locked, (
        f"the lock moved without the hook: missing {sorted(locked - derived)}, "
        f"gone {sorted(derived - locked)}; run `make relock`"
    )


def test_the_hook_holds_the_names_derived_now() -> None:
    # given the names derived again: each supported Python's standard library, and each locked
    # package installed (without dependencies) for a Python and platform its markers select
    script = load("scripts/forbidden_names.py")

    # then the hook's block is exactly what the script would write
    assert script.current_block() == script.computed_block(), "stale: run `make relock`"
