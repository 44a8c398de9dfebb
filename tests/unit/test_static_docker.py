"""Docker's static tarball: fetched and verified on the controller, before any machine."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.provision.base import ProvisionError
from harness.provision.static_docker import drop_ins, fetch


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
