"""Test doubles and sample results, shared by the unit tests.

- `FakeProvider`: a Provider that keeps machines in memory (no root, no namespaces), and
  records what was asked of it.
- `Out`: what a testinfra host's `run` returns (rc, stdout, stderr), for fake hosts.
- `sample_matrix()`: a realistic founding-lab run, its traces read from the real captures
  in tests/unit/data/traces by the real trace reader (so deciding hops are real ones):

  =======================================  ==========================================
  docker=19.03,firewalld=on,os=bullseye    stood in; TCP rejected, DNS dns, as expected
  docker=20.10,firewalld=on,os=bullseye    MISMATCH: c2c-ip expected pass by
                                           filter_FWDI_docker, observed blocked/rejected
                                           (outcome and rule differ)
  docker=19.03,firewalld=off,os=bullseye   error: the machine never booted
  docker=20.10,firewalld=off,os=bullseye   egress-ip could not run (error); rest pass
  =======================================  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.models import (
    Cell,
    CellResult,
    CheckResult,
    Expectation,
    Layer,
    MatrixResult,
    PacketTrace,
    Rule,
)
from harness.providers.base import Machine, Provider, Provisioning
from harness.ssh import SshEndpoint
from harness.trace import analyse

TRACES = Path(__file__).parent / "data" / "traces" / "debian11-firewalld-0.9.3"
REJECT = Rule("inet", "firewalld", "filter_FORWARD", "reject")
DOCKER_ZONE = Rule("inet", "firewalld", "filter_FWDI_docker", "accept")


@dataclass
class Out:
    """What a testinfra host's `run` returns."""

    rc: int = 0
    stdout: str = ""
    stderr: str = ""


def trace(name: str) -> PacketTrace:
    """The headline packet of one of the project's own captures."""
    head = analyse((TRACES / name).read_text()).headline
    assert head is not None
    return head


def cell(docker: str, firewalld: str, os: str = "bullseye") -> Cell:
    return Cell.of(docker=docker, firewalld=firewalld, os=os)


def check(
    name: str,
    outcome: str,
    reason: str | None = None,
    expected: Expectation | None = None,
    trace_file: str | None = None,
    detail: str = "",
) -> CheckResult:
    return CheckResult(
        name=name,
        outcome=outcome,  # type: ignore[arg-type]
        reason=reason,
        detail=detail or {"pass": "ok: 'fwlab-internet' received"}.get(outcome, "No route to host"),
        seconds=0.5,
        trace=trace(trace_file) if trace_file else None,
        expected=expected,
    )


FIDELITY_STOOD_IN = {
    "machine": Layer(
        False,
        "a Debian bullseye systemd-nspawn container stands in for a VirtualBox CentOS 8 VM on NAT",
    ),
    "firewalld": Layer(True, "firewalld 0.9.3 (nftables backend), running"),
    "docker": Layer(False, "Debian's docker.io 20.10.5 stands in for Docker 19.03"),
}
FIDELITY_REAL_DOCKER = {
    **FIDELITY_STOOD_IN,
    "docker": Layer(True, "Docker 20.10.5 (Debian's docker.io)"),
}
PROBE_ERROR = "the probe could not run (exit 125): docker: Error response from daemon"
VERSIONS = {"os": "debian 11", "firewalld": "0.9.3", "docker": "20.10.5", "nftables": "0.9.8"}


def sample_matrix(judged: bool = True) -> MatrixResult:
    blocked = Expectation("blocked", "rejected", REJECT, "lab.toml cell 1, 'c2c-*'")
    dns = Expectation("blocked", "dns", REJECT, "lab.toml cell 1, 'egress-name'")
    passes = Expectation("pass", None, DOCKER_ZONE, "lab.toml cell 2, '*'")
    plain = Expectation("pass", None, None, "lab.toml [expect], '*'")
    cells = [
        CellResult(
            cell("19.03", "on"), "nspawn", FIDELITY_STOOD_IN, VERSIONS,
            [
                check("egress-name", "blocked", "dns", dns, "nft-nozone-egress.txt",
                      "wget: bad address 'www.bing.com'"),
                check("egress-ip", "blocked", "rejected", blocked, "nft-nozone-egress.txt"),
                check("c2c-ip", "blocked", "rejected", blocked, "nft-nozone-c2c.txt"),
                check("host-network", "pass", None, plain),
            ],
            why="bridges in no firewalld zone",
        ),
        CellResult(
            cell("20.10", "on"), "nspawn", FIDELITY_REAL_DOCKER, VERSIONS,
            [
                check("egress-name", "pass", None, passes, "nft-zonedocker.txt"),
                check("egress-ip", "pass", None, passes, "nft-zonedocker.txt"),
                check("c2c-ip", "blocked", "rejected", passes, "nft-nozone-c2c.txt"),
                check("host-network", "pass", None, plain),
            ],
        ),
        CellResult(
            cell("19.03", "off"), "nspawn", FIDELITY_STOOD_IN,
            error="lab m1-2 did not finish booting: degraded\n--- last lines ---\nboot log",
        ),
        CellResult(
            cell("20.10", "off"), "nspawn", FIDELITY_REAL_DOCKER, VERSIONS,
            [
                check("egress-name", "pass", None, plain),
                check("egress-ip", "error", None, plain, detail=PROBE_ERROR),
                check("c2c-ip", "pass", None, plain),
                check("host-network", "pass", None, None),
            ],
        ),
    ]  # fmt: skip
    if not judged:
        for c in cells:
            for k in c.checks:
                k.expected = None
    return MatrixResult("docker-firewalld", "nspawn", cells, judged=judged, seconds=42.0)


class FakeProvider(Provider):
    """Machines in memory. `fail_up` names machines whose `up` raises."""

    name = "fake"

    def __init__(self, tmp: Path, fail_up: set[str] | None = None):
        self.tmp = tmp
        self.machines: dict[str, Machine] = {}
        self.kept: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.fail_up = fail_up or set()

    def up(
        self,
        name,
        progress=None,
        ephemeral=False,
        release=None,
        provisioned: Provisioning | None = None,
    ):  # type: ignore[no-untyped-def]  # noqa: E501
        self.calls.append(("up", name))
        if name in self.fail_up:
            raise RuntimeError(f"{name} would not boot")
        endpoint = SshEndpoint(name, "192.0.2.1", "root", 22, str(self.tmp / "key"))
        config = self.tmp / f"{name}.ssh_config"
        endpoint.write(config)
        machine = Machine(name, self.name, "running", endpoint, config, {"release": release or ""})
        self.machines[name] = machine
        if not ephemeral:
            self.kept.add(name)
        return machine

    def keep(self, name):  # type: ignore[no-untyped-def]
        self.kept.add(name)

    def down(self, name, progress=None):  # type: ignore[no-untyped-def]
        self.calls.append(("down", name))
        self.machines.pop(name, None)
        return [f"machine {name}"]

    def status(self, name):  # type: ignore[no-untyped-def]
        return self.machines.get(name) or Machine(name, self.name, "absent")

    def list(self):  # type: ignore[no-untyped-def]
        return list(self.machines.values())

    def machine_layer(self, name, stands_for):  # type: ignore[no-untyped-def]
        return Layer(False, f"a fake machine stands in for {stands_for}")
