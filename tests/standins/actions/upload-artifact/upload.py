"""The upload-artifact stand-in's copy: GitHub's layout (the least common ancestor of the search
paths is the artifact's root), its `if-no-files-found` rule, and no globbing (no workflow here
uses it)."""

import os
import shutil
import sys
from pathlib import Path

paths = [Path(line.strip()) for line in os.environ["ARTIFACT_PATHS"].splitlines() if line.strip()]
found = [path.resolve() for path in paths if path.exists()]
missing = [str(path) for path in paths if not path.exists()]
if missing and os.environ["IF_NO_FILES_FOUND"] == "error":
    print(f"::error::artifact path {', '.join(missing)} not found")
    sys.exit(1)
if not found:
    sys.exit(0)
roots = [path if path.is_dir() else path.parent for path in found]
root = Path(os.path.commonpath(roots))
target = Path(os.environ["STANDIN_ARTIFACTS"]) / os.environ["NAME"]
for path in found:
    destination = target / path.relative_to(root)
    if path.is_dir():
        shutil.copytree(path, destination, dirs_exist_ok=True)
    else:
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
