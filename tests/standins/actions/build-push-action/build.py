"""What the build-push stand-in does: check the Dockerfile's context, record what goes into the
image (the md5 of every file copied from the context), and return a digest derived from it all."""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

context = Path(os.environ["CONTEXT"])
# Sources of `COPY` lines that read the build context (not `COPY --from=<stage>`).
copies = re.findall(r"^COPY\s+(?!--from)(.+)\s+\S+$", (context / "Dockerfile").read_text(), re.M)
missing = [src for line in copies for src in line.split() if not (context / src).exists()]
if missing:
    print(f"::error::the build context lacks {', '.join(missing)}", file=sys.stderr)
    sys.exit(1)
copied = [
    path for line in copies for src in line.split()
    for path in ([context / src] if (context / src).is_file() else (context / src).rglob("*"))
]  # fmt: skip
record = {
    "files": {
        path.relative_to(context).as_posix(): hashlib.md5(path.read_bytes()).hexdigest()
        for path in sorted(copied)
        if path.is_file()
    },
    "tags": [tag for tag in os.environ["TAGS"].split() if tag],
    "push": os.environ["PUSH"] == "true",
    "build_args": dict(
        line.split("=", 1) for line in os.environ["BUILD_ARGS"].splitlines() if "=" in line
    ),
}
to_github = record["push"] and any(tag.startswith("ghcr.io/") for tag in record["tags"])
if to_github and subprocess.run(["standin-permission", "packages", "write"]).returncode:
    sys.exit(1)  # GitHub's registry: "denied: installation not allowed to Write"
digest = "sha256:" + hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
record["digest"] = digest
with Path(os.environ["STANDIN_LOG"], "docker.jsonl").open("a", encoding="utf-8") as log:
    log.write(json.dumps(record) + "\n")
with Path(os.environ["GITHUB_OUTPUT"]).open("a", encoding="utf-8") as outputs:
    outputs.write(f"digest={digest}\n")
