"""Before firewalld reloads: Docker keeps its networks apart."""

import pytest

from harness.checks import Http

PAGE = "fwlab-c2c"


@pytest.mark.probe(Http("http://{ip:srv-b}:8080/", network="fwlab-a", expect=PAGE))
def test_isolated_before_reload(observation, networks):
    """fwlab-a -> a listener on fwlab-b: Docker's isolation drops it."""


@pytest.mark.probe(Http("http://{ip:srv-b}:8080/", network="fwlab-b", expect=PAGE))
def test_same_network_before_reload(observation, networks):
    """fwlab-b -> the listener on fwlab-b (control: the listener answers)."""
