"""deploy/: what can be checked without a Docker engine or systemd running — parsed, verified, linted."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.certs import self_signed_pair

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("canary*.service"))
ROLES = {"web", "callbacks", "dns", "smtp", "logs", "scheduler", "delivery"}


def _roles(command: list[str] | str) -> list[str]:
    words = command.split() if isinstance(command, str) else command
    return [words[i + 1] for i, word in enumerate(words) if word == "--role"]


def test_compose_file_has_the_expected_services_roles_and_hardening() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"web", "edge", "logs", "workers", "proxy"}
    roles = [role for name in ("web", "edge", "logs", "workers") for role in _roles(services[name]["command"])]
    assert sorted(roles) == sorted(ROLES)  # every role once, none twice
    for name in ("web", "edge", "logs", "workers"):
        service = services[name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["cap_drop"] == ["ALL"] and "no-new-privileges:true" in service["security_opt"]
        assert service["read_only"] is True and "canary-data:/var/lib/canary" in service["volumes"]
    assert services["web"]["ports"] == ["127.0.0.1:8080:8080"]  # the console never on a public address
    assert "53:5353/udp" in services["edge"]["ports"] and "25:2525/tcp" in services["edge"]["ports"]
    assert "canary-data" in compose["volumes"]
    # The console and the callback listener believe the proxy's forwarded headers (gateway of the network).
    (subnet,) = compose["networks"]["default"]["ipam"]["config"]
    assert services["web"]["environment"]["CANARY_WEB_TRUSTED_PROXIES"] == subnet["gateway"] + "/32"
    assert services["edge"]["environment"]["CANARY_TRIPWIRE_TRUSTED_PROXIES"] == subnet["gateway"] + "/32"


def test_dockerfile_is_slim_non_root_and_builds_the_hyperscan_core() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    instructions = [line.split()[0] for line in text.splitlines() if line and not line[0].isspace()
                    and not line.startswith("#")]
    assert instructions.count("FROM") == 2 and all(i.isupper() for i in instructions)
    assert all(base.startswith("python:3.11-slim") for base in re.findall(r"^FROM (\S+)", text, re.M))
    assert "libhyperscan-dev" in text and "libhyperscan5" in text
    assert 'python -c "import canary.watch.sweep._native"' in text  # the build fails without the native core
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users == ["10001:10001"] and "--uid 10001" in text  # the canary account, numerically
    assert text.index("USER 10001") > text.rindex("RUN ")  # nothing runs as root after
    assert "--no-install-recommends" in text and "rm -rf /var/lib/apt/lists/*" in text
    assert re.search(r"^ENTRYPOINT \[.*\"serve\"", text, re.M)
    for copied in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        assert (ROOT / copied).exists(), copied
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".git" in ignored and "*.db" in ignored


@pytest.mark.skipif(not shutil.which("hadolint"), reason="hadolint not installed (no Debian package)")
def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(["hadolint", "--no-color", str(DEPLOY / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_units_are_hardened_and_only_dns_and_smtp_may_bind_low_ports() -> None:
    assert {u.name for u in UNITS} == {f"canary-{n}.service" for n in
                                       ("web", "callbacks", "dns", "smtp", "logs", "workers")}
    seen: list[str] = []
    for unit in UNITS:
        text = unit.read_text()
        lines = set(text.splitlines())
        for setting in ("NoNewPrivileges=true", "ProtectSystem=strict", "ReadWritePaths=/var/lib/canary",
                        "PrivateTmp=true", "User=canary", "UMask=0077", "RestrictSUIDSGID=true",
                        "LimitNOFILE=65536"):
            assert setting in lines, (unit.name, setting)
        [exec_start] = [line for line in lines if line.startswith("ExecStart=")]
        seen += _roles(exec_start)
        privileged = unit.name in ("canary-dns.service", "canary-smtp.service")
        wanted = "CAP_NET_BIND_SERVICE" if privileged else ""
        assert f"CapabilityBoundingSet={wanted}" in lines and f"AmbientCapabilities={wanted}" in lines, unit.name
    assert sorted(seen) == sorted(ROLES)


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_analyze_verify_accepts_every_unit(tmp_path: Path) -> None:
    canary = shutil.which("canary") or "/bin/true"  # verify checks the binary exists
    for unit in [*UNITS, DEPLOY / "systemd" / "canary.target"]:
        (tmp_path / unit.name).write_text(unit.read_text().replace("/usr/local/bin/canary", canary))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *sorted(p.name for p in tmp_path.iterdir())],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    # verify only warns (exit 0) on a bad value: any message is a failure here.
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), result.stderr


@pytest.mark.skipif(not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()), reason="nginx not installed")
def test_nginx_accepts_the_site_with_test_certificates(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    site = (DEPLOY / "nginx" / "canary.conf").read_text()
    for name in ("console", "callbacks"):
        crt, key = self_signed_pair(tmp_path, name)
        site = site.replace(f"/etc/nginx/certs/{name}.crt", str(crt)).replace(f"/etc/nginx/certs/{name}.key", str(key))
    assert "/etc/nginx/certs" not in site  # every certificate path was one of the two
    (tmp_path / "canary.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/canary.conf;\n}}\n")
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "test is successful" in result.stderr, result.stderr
    assert "[warn]" not in result.stderr, result.stderr
