"""Jinja filters for this template, loaded through `_extensions` in cookiecutter.json.

cookiecutter puts the template's directory on `sys.path` while it prompts and renders (cruft
too, since 2.15), which is how this module is found.

`toml_string` exists because Jinja's `tojson` escapes every non-ASCII character, and a character
beyond the Basic Multilingual Plane (an emoji) becomes a JSON surrogate pair such as
`\\ud83d\\ude80`, which TOML rejects: free text in `pyproject.toml` goes through it instead.

`checked_answers` validates the answers as soon as they are given: cookiecutter.json's private
variable `__answers_checked`, rendered after every prompt, passes them through it. Without it
the pre-generation hook would be the first to see them, but cookiecutter creates the project's
directory, named after the slug, before it runs that hook: an empty slug got "directory already
exists" and a 300-character one an OSError traceback. The checks are the hook's own
(hooks/pre_gen_project.py, imported unrendered). A rejection ends generation as a hook
script's exit would, as SystemExit with our one line: cookiecutter's command line and cruft's
both print just that line and exit with 1 (cruft shows any other exception, cookiecutter's
FailedHookException included, with a traceback); API callers can catch AnswerRejected.
"""

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from jinja2 import Environment
from jinja2.ext import Extension

PRE_GEN_HOOK = Path(__file__).resolve().parent / "hooks" / "pre_gen_project.py"


class AnswerRejected(SystemExit):
    """An answer the pre-generation hook's checks refuse, said in one line."""


def toml_string(value: str) -> str:
    """`value` as a TOML basic string: UTF-8 kept as it is, quotes, backslashes and control
    characters escaped (the only characters a basic string may not hold raw)."""
    escaped = []
    for char in value:
        if char in '"\\':
            escaped.append(f"\\{char}")
        elif char < " " or char == "\x7f":
            escaped.append(f"\\u{ord(char):04X}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def pre_gen_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pre_gen_project_checks", PRE_GEN_HOOK)
    assert spec and spec.loader, f"cannot load {PRE_GEN_HOOK}"
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    return hook


def checked_answers(answers: Mapping[str, object]) -> str:
    """Raise AnswerRejected for the first bad answer; the rendered variable says "yes"."""
    hook = pre_gen_hook()
    try:
        hook.validate(dict(answers))
    except hook.Rejected as rejected:
        raise AnswerRejected(f"ERROR: {rejected}") from None
    return "yes"


class TemplateFilters(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["toml_string"] = toml_string
        environment.filters["checked_answers"] = checked_answers
