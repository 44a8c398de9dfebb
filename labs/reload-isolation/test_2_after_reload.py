"""After `firewall-cmd --reload` (and the cell's remedy)."""

import pytest

from harness.checks import Http

PAGE = "fwlab-c2c"


@pytest.fixture(scope="module", autouse=True)
def after_reload(reloaded):
    return reloaded


@pytest.mark.probe(Http("http://{ip:srv-b}:8080/", network="fwlab-a", expect=PAGE))
def test_isolated_after_reload(observation):
    """fwlab-a -> the listener on fwlab-b, after the reload: still kept apart?"""


@pytest.mark.probe(Http("http://{ip:srv-b}:8080/", network="fwlab-b", expect=PAGE))
def test_same_network_after_reload(observation):
    """fwlab-b -> the listener on fwlab-b, after the reload (control)."""


def test_isolation_chains_after_reload(machine):
    """Docker's isolation chains still drop traffic between its networks."""
    rules = machine.run("iptables -S DOCKER-ISOLATION-STAGE-2").stdout
    assert "-j DROP" in rules, f"DOCKER-ISOLATION-STAGE-2 holds no DROP: {rules.strip()}"
