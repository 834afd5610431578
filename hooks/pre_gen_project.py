"""Reject a bad answer before anything is generated, with one line saying what would be accepted.

Answers are read as data (JSON through `tojson`), never pasted into code, so quotes, newlines
and injection attempts are just strings here.
"""

import json
import keyword
import re
import sys

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")
TASKS = ("binary", "multiclass", "regression")
LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause", "Proprietary")
SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
PACKAGE = re.compile(r"[a-z][a-z0-9_]*")
EMAIL = re.compile(r"[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+")
MAX_SLUG = 64
MAX_LINE = 120
MAX_DESCRIPTION = 500

# Import names of the generated project's direct dependencies: a package named like one of
# them would shadow it. tests/test_hooks.py checks this list against the generated lock.
DEPENDENCY_IMPORTS = frozenset(
    {
        "conftest", "dvc", "dvc_s3", "evidently", "fastapi", "httpx", "matplotlib", "mpl_toolkits",
        "mlflow", "mypy", "mypyc", "numpy", "pandas", "pandera", "pre_commit",
        "pre_commit_hooks", "py", "pydantic", "pylab", "pytest", "ruamel", "ruff", "sklearn",
        "tests", "typer", "uvicorn", "yaml",
    }
)  # fmt: skip


class Rejected(ValueError):
    """An answer that cannot generate a working repository."""


def check_slug(value: object) -> None:
    if not isinstance(value, str) or not SLUG.fullmatch(value) or len(value) > MAX_SLUG:
        raise Rejected(
            f"project_slug {value!r} is not a repository name: use lowercase letters, digits "
            f"and single hyphens, starting with a letter, at most {MAX_SLUG} characters "
            "(for example 'churn-model')"
        )


def check_package(value: object) -> None:
    if not isinstance(value, str) or not PACKAGE.fullmatch(value):
        raise Rejected(
            f"package_name {value!r} is not a Python package name: use lowercase letters, "
            "digits and underscores, starting with a letter (for example 'churn_model')"
        )
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        raise Rejected(f"package_name {value!r} is a Python keyword: choose another name")
    if value in sys.stdlib_module_names:
        raise Rejected(
            f"package_name {value!r} would shadow the standard library module of that name: "
            "choose another name"
        )
    if value in DEPENDENCY_IMPORTS:
        raise Rejected(
            f"package_name {value!r} would shadow the dependency imported as {value!r}: "
            "choose another name"
        )


def check_model_name(value: object) -> None:
    if not isinstance(value, str) or not SLUG.fullmatch(value) or len(value) > MAX_SLUG:
        raise Rejected(
            f"model_name {value!r} is not a registry name: use lowercase letters, digits and "
            f"single hyphens, starting with a letter, at most {MAX_SLUG} characters"
        )


def check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise Rejected(f"{name} {value!r} is not supported: choose one of {', '.join(allowed)}")


def check_line(name: str, value: object, limit: int = MAX_LINE) -> None:
    """A name is one printable line; quotes are fine, the generated files escape them."""
    if not isinstance(value, str) or not value.strip():
        raise Rejected(f"{name} is empty: give a non-empty value")
    if len(value) > limit:
        raise Rejected(f"{name} is {len(value)} characters long: at most {limit} are accepted")
    if not value.isprintable():
        raise Rejected(
            f"{name} {value!r} contains a newline or control character: give a single line"
        )


def check_description(value: object) -> None:
    """Free text: quotes and line breaks survive (joined into one line where metadata needs it)."""
    if not isinstance(value, str) or not value.strip():
        raise Rejected("description is empty: give a sentence about the project")
    if len(value) > MAX_DESCRIPTION:
        raise Rejected(
            f"description is {len(value)} characters long: at most {MAX_DESCRIPTION} are accepted"
        )
    if any(not char.isprintable() and char not in "\n\r\t" for char in value):
        raise Rejected("description contains control characters: use plain text")


def check_email(value: object) -> None:
    if not isinstance(value, str) or not EMAIL.fullmatch(value):
        raise Rejected(f"author_email {value!r} is not an email address (for example a@b.org)")


def validate(answers: dict[str, object]) -> None:
    check_line("project_name", answers["project_name"])
    check_slug(answers["project_slug"])
    check_package(answers["package_name"])
    check_description(answers["description"])
    check_line("author_name", answers["author_name"])
    check_email(answers["author_email"])
    check_choice("python_version", answers["python_version"], SUPPORTED_PYTHONS)
    check_model_name(answers["model_name"])
    check_choice("task", answers["task"], TASKS)
    check_choice("license", answers["license"], LICENSES)


def main() -> int:
    try:
        validate(ANSWERS)
    except Rejected as rejected:
        print(f"ERROR: {rejected}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
