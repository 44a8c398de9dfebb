"""The localhost-publish lab's scenario: a container published on 127.0.0.1 only, and a
neighbour that routes the container subnet through the lab machine."""

import pytest

LAB_ADDRESS = "10.0.2.15"


@pytest.fixture(scope="session")
def published(scaffold):
    """lh-srv on the default bridge, its port 8080 published on 127.0.0.1:8081 only."""
    scaffold.server("lh-srv", publish="127.0.0.1:8081:8080")
    return scaffold


@pytest.fixture(scope="session")
def routed(outside, published, machine):
    """The neighbour's route to the default bridge's subnet, through the lab machine."""
    fmt = "{{range .IPAM.Config}}{{.Subnet}}{{end}}"
    subnet = machine.run(f"docker network inspect -f '{fmt}' bridge").stdout.strip()
    assert subnet, "docker's default bridge has no subnet"
    out = outside.run(f"ip route replace {subnet} via {LAB_ADDRESS}")
    assert out.rc == 0, f"the neighbour could not add its route: {out.stderr.strip()}"
    yield subnet
    outside.run(f"ip route del {subnet} via {LAB_ADDRESS}")
