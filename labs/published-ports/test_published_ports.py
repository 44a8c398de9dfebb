"""From a client on the lab's network (its NAT gateway), outside the machine."""

import pytest

from harness.checks import Http


@pytest.mark.probe(Http("http://10.0.2.15:8080/", network="outside", expect="fwlab-c2c"))
def test_published_port(observation, listeners):
    """10.0.2.15:8080, published by `docker run -p 8080:8080`: firewalld's zone does not open it."""


@pytest.mark.probe(Http("http://10.0.2.15:9090/", network="outside", expect="fwlab-host"))
def test_host_port_closed(observation, listeners):
    """10.0.2.15:9090, a plain listener on the machine: firewalld's zone refuses it."""
