"""The vagrant provider's pure parts: no VM, no root."""

from __future__ import annotations

import pytest

from harness.checks.probes import CHECKS, Scaffold
from harness.errors import UsageError
from harness.providers.base import join_reasons
from harness.providers.vagrant import libvirt
from harness.providers.vagrant.provider import backend
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


def test_stand_in_reasons_are_all_reported() -> None:
    assert join_reasons("no 19.03", None, "a libvirt VM") == "no 19.03; a libvirt VM"
    assert join_reasons(None, "") == ""


def test_slow_machines_get_longer_probe_timeouts() -> None:
    fast = Scaffold("img", "a", "b", "n", "m")
    slow = Scaffold("img", "a", "b", "n", "m", time_scale=6.0)
    assert (fast.hard_timeout, slow.hard_timeout) == (9, 54)
    assert slow.monitor_seconds > 2 * slow.hard_timeout
    assert "timeout -k 2 54 docker run" in CHECKS["egress-ip"].command(slow)
    assert "timeout 18 wget" in CHECKS["egress-ip"].command(slow)


def test_libvirt_network_is_isolated_and_shaped_like_virtualbox_nat() -> None:
    xml = libvirt.NETWORK_XML
    assert "<forward" not in xml  # isolated: no NAT, no route out
    assert "address='10.0.2.2'" in xml and "start='10.0.2.15'" in xml
    assert "classless-static-route,0.0.0.0/0,10.0.2.2" in xml
