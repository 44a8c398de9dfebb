"""The vagrant provider's pure parts: no VM, no root."""

from __future__ import annotations

import pytest

from harness.checks import Http
from harness.checks.probe import Bounds, nsenter_command
from harness.errors import UsageError
from harness.providers.vagrant import libvirt
from harness.providers.vagrant.provider import DEFAULT_BOX, LabState, VagrantProvider, backend
from harness.ssh import SshEndpoint

VAGRANT_SSH_CONFIG = """\
Host lab1
  HostName 10.0.2.248
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  IdentityFile /x/dot/machines/lab1/libvirt/private_key
  IdentitiesOnly yes
  ProxyCommand ip netns exec fwlab-libvirt busybox nc %h %p
"""


def test_vagrant_ssh_config_keeps_its_proxy_command() -> None:
    endpoint = SshEndpoint.parse(VAGRANT_SSH_CONFIG)
    assert endpoint.user == "vagrant"
    # paramiko fills in %h and %p: the rendered entry names the VM itself.
    assert endpoint.proxy_command == "ip netns exec fwlab-libvirt busybox nc 10.0.2.248 22"
    assert f"  ProxyCommand {endpoint.proxy_command}" in endpoint.render()
    assert SshEndpoint.parse(endpoint.render()) == endpoint


def test_backend_is_chosen_by_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FWLAB_VAGRANT_PROVIDER", "libvirt")
    assert backend() == "libvirt"
    monkeypatch.setenv("FWLAB_VAGRANT_PROVIDER", "hyperv")
    with pytest.raises(UsageError, match="virtualbox or libvirt"):
        backend()


@pytest.fixture
def vagrant_home(tmp_path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FWLAB_HOME", str(tmp_path))
    monkeypatch.setenv("FWLAB_VAGRANT_PROVIDER", "libvirt")
    monkeypatch.delenv("FWLAB_BOX", raising=False)
    return tmp_path


def claimed(name: str, box: str, backend_name: str) -> None:
    state = LabState(name)
    state.dir.mkdir(parents=True)
    state.data = {"made_by": "fwlab", "box": box, "backend": backend_name}
    state.save()


def test_fidelity_of_vagrant_machines(vagrant_home) -> None:  # type: ignore[no-untyped-def]
    provider = VagrantProvider()
    claimed("a", "fwlab/bullseye", "libvirt")
    layer = provider.machine_layer("a", "a VirtualBox CentOS 8 VM on NAT")
    assert not layer.real and "stands in for a VirtualBox CentOS 8 VM" in layer.what
    claimed("b", "fwlab/bookworm", "libvirt")
    assert provider.machine_layer("b", "a Debian bookworm machine").real
    claimed("c", DEFAULT_BOX, "virtualbox")
    assert provider.machine_layer("c", "a VirtualBox CentOS 8 VM on NAT").real


def test_box_follows_the_os_release(vagrant_home, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    provider = VagrantProvider()
    assert provider.box_for("bookworm") == "fwlab/bookworm"
    monkeypatch.setenv("FWLAB_BOX", "centos/8")
    assert provider.box_for("bookworm") == "centos/8"


def test_slow_machines_get_longer_probe_bounds() -> None:
    fast, slow = Bounds(), Bounds(scale=6.0)
    assert (fast.attempt, fast.hard, slow.attempt, slow.hard) == (3, 9, 18, 54)
    command = nsenter_command(Http("http://203.0.113.10/"), 4242, slow)
    assert command.startswith("timeout -k 2 54 nsenter")
    assert "timeout 18 wget" in command
    # A loaded host gives containers longer to start, not answers longer to come.
    loaded = Bounds(scale=1.0, pace=3.0)
    assert (loaded.attempt, loaded.hard) == (3, 21)


def test_libvirt_network_is_isolated_and_shaped_like_virtualbox_nat() -> None:
    xml = libvirt.NETWORK_XML
    assert "<forward" not in xml  # isolated: no NAT, no route out
    assert "address='10.0.2.2'" in xml and "start='10.0.2.15'" in xml
    assert "classless-static-route,0.0.0.0/0,10.0.2.2" in xml
