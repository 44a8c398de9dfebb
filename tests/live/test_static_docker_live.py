"""Live: real Docker binaries from a static tarball, built here from the lab image's own
binaries in the layout of Docker's static tarballs (docker/dockerd, docker/docker, ...)."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path
from typing import Callable

import pytest

from harness import labs as lab_files
from harness.checks.runner import CheckRun, run_checks
from harness.errors import FwlabError
from harness.providers.base import Machine
from harness.providers.nspawn import image
from harness.provision import provision
from harness.provision.static_docker import fetch

pytestmark = pytest.mark.live

# Where the Debian image keeps what Docker's static tarball ships.
BINARIES = {
    "dockerd": "usr/sbin/dockerd",
    "docker": "usr/bin/docker",
    "containerd": "usr/bin/containerd",
    "containerd-shim": "usr/bin/containerd-shim",
    "containerd-shim-runc-v2": "usr/bin/containerd-shim-runc-v2",
    "ctr": "usr/bin/ctr",
    "runc": "usr/sbin/runc",
    "docker-init": "usr/bin/tini-static",
    "docker-proxy": "usr/sbin/docker-proxy",
}


@pytest.fixture(scope="module")
def static_tarball(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    rootfs = image.ensure().rootfs
    path = tmp_path_factory.mktemp("static") / "docker-20.10.5.tgz"
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, rel in BINARIES.items():
            tar.add(rootfs / rel, arcname=f"docker/{name}")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def provisioned(machine: Machine, docker: str, tarball: Path, sha256: str) -> bool:
    assert machine.ssh is not None
    conn = machine.ssh.fabric()
    try:
        report = provision(conn, docker, "on", tarball=fetch(str(tarball), sha256))
        assert report.docker.real and "static binaries" in report.docker.what  # not stood in
        return report.changed
    finally:
        conn.close()


def test_a_wrong_sha256_is_refused_before_any_lab_exists(
    static_tarball: tuple[Path, str],
    run_fwlab: Callable,
    lab_name: str,  # type: ignore[type-arg]
) -> None:
    path, _ = static_tarball
    res = run_fwlab(
        "up", "--name", lab_name, "--docker", "20.10", "--docker-tarball", str(path),
        "--docker-sha256", "0" * 64,
    )  # fmt: skip
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "expected 000" in res.stderr
    assert not (Path("/run/netns") / f"fwlab-{lab_name}").exists()


def test_static_binaries_replace_the_packaged_docker(
    static_tarball: tuple[Path, str], labs: Callable[[str], Machine], lab_name: str
) -> None:
    path, sha256 = static_tarball
    machine = labs(lab_name)
    assert provisioned(machine, "20.10", path, sha256) is True
    assert provisioned(machine, "20.10", path, sha256) is False  # idempotent
    assert machine.ssh is not None and machine.ssh_config_path is not None
    host = machine.ssh.host(machine.ssh_config_path)
    exe = host.run("readlink /proc/$(pidof dockerd)/exe").stdout.strip()
    assert exe == f"/opt/fwlab/docker-{sha256[:12]}/dockerd"
    # Real 20.10 binaries keep their firewalld integration: zone `docker`, traffic flows.
    zone = host.run("firewall-cmd --get-zone-of-interface=docker0")
    assert (zone.stdout + zone.stderr).strip() == "docker"
    lab = lab_files.load("docker-firewalld")
    spec = lab.select(["docker=20.10,firewalld=on"])[0]
    run = CheckRun(lab, spec.cell, machine.ssh_config_path, machine.ssh.alias,
                   judged=False, trace=False, only=["egress-ip", "c2c-ip"])  # fmt: skip
    results = run_checks(run)
    assert [r.outcome for r in results] == ["pass", "pass"], [r.detail for r in results]


def test_a_tarball_of_another_version_is_refused(
    static_tarball: tuple[Path, str], labs: Callable[[str], Machine], lab_name: str
) -> None:
    path, sha256 = static_tarball
    machine = labs(lab_name)
    with pytest.raises(FwlabError, match="is not Docker 19.03"):
        provisioned(machine, "19.03", path, sha256)
    assert machine.ssh is not None and machine.ssh_config_path is not None
    host = machine.ssh.host(machine.ssh_config_path)
    assert not host.file(f"/opt/fwlab/docker-{sha256[:12]}").exists
    assert host.run("systemctl is-active docker").stdout.strip() == "active"
