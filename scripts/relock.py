"""Re-resolve the generated project's uv.lock after editing its pyproject.toml.

Usage: python scripts/relock.py [uv lock options, e.g. --upgrade-package mlflow]
(what `make relock` runs). The lock is resolved in a freshly rendered project and copied back
with the project name turned into the template variable again.
"""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
LOCK = TEMPLATE / "{{cookiecutter.project_slug}}" / "uv.lock"


def main(uv_args: list[str]) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(
            cookiecutter(str(TEMPLATE), no_input=True, output_dir=scratch, accept_hooks=False)
        )
        subprocess.run(["uv", "lock", *uv_args], cwd=project, check=True)
        root = f'name = "{project.name}"'
        locked = (project / "uv.lock").read_text()
        assert locked.count(f"\n{root}\n") == 1, "the project's own entry is not unique"
        LOCK.write_text(
            re.sub(
                rf"^{re.escape(root)}$",
                'name = "{{ cookiecutter.project_slug }}"',
                locked,
                flags=re.MULTILINE,
            )
        )
    print(f"Updated {LOCK.relative_to(TEMPLATE)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
