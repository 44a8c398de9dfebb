"""Live: provisioning, the lab's checks and their traces on real lab machines."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from harness import labs as lab_files
from harness import pipeline
from harness.checks.runner import CheckRun, run_checks
from harness.providers import get_provider
from harness.providers.base import Machine
from harness.providers.nspawn.provider import LabState
from harness.provision import probe_image, provision
from harness.trace.capture import COMMENT
from tests.live.helpers import lab_copy

pytestmark = pytest.mark.live
FOUNDING = lab_files.load("docker-firewalld")


def provisioned(machine: Machine, docker: str, firewalld: str) -> bool:
    assert machine.ssh is not None
    conn = machine.ssh.fabric()
    try:
        return provision(conn, docker, firewalld).changed
    finally:
        conn.close()


def host_of(machine: Machine):  # type: ignore[no-untyped-def]
    assert machine.ssh is not None and machine.ssh_config_path is not None
    return machine.ssh.host(machine.ssh_config_path)


def zone_of(host, interface: str) -> str:  # type: ignore[no-untyped-def]
    res = host.run(f"firewall-cmd --get-zone-of-interface={interface}")
    return (res.stdout + res.stderr).strip()  # "no zone" comes on stderr


def checks(machine: Machine, lab: lab_files.Lab, cell: str, judged: bool = True) -> dict:
    assert machine.ssh is not None and machine.ssh_config_path is not None
    spec = lab.select([cell])[0]
    run = CheckRun(lab, spec.cell, machine.ssh_config_path, machine.ssh.alias, judged=judged)
    return {r.name: r for r in run_checks(run)}


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


def test_19_03_stand_in_with_firewalld_on_is_blocked_and_traced(
    labs: Callable[[str], Machine], lab_name: str
) -> None:
    machine = labs(lab_name)
    provisioned(machine, "19.03", "on")
    found = checks(machine, FOUNDING, "docker=19.03,firewalld=on")
    egress = found["egress-ip"]
    assert (egress.outcome, egress.reason, egress.judgement) == ("blocked", "rejected", "match")
    assert "No route to host" in egress.detail
    assert str(egress.rule) == "inet firewalld filter_FORWARD reject"
    assert egress.trace is not None and "no firewalld zone" in egress.trace.diagnosis
    assert found["egress-name"].reason == "dns"
    assert found["icmp-c2c"].outcome == found["host-network"].outcome == "pass"
    assert all(r.judgement == "match" for r in found.values()), found
    rules = host_of(machine).run("iptables -t raw -S PREROUTING").stdout
    assert COMMENT not in rules  # every TRACE rule is gone


def test_20_10_with_firewalld_on_is_accepted_in_the_docker_zone(
    labs: Callable[[str], Machine], lab_name: str
) -> None:
    machine = labs(lab_name)
    provisioned(machine, "20.10", "on")
    assert zone_of(host_of(machine), "docker0") == "docker"
    found = checks(machine, FOUNDING, "docker=20.10,firewalld=on")
    assert str(found["egress-ip"].rule) == "inet firewalld filter_FWDI_docker accept"
    assert all(r.judgement == "match" for r in found.values()), found


def test_the_probe_image_is_the_lab_machines_own(
    labs: Callable[[str], Machine], lab_name: str
) -> None:
    """The image holds the lab OS's busybox and libc, byte for byte, whatever the host has."""
    machine = labs(lab_name)
    provisioned(machine, "20.10", "on")
    rootfs = Path(LabState(lab_name).data["image"])  # the lab's own files, seen from here
    data = probe_image.build(probe_image.LocalRoot(rootfs))
    tag = probe_image.tag_for(data)
    listed = host_of(machine).run("docker images --format '{{.Repository}}:{{.Tag}}'").stdout
    assert tag in listed.split()


