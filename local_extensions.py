"""Jinja filters for this template, loaded through `_extensions` in cookiecutter.json.

cookiecutter puts the template's directory on `sys.path` while it prompts and renders (cruft
too, since 2.15), which is how this module is found.

`toml_string` exists because Jinja's `tojson` escapes every non-ASCII character, and a character
beyond the Basic Multilingual Plane (an emoji) becomes a JSON surrogate pair such as
`\\ud83d\\ude80`, which TOML rejects: free text in `pyproject.toml` goes through it instead.
"""

from jinja2 import Environment
from jinja2.ext import Extension


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


class TemplateFilters(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["toml_string"] = toml_string
