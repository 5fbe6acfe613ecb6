"""What ships for deployment does what the README says: the Kubernetes base renders and
validates offline, compose's set-up order works in production mode, the image's health
check follows IDP_BIND. (The image itself is built and signed into by .ci/container-check
where a Docker engine runs; the distributed set-ups by `make test-scale`.)"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
KUBE = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # the oldest minor still supported upstream when written
CLUSTER_SCOPED = {"Namespace"}


def render_kustomization(folder: Path) -> list[dict]:
    """What `kubectl kustomize` makes of our base: its resources, the namespace set on the
    namespaced ones and the image overrides (the only transformers the base uses)."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert set(kustomization) <= {"apiVersion", "kind", "namespace", "resources", "images"}
    images = {i["name"]: f"{i['newName']}:{i['newTag']}" for i in kustomization["images"]}
    rendered = []
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((folder / name).read_text()):
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = kustomization["namespace"]
            for container in _pod_spec(doc).get("containers", []):
                container["image"] = images.get(container["image"], container["image"])
            rendered.append(doc)
    return rendered


def _pod_spec(doc: dict) -> dict:
    return doc.get("spec", {}).get("template", {}).get("spec", {})


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    return {doc["kind"]: doc for doc in render_kustomization(KUBE)}


def test_every_manifest_validates_against_the_kubernetes_schemas(manifests):
    import kubernetes_validate

    for doc in manifests.values():
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="cross-check only; kubectl absent")
def test_our_rendering_matches_kubectl_kustomize(manifests):
    out = subprocess.run(
        ["kubectl", "kustomize", str(KUBE)], capture_output=True, text=True, check=True
    ).stdout
    assert {d["kind"]: d for d in yaml.safe_load_all(out)} == manifests


def test_pods_are_probed_secured_and_sized(manifests):
    deployment = manifests["Deployment"]
    pod = _pod_spec(deployment)
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    # The image's user (Dockerfile) is the one the pod runs as and owns the keys volume.
    assert "--uid 10001" in (ROOT / "Dockerfile").read_text()
    assert pod["securityContext"]["runAsUser"] == pod["securityContext"]["fsGroup"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert (
        container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    )
    keys = next(v for v in pod["volumes"] if v["name"] == "keys")
    assert keys["secret"]["secretName"] == "idp-keys"
    graceful = int(os.environ.get("IDP_GRACEFUL_TIMEOUT", "30"))
    assert pod["terminationGracePeriodSeconds"] > graceful + 5  # preStop pause + drain


def test_service_hpa_pdb_and_policy_select_the_deployment(manifests):
    labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict) -> bool:
        return all(labels.get(k) == v for k, v in selector.items())

    assert selects(manifests["Service"]["spec"]["selector"])
    assert selects(manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"])
    assert selects(manifests["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"])
    target = manifests["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "idp")
    (metric,) = manifests["HorizontalPodAutoscaler"]["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"


def test_the_migration_job_runs_idp_db_upgrade_with_the_keys(manifests):
    pod = _pod_spec(manifests["Job"])
    (container,) = pod["containers"]
    assert container["command"] == ["idp", "db", "upgrade"]
    assert any(m["mountPath"] == "/keys" for m in container["volumeMounts"])


def test_the_optional_outbox_worker_validates_and_runs_idp_worker():
    import kubernetes_validate

    overlay = yaml.safe_load(
        (ROOT / "deploy" / "kubernetes-worker" / "kustomization.yaml").read_text()
    )
    assert overlay["resources"] == ["../kubernetes", "worker.yaml"]
    base = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    assert (overlay["namespace"], overlay["images"]) == (base["namespace"], base["images"])
    worker = yaml.safe_load((ROOT / "deploy" / "kubernetes-worker" / "worker.yaml").read_text())
    kubernetes_validate.validate(worker, KUBERNETES_VERSION, strict=True)
    (container,) = _pod_spec(worker)["containers"]
    assert container["command"] == ["idp", "worker"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    assert compose["services"]["worker"]["command"] == ["idp", "worker"]
    assert compose["services"]["worker"]["profiles"] == ["worker"]


def test_compose_setup_makes_the_key_before_migrating():
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    command = " ".join(compose["services"]["setup"]["command"])
    assert command.index("idp keys generate --if-missing") < command.index("idp db upgrade")
    # Every file compose mounts from the repository exists in it.
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / "deploy" / source).exists(), source


def test_the_image_has_no_entry_point_so_documented_commands_run():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"^ENTRYPOINT", dockerfile, re.MULTILINE)
    assert "--require-hashes" in dockerfile and "requirements.lock" in dockerfile


BUILT_HERE = {"idp-verifier"}  # verifier/


def test_the_lock_pins_every_runtime_dependency_with_hashes():
    lock = (ROOT / "requirements.lock").read_text().lower()
    setup = (ROOT / "setup.cfg").read_text()
    block = setup.split("install_requires =")[1].split("\n[")[0]
    names = [
        re.match(r"\s*([A-Za-z0-9_.-]+)", line).group(1).lower().replace("_", "-")
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    for name in names:
        if name in BUILT_HERE:
            continue
        assert re.search(rf"^{re.escape(name)}==\S+ \\\n\s+--hash=sha256:", lock, re.M), name
    # Built from this repository instead: the image copies it, its dependencies are locked.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY --chown=root:root verifier/src/idp_verifier ./idp_verifier" in dockerfile
    assert re.search(r"^joserfc==\S+ \\$", lock, re.M)


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def _healthcheck(bind: str) -> int:
    return subprocess.run(
        [sys.executable, "-m", "idp.healthcheck"],
        env={**os.environ, "IDP_BIND": bind},
        cwd=ROOT,
        timeout=30,
        check=False,
    ).returncode


def test_the_health_check_probes_the_address_the_server_binds(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert _healthcheck(f"127.0.0.1:{port}") == 0
        assert _healthcheck(f"0.0.0.0:{port}") == 0  # a wildcard bind is probed on loopback
        with socket.socket() as spare:
            spare.bind(("127.0.0.1", 0))
            closed = spare.getsockname()[1]
        assert _healthcheck(f"127.0.0.1:{closed}") == 1
    finally:
        server.shutdown()
        server.server_close()


def test_the_health_check_follows_a_unix_socket_bind(tmp_path):
    class UnixServer(http.server.ThreadingHTTPServer):
        address_family = socket.AF_UNIX

        def server_bind(self):
            self.socket.bind(self.server_address)

        def get_request(self):
            request, _ = self.socket.accept()
            return request, ("local", 0)

    path = str(tmp_path / "idp.sock")
    server = UnixServer(path, _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert _healthcheck(f"unix:{path}") == 0
    finally:
        server.shutdown()
        server.server_close()
