"""Live: the nspawn lab machine (issue: embedded lab machine). Needs root."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

import pytest

from conftest import host_network_snapshot
from harness import paths
from harness.errors import UsageError
from harness.providers.base import Machine
from harness.providers.nspawn import inventory, network
from harness.providers.nspawn.provider import LabState

pytestmark = pytest.mark.live


def ssh(machine: Machine, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Plain OpenSSH through the ssh_config entry the provider handed back."""
    assert machine.ssh_config_path is not None and machine.ssh is not None
    return subprocess.run(
        ["ssh", "-F", str(machine.ssh_config_path), machine.ssh.alias, command],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_up_gives_a_real_lab_machine_and_down_leaves_nothing(
    labs: Callable[[str], Machine], lab_name: str, tmp_path: Path
) -> None:
    before = host_network_snapshot()
    machine = labs(lab_name)
    assert machine.status == "running"

    active = ssh(machine, "systemctl is-active firewalld docker")
    assert active.stdout.split() == ["active", "active"], active.stdout + active.stderr
    version = ssh(
        machine, "firewall-cmd --version; grep ^FirewallBackend /etc/firewalld/firewalld.conf"
    )
    assert version.stdout.split()[0] == "0.9.3"
    assert "FirewallBackend=nftables" in version.stdout
    info = ssh(machine, "docker info --format '{{.ServerVersion}}'")
    assert info.returncode == 0 and info.stdout.startswith("20.10"), info.stderr
    # The lab resolves and browses only inside our namespaces.
    resolv = ssh(machine, "cat /etc/resolv.conf; ip -4 -o addr show eth0; ip route")
    assert "nameserver 10.0.2.3" in resolv.stdout
    assert "10.0.2.15/24" in resolv.stdout and "default via 10.0.2.2" in resolv.stdout
    page = ssh(machine, "busybox wget -q -O - http://www.bing.com/")
    assert "fwlab-internet" in page.stdout, page.stderr

    # Plain OpenSSH with the printed entry (what `fwlab ssh-config` prints).
    assert machine.ssh is not None
    config = tmp_path / "ssh_config"
    config.write_text(machine.ssh.render())
    plain = subprocess.run(
        ["ssh", "-F", str(config), machine.name, "docker", "info", "--format", "{{.Name}}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr

    from harness.providers import get_provider

    removed = get_provider("nspawn").down(lab_name)
    assert any("netns" in r for r in removed)
    assert inventory.leftovers(lab_name) == {kind: [] for kind in inventory.KINDS}
    assert host_network_snapshot() == before


def test_the_lab_reaches_only_its_own_wan(labs: Callable[[str], Machine], lab_name: str) -> None:
    machine = labs(lab_name)
    assert machine.ssh is not None
    net = LabState(lab_name).net
    assert net.ssh_addr == machine.ssh.hostname
    before = network.escape_count(net)
    # The host's own addresses and a public one: each attempt fails at once.
    for target in (net.host_addr, "192.0.2.2", "198.51.100.7", "8.8.8.8"):
        res = ssh(machine, f"timeout 5 busybox nc -w 3 {target} 22 </dev/null; echo rc=$?")
        assert "rc=0" not in res.stdout, f"{target} was reachable from the lab"
        assert "rc=124" not in res.stdout, f"{target}: no immediate failure"
    # The attempt on the host's management address was stopped and counted in
    # the wan namespace; the others had no route at all.
    assert network.escape_count(net) > before


def test_two_labs_run_side_by_side(labs: Callable[[str], Machine], lab_name: str) -> None:
    first = labs(lab_name + "a")
    second = labs(lab_name + "b")
    assert first.ssh is not None and second.ssh is not None
    assert first.ssh.hostname != second.ssh.hostname
    for machine in (first, second):
        assert ssh(machine, "hostname").stdout.strip() == machine.name


def test_a_taken_name_is_refused_without_side_effects(
    labs: Callable[[str], Machine], lab_name: str
) -> None:
    from harness.providers import get_provider

    labs(lab_name)
    listed = [m.name for m in get_provider("nspawn").list()]
    with pytest.raises(UsageError, match="already taken"):
        get_provider("nspawn").up(lab_name)
    assert [m.name for m in get_provider("nspawn").list()] == listed
    assert get_provider("nspawn").status(lab_name).status == "running"


def test_ssh_keys_are_private_and_the_host_key_is_pinned(
    labs: Callable[[str], Machine], lab_name: str
) -> None:
    machine = labs(lab_name)
    state = paths.lab_dir(lab_name)
    assert (state / "id_ed25519").stat().st_mode & 0o777 == 0o600
    sshd = ssh(machine, "sshd -T | grep -Ei '^(passwordauthentication|permitrootlogin)'")
    assert "passwordauthentication no" in sshd.stdout
    assert "permitrootlogin without-password" in sshd.stdout
    known = (state / "known_hosts").read_text().split()
    assert known[1] == "ssh-ed25519" and len((state / "known_hosts").read_text().splitlines()) == 1
    # A different host key must be refused.
    fake_key = "AAAAC3NzaC1lZDI1NTE5AAAAI" + "A" * 43
    (state / "known_hosts").write_text(f"{known[0]} ssh-ed25519 {fake_key}\n")
    assert machine.ssh is not None
    refused = ssh(machine, "true")
    assert refused.returncode != 0
