"""The generated Kubernetes manifests, rendered by real kustomize (the pinned kubectl in .tools):
the production overlay validates against the Kubernetes API schemas, runs exactly the image and
model version environments/production.yaml names, changes with that file and with nothing else,
and does not build before the first promotion. Flux's Kustomization deploys that overlay."""

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from conftest import TEMPLATE, bake, run

pytestmark = pytest.mark.slow

KUBECTL = TEMPLATE / ".tools" / "bin" / "kubectl"
OVERLAY = "deploy/k8s/overlays/production"
# kubectl's own minor version, and the newest the bundled schemas know: an API removed since
# would fail the second.
KUBERNETES_VERSIONS = ("1.34.0", kubernetes_validate.latest_version())
IMAGE = "ghcr.io/acme/income-classifier"
DIGEST = "sha256:" + "ab" * 32
NEXT_DIGEST = "sha256:" + "cd" * 32
LABEL = "mlops.local/model-version"
CONTAINER_IMAGE = ("Deployment", "spec.template.spec.containers.0.image")
MODEL_LABEL = ("Deployment", f"spec.template.metadata.labels.{LABEL}")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not KUBECTL.exists():
        pytest.fail(f"{KUBECTL} is missing: `make tools` installs it")
    return bake(tmp_path_factory.mktemp("k8s"))


def promote(project: Path, version: int, digest: str, image: str = IMAGE) -> None:
    """Name a version and its image in production.yaml, as a merged promotion leaves it."""
    path = project / "environments" / "production.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["model"]["version"] = version
    spec["image"] = {"name": image, "digest": digest}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def kustomize(project: Path, path: str = OVERLAY, check: bool = True) -> Any:
    # The overlay reads environments/, outside its directory, which kustomize refuses unless
    # told; Flux allows it (it restricts loading to the repository instead).
    return run(
        project,
        str(KUBECTL),
        "kustomize",
        "--load-restrictor",
        "LoadRestrictionsNone",
        path,
        check=check,
        timeout=60,
    )


def render(project: Path, path: str = OVERLAY) -> dict[str, dict[str, Any]]:
    """The rendered objects by kind (the overlay has one of each)."""
    documents = list(yaml.safe_load_all(kustomize(project, path).stdout))
    by_kind = {document["kind"]: document for document in documents}
    assert len(by_kind) == len(documents), "two objects of one kind: the tests need a key"
    return by_kind


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf of a document by its dotted path (list items by index)."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return {prefix: value}
    leaves: dict[str, Any] = {}
    for key, item in items:
        leaves |= flatten(item, f"{prefix}.{key}" if prefix else str(key))
    return leaves


def leaves(objects: dict[str, dict[str, Any]]) -> dict[tuple[str, str], Any]:
    return {
        (kind, path): value
        for kind, document in objects.items()
        for path, value in flatten(document).items()
    }


def test_the_production_overlay_renders_objects_the_kubernetes_api_accepts(
    project: Path,
) -> None:
    # given a promotion merged into production.yaml
    promote(project, 3, DIGEST)

    # when the overlay is built
    objects = render(project)

    # then it holds the serving objects, each valid for the API, and not the environment file
    assert sorted(objects) == ["Deployment", "HorizontalPodAutoscaler", "Service"]
    for document in objects.values():
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(document, version, strict=True)


def test_the_deployment_runs_what_production_yaml_names_hardened(project: Path) -> None:
    promote(project, 3, DIGEST)
    objects = render(project)
    deployment = objects["Deployment"]
    pod = deployment["spec"]["template"]
    [container] = pod["spec"]["containers"]
    dockerfile = (project / "Dockerfile").read_text()
    port = int(re.search(r'"--port", "(\d+)"', dockerfile)[1])
    user = int(re.search(r"^USER (\d+)$", dockerfile, re.MULTILINE)[1])

    # the image by digest, and the model version as a string label (a number is invalid)
    assert container["image"] == f"{IMAGE}@{DIGEST}"
    assert pod["metadata"]["labels"][LABEL] == "3"
    assert LABEL not in deployment["spec"]["selector"]["matchLabels"], "a new version can't roll"
    # probes on /health at the port the image listens on
    [named] = [p["containerPort"] for p in container["ports"] if p["name"] == "http"]
    assert named == port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    # requests (the autoscaler's base) and limits
    for bound in ("requests", "limits"):
        assert set(container["resources"][bound]) == {"cpu", "memory"}, bound
    # the image's non-root user, nothing writable, nothing to escalate to, no API token
    assert pod["spec"]["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": user,
        "runAsGroup": user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert "replicas" not in deployment["spec"], "a fixed count would fight the autoscaler"
    # the Service reaches these pods, and the autoscaler scales this Deployment on CPU
    service, autoscaler = objects["Service"], objects["HorizontalPodAutoscaler"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    [metric] = autoscaler["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"


def test_a_promotion_changes_the_image_digest_and_model_version_and_nothing_else(
    project: Path,
) -> None:
    # given production running version 3
    promote(project, 3, DIGEST)
    before = leaves(render(project))

    # when a promotion names version 4 and its image
    promote(project, 4, NEXT_DIGEST)
    after = leaves(render(project))

    # then exactly the container image and the version label differ
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    assert changed == {CONTAINER_IMAGE, MODEL_LABEL}
    assert after[CONTAINER_IMAGE] == f"{IMAGE}@{NEXT_DIGEST}" and after[MODEL_LABEL] == "4"


def test_before_the_first_promotion_the_overlay_does_not_build(project: Path) -> None:
    # given production.yaml as generated: no version, no image
    run(project, "git", "checkout", "--", "environments/production.yaml")
    spec = yaml.safe_load((project / "environments" / "production.yaml").read_text())
    assert spec["model"]["version"] is None and spec["image"]["digest"] is None

    # when the overlay is built
    built = kustomize(project, check=False)

    # then it fails, naming the field a promotion sets, and renders nothing Flux could apply
    assert built.returncode != 0 and not built.stdout
    assert "fieldPath `image.digest` is missing" in built.stderr, built.stderr
    assert "production" in built.stderr


def test_flux_deploys_the_production_overlay_from_the_source_the_readme_creates(
    project: Path,
) -> None:
    flux = yaml.safe_load((project / "deploy" / "k8s" / "flux" / "production.yaml").read_text())
    readme = (project / "README.md").read_text()
    [source] = re.findall(r"flux create source git (\S+) ", readme)
    [namespace] = re.findall(r"^kubectl create namespace (\S+)$", readme, re.MULTILINE)

    assert flux["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    assert flux["kind"] == "Kustomization"
    spec = flux["spec"]
    assert spec["sourceRef"] == {"kind": "GitRepository", "name": source}
    assert spec["targetNamespace"] == namespace
    assert spec["prune"] is True and spec["wait"] is True
    # the path Flux builds is the overlay, and it renders once a promotion is merged
    promote(project, 3, DIGEST)
    assert render(project, spec["path"]) == render(project, OVERLAY)
