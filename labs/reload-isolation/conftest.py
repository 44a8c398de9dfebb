"""The reload-isolation lab's scenario: two user networks with a listener on one, and
firewalld's reload (then the remedy) between the two test modules."""

import shlex

import pytest

NET_A, NET_B = "fwlab-a", "fwlab-b"
#: Docker puts its bridges back in the `docker` zone a second or two after a reload.
SETTLE = 30


@pytest.fixture(scope="session")
def networks(scaffold):
    """fwlab-a (the client's) and fwlab-b with a listener, srv-b, on port 8080."""
    scaffold.network(NET_A)
    scaffold.server("srv-b", network=NET_B)
    return scaffold


@pytest.fixture(scope="module")
def reloaded(machine, cell, networks):
    """`firewall-cmd --reload` while the containers run, then the cell's remedy."""
    assert machine.run("firewall-cmd --reload").rc == 0, "firewall-cmd --reload failed"
    if cell.get("remedy") == "docker-restart":
        assert machine.run("systemctl restart docker").rc == 0, "docker did not restart"
        networks.docker_restarted()
    # Probe the settled state: every Docker bridge back in the zone `docker`.
    bridges = machine.run("ls /sys/class/net | grep -E '^(docker0|br-)'").stdout.split()
    wanted = " ".join(f"-e {b}" for b in bridges)
    script = (
        f"for i in $(seq {SETTLE * 5}); do zone=$(firewall-cmd --zone=docker --list-interfaces); "
        f"[ $(echo \"$zone\" | tr ' ' '\\n' | grep -cx {wanted}) -eq {len(bridges)} ] && exit 0; "
        "sleep 0.2; done; exit 1"
    )
    assert machine.run(f"sh -c {shlex.quote(script)}").rc == 0, "docker's bridges did not settle"
    return True
