"""The generated Kubernetes manifests, rendered by real kustomize (the pinned kubectl in .tools):
each overlay (staging, production) validates against the Kubernetes API schemas, runs exactly the
image and model version its environments/<env>.yaml names, changes with that file and with
nothing else, and does not build while the file names no image. Flux deploys each overlay."""

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from conftest import TEMPLATE, bake, run

pytestmark = pytest.mark.slow

KUBECTL = TEMPLATE / ".tools" / "bin" / "kubectl"
ENVIRONMENTS = ("staging", "production")
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


def overlay(environment: str) -> str:
    return f"deploy/k8s/overlays/{environment}"


def deploy(project: Path, environment: str, version: int, digest: str, image: str = IMAGE) -> None:
    """Name a version and its image in the environment's file, as a merged promotion leaves
    production.yaml and a release leaves staging.yaml on deploy/staging."""
    path = project / "environments" / f"{environment}.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["model"]["version"] = version
    spec["image"] = {"name": image, "digest": digest}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def kustomize(project: Path, path: str, check: bool = True) -> Any:
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


def render(project: Path, path: str) -> dict[str, dict[str, Any]]:
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


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_overlay_renders_objects_the_kubernetes_api_accepts(
    project: Path, environment: str
) -> None:
    # given a version and its image named in the environment's file
    deploy(project, environment, 3, DIGEST)

    # when the overlay is built
    objects = render(project, overlay(environment))

    # then it holds the serving objects, each valid for the API, and not the environment file
    assert sorted(objects) == ["Deployment", "HorizontalPodAutoscaler", "Service"]
    for document in objects.values():
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_deployment_runs_what_its_file_names_hardened(project: Path, environment: str) -> None:
    deploy(project, environment, 3, DIGEST)
    objects = render(project, overlay(environment))
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
    # scraped for /metrics at that port; the inference log on the one writable volume
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert (annotations["prometheus.io/path"], annotations["prometheus.io/port"]) == (
        "/metrics", str(port)
    )  # fmt: skip
    [log] = [e["value"] for e in container["env"] if e["name"] == "INFERENCE_LOG_URL"]
    assert [m["mountPath"] for m in container["volumeMounts"]] == [log]
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


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_new_version_changes_the_image_digest_and_model_version_and_nothing_else(
    project: Path, environment: str
) -> None:
    # given the environment running version 3
    deploy(project, environment, 3, DIGEST)
    before = leaves(render(project, overlay(environment)))

    # when its file names version 4 and its image (a promotion, or the next release)
    deploy(project, environment, 4, NEXT_DIGEST)
    after = leaves(render(project, overlay(environment)))

    # then exactly the container image and the version label differ
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    assert changed == {CONTAINER_IMAGE, MODEL_LABEL}
    assert after[CONTAINER_IMAGE] == f"{IMAGE}@{NEXT_DIGEST}" and after[MODEL_LABEL] == "4"


def test_a_new_digest_in_production_yaml_changes_the_rendered_digest_and_nothing_else(
    project: Path,
) -> None:
    # given production running version 3's image
    deploy(project, "production", 3, DIGEST)
    before = leaves(render(project, overlay("production")))

    # when production.yaml names another image (a rebuild of the same version)
    deploy(project, "production", 3, NEXT_DIGEST)
    after = leaves(render(project, overlay("production")))

    # then the rendered production manifests differ in the image digest only
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    assert changed == {CONTAINER_IMAGE}
    assert after[CONTAINER_IMAGE] == f"{IMAGE}@{NEXT_DIGEST}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_while_the_file_names_no_image_the_overlay_does_not_build(
    project: Path, environment: str
) -> None:
    # given the file as generated (production before its first promotion, staging on main)
    path = f"environments/{environment}.yaml"
    run(project, "git", "checkout", "--", path)
    spec = yaml.safe_load((project / path).read_text())
    assert spec["model"]["version"] is None and spec["image"]["digest"] is None

    # when the overlay is built
    built = kustomize(project, overlay(environment), check=False)

    # then it fails, naming the field a deployment sets, and renders nothing Flux could apply
    assert built.returncode != 0 and not built.stdout
    assert "fieldPath `image.digest` is missing" in built.stderr, built.stderr
    assert "Environment" in built.stderr


@pytest.mark.parametrize(
    ("environment", "branch"), [("staging", "deploy/staging"), ("production", "main")]
)
def test_flux_deploys_each_overlay_from_the_branch_the_readme_names(
    project: Path, environment: str, branch: str
) -> None:
    flux_file = project / "deploy" / "k8s" / "flux" / f"{environment}.yaml"
    flux = yaml.safe_load(flux_file.read_text())
    readme = (project / "README.md").read_text()
    sources = dict(re.findall(r"flux create source git (\S+) --url=\S+ --branch=(\S+)", readme))
    namespaces = re.findall(r"^kubectl create namespace (\S+)$", readme, re.MULTILINE)

    assert flux["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    assert flux["kind"] == "Kustomization"
    spec = flux["spec"]
    assert spec["sourceRef"]["kind"] == "GitRepository"
    assert sources[spec["sourceRef"]["name"]] == branch, "Flux reads another branch"
    assert spec["targetNamespace"] in namespaces
    assert spec["prune"] is True and spec["wait"] is True
    # the path Flux builds is the overlay, and it renders once the file names an image
    deploy(project, environment, 3, DIGEST)
    assert render(project, spec["path"]) == render(project, overlay(environment))
