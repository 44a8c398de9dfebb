"""Docker's static tarball: fetched and verified on the controller, before any machine;
then installed on a scripted machine (Fabric's mocked remote, with a fake SFTP)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from fabric.testing.base import Command

from harness.cli import cli
from harness.provision.base import ProvisionError, write_file_command
from harness.provision.debian import DebianRecipe
from harness.provision.static_docker import StaticDocker, drop_ins, fetch, install, remove
from tests.unit.scripted_remote import FakeSFTP, run_recipe


@pytest.fixture
def tarball(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "docker-19.03.15.tgz"
    path.write_bytes(b"not really a tarball, but bytes with a digest")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_local_path_and_a_file_url_are_read_and_verified(tarball: tuple[Path, str]) -> None:
    path, sha = tarball
    for source in (str(path), path.as_uri()):
        got = fetch(source, sha.upper())
        assert got.sha256 == sha and got.data == path.read_bytes()
        assert got.dest == f"/opt/fwlab/docker-{sha[:12]}"


@pytest.mark.parametrize(
    ("sha", "message"),
    [("0" * 64, "expected 0000"), ("abc", "64 hex digits"), ("g" * 64, "64 hex digits")],
)
def test_a_wrong_or_malformed_sha256_is_refused(
    tarball: tuple[Path, str], sha: str, message: str
) -> None:
    with pytest.raises(ProvisionError, match=message):
        fetch(str(tarball[0]), sha)


def test_a_missing_tarball_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match="cannot read the Docker tarball"):
        fetch(str(tmp_path / "nope.tgz"), "0" * 64)


def test_drop_ins_run_both_daemons_from_the_tarball() -> None:
    units = drop_ins("/opt/fwlab/docker-abc")
    docker = units["/etc/systemd/system/docker.service.d/fwlab-static.conf"]
    containerd = units["/etc/systemd/system/containerd.service.d/fwlab-static.conf"]
    assert "ExecStart=\nExecStart=/opt/fwlab/docker-abc/dockerd -H fd://" in docker
    assert "ExecStart=\nExecStart=/opt/fwlab/docker-abc/containerd\n" in containerd
    assert all("Environment=PATH=/opt/fwlab/docker-abc:" in text for text in units.values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--docker-tarball", "x.tgz"], "--docker-tarball needs --docker-sha256"),
        (["--docker-sha256", "0" * 64], "--docker-sha256 goes with --docker-tarball"),
    ],
)
def test_half_given_tarball_options_are_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["provision", "somelab", *args], standalone_mode=False)
    assert result.exception is not None and message in str(result.exception)


# -- install() and remove() on a scripted machine ------------------------------------
DATA = b"pretend this is docker-19.03.15.tgz"
TARBALL = StaticDocker(DATA, hashlib.sha256(DATA).hexdigest(), "docker-19.03.15.tgz")
DEST = TARBALL.dest
UPLOAD = "/tmp/fwlab-docker-static.tgz"
CONTAINERD_DROP_IN = "/etc/systemd/system/containerd.service.d/fwlab-static.conf"
DOCKER_DROP_IN = "/etc/systemd/system/docker.service.d/fwlab-static.conf"
RESTARTS = ["systemctl daemon-reload", "systemctl restart containerd", "systemctl restart docker"]


def cmd(command: str, exit: int = 0, out: str = "") -> Command:
    return Command(command, out=out.encode(), exit=exit)


def unpacked(
    dockerd_says: str = "Docker version 19.03.15, build 99e3ed8\n", missing: str = ""
) -> list[Command]:
    """Upload checked, unpacked, binaries looked for, dockerd asked its version."""
    return [
        cmd(f"sha256sum {UPLOAD}", out=f"{TARBALL.sha256}  {UPLOAD}\n"),
        cmd(f"mkdir -p {DEST}"),
        cmd(f"tar -xf {UPLOAD} -C {DEST} --strip-components=1"),
        cmd(f"rm -f {UPLOAD}"),
        *(
            cmd(f"test -x {DEST}/{b}", exit=int(b == missing))
            for b in ("dockerd", "docker", "containerd", "runc")
        ),
        cmd(f"{DEST}/dockerd --version", out=dockerd_says),
    ]


def test_install_uploads_checks_unpacks_and_wires_in_the_binaries() -> None:
    sftp = FakeSFTP()
    script = [
        cmd(f"cat {CONTAINERD_DROP_IN}", exit=1),
        *unpacked(),
        cmd(
            "find /etc/systemd/system/docker.service.d -name 'fwlab-*.conf'"
            " ! -name fwlab-static.conf -delete"
        ),
        *(cmd(write_file_command(path, text)) for path, text in drop_ins(DEST).items()),
        *map(cmd, RESTARTS),
    ]
    ran = run_recipe(script, DebianRecipe, lambda r: install(r, TARBALL, "19.03"), sftp=sftp)
    assert ran.result is True
    assert sftp.uploads == {UPLOAD: DATA}


def test_install_again_only_looks() -> None:
    units = drop_ins(DEST)
    script = [
        cmd(f"cat {CONTAINERD_DROP_IN}", out=units[CONTAINERD_DROP_IN]),
        cmd(f"cat {DOCKER_DROP_IN}", out=units[DOCKER_DROP_IN]),
        cmd(f"test -x {DEST}/dockerd"),
        cmd("systemctl is-active --quiet docker"),
    ]
    sftp = FakeSFTP()
    ran = run_recipe(script, DebianRecipe, lambda r: install(r, TARBALL, "19.03"), sftp=sftp)
    assert ran.result is False
    assert sftp.uploads == {}


def test_install_refuses_a_tarball_of_another_version() -> None:
    script = [
        cmd(f"cat {CONTAINERD_DROP_IN}", exit=1),
        *unpacked("Docker version 20.10.24, build 297e128\n"),
        cmd(f"rm -rf {DEST}"),
    ]
    with pytest.raises(ProvisionError, match="is not Docker 19.03: its dockerd says"):
        run_recipe(script, DebianRecipe, lambda r: install(r, TARBALL, "19.03"), sftp=FakeSFTP())


def test_install_refuses_a_tarball_without_runc() -> None:
    script = [
        cmd(f"cat {CONTAINERD_DROP_IN}", exit=1),
        *unpacked(missing="runc"),
        cmd(f"rm -rf {DEST}"),
    ]
    with pytest.raises(ProvisionError, match="its dockerd lacks runc"):
        run_recipe(script, DebianRecipe, lambda r: install(r, TARBALL, "19.03"), sftp=FakeSFTP())


def test_install_refuses_a_damaged_upload_and_removes_it() -> None:
    script = [
        cmd(f"cat {CONTAINERD_DROP_IN}", exit=1),
        cmd(f"sha256sum {UPLOAD}", out=f"{'0' * 64}  {UPLOAD}\n"),
        cmd(f"rm -f {UPLOAD}"),
    ]
    with pytest.raises(ProvisionError, match="upload damaged"):
        run_recipe(script, DebianRecipe, lambda r: install(r, TARBALL, "19.03"), sftp=FakeSFTP())


def test_remove_without_static_binaries_only_looks() -> None:
    script = [
        cmd(f"test -f {CONTAINERD_DROP_IN}", exit=1),
        cmd(f"test -f {DOCKER_DROP_IN}", exit=1),
    ]
    assert run_recipe(script, DebianRecipe, remove).result is False


def test_remove_goes_back_to_the_packaged_docker() -> None:
    script = [
        cmd(f"test -f {CONTAINERD_DROP_IN}"),
        cmd(f"rm -f {CONTAINERD_DROP_IN} {DOCKER_DROP_IN}"),
        *map(cmd, RESTARTS),
    ]
    assert run_recipe(script, DebianRecipe, remove).result is True
