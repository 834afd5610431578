"""dvc.yaml reruns a stage whenever code it runs changes: each stage's deps name every module
of the package its command executes, the CLI and what the command imports, transitively.

The imports are read from the source (ast), lazy ones inside functions included, since a
stage's command imports what it needs when it runs.
"""

import ast
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

PACKAGE = "{{ cookiecutter.package_name }}"
SOURCE = ROOT / "src" / PACKAGE
STAGES: dict[str, dict[str, object]] = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def package_imports(tree: ast.AST) -> set[str]:
    """The modules of this package that `tree` imports anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == PACKAGE:  # from <package> import data, tracking
                found |= {alias.name for alias in node.names}
            elif node.module.startswith(f"{PACKAGE}."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {
                alias.name.split(".")[1]
                for alias in node.names
                if alias.name.startswith(f"{PACKAGE}.")
            }
    return {name for name in found if (SOURCE / f"{name}.py").is_file()}


def command(tree: ast.Module, name: str) -> ast.FunctionDef:
    """The function behind `<cli> name`: `@app.command()` or `@app.command("name")`."""
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "app.command":
                named = decorator.args[0] if decorator.args else None
                called = named.value if isinstance(named, ast.Constant) else node.name
                if called == name:
                    return node
    raise AssertionError(f"no command {name!r} in cli.py")


def executed_modules(stage: str) -> set[str]:
    """cli, and every module the stage's command imports, and those they import."""
    cmd = str(STAGES[stage]["cmd"]).split()
    cli = ast.parse((SOURCE / "cli.py").read_text(encoding="utf-8"))
    top_level = ast.Module(
        body=[node for node in cli.body if isinstance(node, (ast.Import, ast.ImportFrom))],
        type_ignores=[],
    )
    pending = package_imports(top_level) | package_imports(command(cli, cmd[1]))
    seen = {"cli"}
    while pending:
        module = pending.pop()
        if module not in seen:
            seen.add(module)
            pending |= package_imports(ast.parse((SOURCE / f"{module}.py").read_text()))
    return seen


def declared(stage: str) -> set[str]:
    deps = STAGES[stage].get("deps", [])
    assert isinstance(deps, list)
    return {str(dep).rstrip("/") for dep in deps}


@pytest.mark.parametrize("stage", list(STAGES))
def test_each_stage_depends_on_every_module_its_command_runs(stage: str) -> None:
    modules = executed_modules(stage)
    wanted = {f"src/{PACKAGE}/{module}.py" for module in modules}
    if ast.parse((SOURCE / "__init__.py").read_text()).body[1:]:  # more than its docstring
        wanted.add(f"src/{PACKAGE}/__init__.py")

    missing = {path for path in wanted if path not in declared(stage)}

    assert f"src/{PACKAGE}/settings.py" in wanted, "the walk found not even the settings"
    assert not missing, f"dvc.yaml's {stage} stage does not list {sorted(missing)}"


def test_the_walk_follows_imports_inside_functions_and_modules() -> None:
    # train's command imports the train module lazily, which imports tracking at the top
    assert {"cli", "settings", "train", "tracking"} <= executed_modules("train")
    assert not Path(SOURCE / "serve.py").exists() or "serve" not in executed_modules("prepare")