def test_a_probe_past_its_bound_is_a_timeout_for_that_check_alone(
    labs: Callable[[str], Machine], lab_name: str, tmp_path: Path
) -> None:
    """One check whose probe cannot finish within its hard bound: `timeout` for it, and
    the cell's other checks report as usual."""
    machine = labs(lab_name)
    provisioned(machine, "20.10", "on")
    folder = lab_copy(tmp_path)
    (folder / "test_slowed.py").write_text(
        "import pytest\n"
        "import harness.checks.probe as probes\n"
        "from harness.checks import Http\n\n\n"
        "@pytest.fixture\n"
        "def blackhole(machine):\n"
        "    rule = 'DOCKER-USER -d 203.0.113.77 -j DROP'\n"
        "    machine.run(f'iptables -I {rule}')\n"
        "    yield\n"
        "    machine.run(f'iptables -D {rule}')\n\n\n"
        "def test_slowed(probe, monkeypatch, blackhole):\n"
        '    """A probe that waits for an answer longer than its hard bound."""\n'
        "    monkeypatch.setattr(probes.Bounds, 'hard', property(lambda self: 2))\n"
        "    probe(Http('http://203.0.113.77/', expect='fwlab-internet'))\n"
    )
    found = checks(machine, lab_files.load(str(folder)), "docker=20.10,firewalld=on", judged=False)
    slowed = found["slowed"]
    assert (slowed.outcome, slowed.reason) == ("blocked", "timeout")
    assert "hard bound of 2 s" in slowed.detail
    others = [r for name, r in found.items() if name != "slowed"]
    assert len(others) == 8 and all(r.outcome == "pass" for r in others), found


def test_pytest_by_hand_against_a_lab_made_with_fwlab_up(
    run_fwlab: Callable,
    lab_name: str,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    """What the README shows: testinfra's own options, the cell read from the machine."""
    import subprocess
    import sys

    up = run_fwlab("up", "--name", lab_name, "--docker", "20.10", "--firewalld", "on")
    try:
        assert up.returncode == 0, up.stderr
        config = tmp_path / "lab.cfg"
        config.write_text(run_fwlab("ssh-config", lab_name).stdout)
        ran = subprocess.run(
            [sys.executable, "-m", "pytest", "labs/docker-firewalld", f"--ssh-config={config}",
             f"--hosts=ssh://{lab_name}", "-p", "no:cacheprovider", "-q"],
            capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[2],
        )  # fmt: skip
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
        assert "8 passed" in ran.stdout
    finally:
        run_fwlab("down", lab_name)


def test_bring_up_from_a_provisioned_layer_matches_a_fresh_provisioning(
    lab_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cached provisioned state boots to the same cell: provisioning only looks."""
    monkeypatch.setenv("FWLAB_LAYER_CACHE", str(tmp_path / "layers"))
    provider = get_provider("nspawn")
    recipe = pipeline.Recipe("bullseye", "19.03", "on")
    for attempt in ("builds the layer", "boots from it"):
        _machine, report = pipeline.bring_up(provider, lab_name, recipe)
        try:
            assert not report.changed, attempt  # the layer already is the cell
            assert not report.docker.real
        finally:
            provider.down(lab_name)
    assert len(list((tmp_path / "layers").iterdir())) == 2  # the layer and its lock


def test_a_kept_lab_rechecks_in_its_kept_scaffold(lab_name: str) -> None:
    """`fwlab check` on a kept lab: the first run leaves the servers and one client per
    probe; the next reuses them (no container started) and observes the same; a run that
    keeps nothing (the workshop's) replaces and removes them."""
    provider = get_provider("nspawn")
    spec = FOUNDING.select(["docker=19.03,firewalld=on"])[0]
    machine, _report = pipeline.bring_up(provider, lab_name, pipeline.Recipe.of(FOUNDING, spec))
    host = host_of(machine)

    def scaffold_ids() -> dict[str, str]:
        fmt = "'{{.Names}} {{.ID}}'"
        listed = host.run(f"docker ps -q --filter label=fwlab.scaffold=1 --format {fmt}")
        return dict(line.split() for line in listed.stdout.splitlines())

    def observed(results: list) -> list:  # type: ignore[type-arg]
        return [(r.name, r.outcome, r.reason, str(r.rule), r.judgement) for r in results]

    try:
        first = pipeline.check(provider, machine, FOUNDING, spec, keep_scaffold=True)
        kept = scaffold_ids()
        assert {"fwlab-srv", "fwlab-srv0", "fwlab-cli-egress-ip"} <= set(kept)
        again = pipeline.check(provider, machine, FOUNDING, spec, keep_scaffold=True)
        assert scaffold_ids() == kept  # the same containers: nothing was started
        assert observed(again) == observed(first)
        assert all(r.judgement == "match" for r in again), observed(again)
        assert COMMENT not in host.run("iptables -t raw -S PREROUTING").stdout
        pipeline.check(provider, machine, FOUNDING, spec, only=["egress-ip"])
        assert "fwlab-srv" not in scaffold_ids()  # a throwaway run tears its servers down
    finally:
        provider.down(lab_name)
