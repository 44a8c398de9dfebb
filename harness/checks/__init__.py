"""Checks: a lab's `test_*.py` files, run by pytest + testinfra against its machine.

What a lab's tests import from here:

    from harness.checks import Http, Ping

    @pytest.mark.probe(Http("http://www.bing.com/", expect="fwlab-internet"))
    def test_egress_name(observation):
        "Containers on the default bridge reach the internet by name."

`probe.py` runs and classifies probes, `scaffold.py` starts the servers they talk to,
`plugin.py` is the pytest side (fixtures, judging against lab.toml), `runner.py` runs a
lab's tests against one machine and reads the results back from pytest's JUnit XML.
"""

from harness.checks.probe import Http, Ping, Probe

__all__ = ["Http", "Ping", "Probe"]
