"""Live: Fabric provisioning, testinfra checks and traces on real lab machines."""

from __future__ import annotations

from typing import Callable

import pytest

from harness.checks.probes import CHECKS, probe_image_tag, setup_scaffold, teardown_scaffold
from harness.checks.runner import run_checks
from harness.providers.base import Machine
from harness.provision import provision
from harness.trace.capture import capture, remaining_trace_rules

pytestmark = pytest.mark.live


def provisioned(machine: Machine, docker: str, firewalld: str) -> bool:
    assert machine.ssh is not None and machine.ssh_config_path is not None
    conn = machine.ssh.fabric(machine.ssh_config_path)
    try:
        return provision(conn, docker, firewalld).changed
    finally:
        conn.close()


def host_of(machine: Machine):  # type: ignore[no-untyped-def]
    assert machine.ssh is not None
    assert machine.ssh_config_path is not None
    return machine.ssh.testinfra(machine.ssh_config_path)


def zone_of(host, interface: str) -> str:  # type: ignore[no-untyped-def]
    res = host.run(f"firewall-cmd --get-zone-of-interface={interface}")
    return (res.stdout + res.stderr).strip()  # "no zone" comes on stderr


def test_provisioning_twice_changes_nothing_the_second_time(
    labs: Callable[[str], Machine], lab_name: str
) -> None:
    machine = labs(lab_name)
    assert provisioned(machine, "19.03", "on") is True
    assert provisioned(machine, "19.03", "on") is False
    host = host_of(machine)
    assert zone_of(host, "docker0") == "no zone"
    # ... and it stays out of every zone across a docker restart.
    host.run("systemctl restart docker")
    assert zone_of(host, "docker0") == "no zone"


def test_19_03_stand_in_with_firewalld_on_is_blocked_and_traced_to_filter_forward(
    labs: Callable[[str], Machine], lab_name: str
) -> None:
    machine = labs(lab_name)
    provisioned(machine, "19.03", "on")
    assert machine.ssh_config_path is not None and machine.ssh is not None
    results = {
        r.name: r
        for r in run_checks(
            machine.ssh_config_path, machine.ssh.alias,
            ["egress-ip", "c2c-ip", "icmp-c2c", "host-network"], None, trace=True,
        )
    }  # fmt: skip
    assert results["egress-ip"].observed == "blocked"
    assert "No route to host" in results["egress-ip"].detail
    assert results["egress-ip"].seconds < 10
    assert results["c2c-ip"].observed == "blocked"
    assert results["icmp-c2c"].observed == "pass"
    assert results["host-network"].observed == "pass"
    verdict = results["egress-ip"].trace
    assert verdict is not None
    assert (verdict.family, verdict.table, verdict.chain) == ("inet", "firewalld", "filter_FORWARD")
    assert verdict.verdict in ("drop", "reject")
    assert "no firewalld zone" in verdict.diagnosis
    assert remaining_trace_rules(host_of(machine)) == 0


def test_20_10_with_firewalld_on_is_accepted_in_the_docker_zone(
    labs: Callable[[str], Machine], lab_name: str
) -> None:
    machine = labs(lab_name)
    provisioned(machine, "20.10", "on")
    host = host_of(machine)
    assert zone_of(host, "docker0") == "docker"
    scaffold = setup_scaffold(host, probe_image_tag(host))
    try:
        check = CHECKS["egress-ip"]
        cap = capture(host, check.command(scaffold), scaffold.bridge_subnet)
    finally:
        teardown_scaffold(host)
    nft = cap.nft.verdict
    assert nft is not None, cap.nft_text[-2000:]
    assert (nft.table, nft.chain, nft.verdict) == ("firewalld", "filter_FWDI_docker", "accept")
    assert cap.xtables.verdict is not None and cap.xtables.verdict.chain == "filter_FWDI_docker"
    assert remaining_trace_rules(host) == 0
