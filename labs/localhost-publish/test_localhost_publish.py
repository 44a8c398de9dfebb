"""A port published on 127.0.0.1 only: who can reach the container behind it?"""

import pytest

from harness.checks import Http

PAGE = "fwlab-c2c"


def test_published_on_localhost(machine, published):
    """On the machine itself, 127.0.0.1:8081 reaches the container (the port works)."""
    out = machine.run("busybox timeout 3 busybox wget -q -O - http://127.0.0.1:8081/")
    assert PAGE in out.stdout, f"127.0.0.1:8081 did not answer: {out.stderr.strip()}"


@pytest.mark.probe(Http("http://{ip:lh-srv}:8080/", network="outside", expect=PAGE))
def test_neighbour_reaches_container(observation, routed):
    """A neighbour routing the container subnet through the machine reaches the container."""
