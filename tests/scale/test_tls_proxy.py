"""The compose stack's TLS path without Docker: deploy/nginx.conf (its upstream and port
pointed at a local instance) with deploy/selfsigned_cert.py's certificate, in front of idp in
production mode. A person signs in over https: Secure cookies, forwarded headers, CSRF."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from .conftest import ROOT, Deployment, free_port, require, service_urls, wait_for_port
from .oidc_login import Login

PASSWORD = "correct horse battery staple"


def _local_nginx_conf(workdir, https_port: int, idp_port: int) -> str:
    """deploy/nginx.conf, with what only differs outside compose: addresses, file paths,
    and `http2 on` (nginx 1.25+; Debian 12 ships 1.22, which says `listen … http2`)."""
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    site = site.replace("server idp:8000;", f"server 127.0.0.1:{idp_port};")
    site = re.sub(r"listen 443 ssl;\s*http2 on;", f"listen 127.0.0.1:{https_port} ssl http2;", site)
    site = site.replace("/etc/nginx/certs", str(workdir / "certs"))
    assert f"127.0.0.1:{https_port}" in site and str(workdir) in site
    temp = "\n".join(
        f"    {name}_temp_path {workdir}/nginx-{name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"daemon off;\nworker_processes 1;\npid {workdir}/nginx-tls.pid;\n"
        f"error_log {workdir}/nginx-tls-error.log;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log off;\n{temp}\n{site}\n}}\n"
    )


@pytest.fixture(scope="module")
def tls_deployment(processes):
    https_port, idp_port = free_port(), free_port()
    issuer = f"https://localhost:{https_port}"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy" / "selfsigned_cert.py"),
            str(processes.workdir / "certs"),
        ],
        env={"IDP_ISSUER": issuer},
        check=True,
        capture_output=True,
    )
    conf = processes.workdir / "nginx-tls.conf"
    conf.write_text(_local_nginx_conf(processes.workdir, https_port, idp_port))
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (processes.workdir / f"nginx-{name}").mkdir(mode=0o777)
    deployment = Deployment(
        processes,
        service_urls()[1],
        IDP_ENV="production",
        IDP_ISSUER=issuer,
        IDP_SMTP_URL="smtp://127.0.0.1:25",
        IDP_PROXY_HOPS="1",
    )
    deployment.start(idp_port)
    nginx = processes.start([require("nginx"), "-c", str(conf)], "nginx-tls")
    wait_for_port(https_port, process=nginx)
    deployment.base = f"https://127.0.0.1:{https_port}"
    yield deployment
    deployment.close()


def test_a_person_signs_in_over_tls_through_the_compose_proxy_config(tls_deployment):
    deployment = tls_deployment
    deployment.idp(
        "users", "create", "--email", "ada@example.com", "--password-stdin", stdin=PASSWORD + "\n"
    )
    app = json.loads(
        deployment.idp(
            "clients", "create", "--name", "notes", "--redirect-uri", "https://rp.example.org/cb"
        )
    )
    login = Login(
        deployment.base,
        app["client_id"],
        app["client_secret"],
        "https://rp.example.org/cb",
        "ada@example.com",
        PASSWORD,
        verify=str(deployment.processes.workdir / "certs" / "fullchain.pem"),
    )
    # The certificate names localhost; requests checks it against the URL's host.
    login.base = login.base.replace("127.0.0.1", "localhost")
    tokens = login.run()
    assert "id_token" in tokens
    assert any(name.startswith("__Host-") for name in login.cookies)  # Secure, https-only
