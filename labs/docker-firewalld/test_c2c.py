"""Container to container: on a user-defined network and on the default bridge.

The scaffold runs a web server on each (fwlab-srv on fwlab-net, fwlab-srv0 on the
default bridge), serving the page "fwlab-c2c" on port 8080.
"""

import pytest

from harness.checks import Http, Ping

PAGE = "fwlab-c2c"


@pytest.mark.probe(Http("http://fwlab-srv:8080/", network="fwlab-net", expect=PAGE))
def test_c2c_name(observation):
    """Container -> container by name on a user-defined network."""


@pytest.mark.probe(Http("http://{ip:fwlab-srv}:8080/", network="fwlab-net", expect=PAGE))
def test_c2c_ip(observation):
    """Container -> container by address on a user-defined network."""


@pytest.mark.probe(Http("http://{ip:fwlab-srv0}:8080/", expect=PAGE))
def test_c2c_default_bridge(observation):
    """Container -> container by address on the default bridge."""


@pytest.mark.probe(Ping("{ip:fwlab-srv0}"))
def test_icmp_c2c(observation):
    """Ping between containers on the default bridge (ICMP may pass while TCP is blocked)."""
