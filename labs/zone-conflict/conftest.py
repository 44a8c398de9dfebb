"""The zone-conflict lab's scenario: bind docker0 to a firewalld zone before docker
restarts (and, in one cell, take it out again)."""

import time

import pytest


def _bind(machine, action: str) -> None:
    for command in (
        f"firewall-cmd --permanent --zone=trusted --{action}-interface=docker0",
        "firewall-cmd --reload",
    ):
        out = machine.run(command)
        assert out.rc == 0, f"`{command}` failed: {out.stderr.strip()}"
    machine.run("systemctl restart docker")  # fails in the bug's cell: that is the point


@pytest.fixture(scope="session", autouse=True)
def zone_scenario(machine, cell):
    """The cell's steps; returns when they ran (the epoch second docker last restarted)."""
    started = int(time.time()) - 1
    zone = cell.get("zone") if cell else "none"
    if zone in ("trusted", "trusted-removed"):
        _bind(machine, "add")
    if zone == "trusted-removed":
        started = int(time.time()) - 1
        _bind(machine, "remove")
    return started
