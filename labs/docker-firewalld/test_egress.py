"""Egress: do containers reach the internet through the lab's NAT?

The "internet" is a web server inside the lab's own namespaces: www.bing.com resolves
to 203.0.113.10 through the lab's resolver (10.0.2.3), as in the seed article.
"""

import pytest

from harness.checks import Http

INTERNET = "http://www.bing.com/"
INTERNET_IP = "http://203.0.113.10/"
PAGE = "fwlab-internet"


@pytest.mark.probe(Http(INTERNET, expect=PAGE))
def test_egress_name(observation):
    """Default bridge -> http://www.bing.com/, the name resolved by the lab's DNS."""


@pytest.mark.probe(Http(INTERNET_IP, expect=PAGE))
def test_egress_ip(observation):
    """Default bridge -> http://203.0.113.10/ (no name lookup)."""


@pytest.mark.probe(Http(INTERNET, network="fwlab-net", expect=PAGE))
def test_egress_user_net(observation):
    """User-defined network -> http://www.bing.com/ (through Docker's embedded DNS)."""


@pytest.mark.probe(Http(INTERNET, network="host", expect=PAGE))
def test_host_network(observation):
    """--network=host -> http://www.bing.com/: nothing is forwarded (the seed's workaround)."""
