"""Probes: the command each one runs, and how what it saw becomes pass, blocked with a
reason (rejected / timeout / dns), or error."""

from __future__ import annotations

import pytest

from harness.checks.probe import (
    Bounds,
    Http,
    Ping,
    classify,
    client_options,
    mac_for,
    nsenter_command,
    outside_command,
    run,
)

BOUNDS = Bounds()
HTTP = Http("http://www.bing.com/", expect="fwlab-internet")
PING = Ping("172.17.0.2")


@pytest.mark.parametrize(
    ("probe", "rc", "stdout", "stderr", "expected"),
    [
        (HTTP, 0, "<h1>fwlab-internet</h1>", "", ("pass", None)),
        (
            HTTP,
            1,
            "",
            "wget: can't connect to remote host (203.0.113.10): No route to host",
            ("blocked", "rejected"),
        ),
        (
            HTTP,
            1,
            "",
            "wget: can't connect to remote host (172.17.0.2): Connection refused",
            ("blocked", "rejected"),
        ),
        (HTTP, 1, "", "wget: bad address 'www.bing.com'", ("blocked", "dns")),
        (HTTP, 143, "", "Terminated", ("blocked", "timeout")),
        (HTTP, 143, "", "", ("blocked", "timeout")),
        (HTTP, 124, "", "", ("blocked", "timeout")),  # the outer hard bound
        (HTTP, 137, "", "", ("blocked", "timeout")),
        (
            PING,
            1,
            "1 packets transmitted, 0 packets received, 100% packet loss",
            "",
            ("blocked", "timeout"),
        ),
        (PING, 0, "1 packets transmitted, 1 packets received, 0% packet loss", "", ("pass", None)),
        (
            HTTP,
            125,
            "",
            "docker: Error response from daemon: network fwlab-net not found.",
            ("error", None),
        ),
        (HTTP, 125, "", "Unable to find image 'fwlab/probe:x' locally", ("error", None)),
        (
            HTTP,
            1,
            "",
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.",
            ("error", None),
        ),
        (HTTP, 127, "", "sh: wget: not found", ("error", None)),
        (HTTP, 0, "a page without the marker", "", ("error", None)),
        (HTTP, 1, "", "something nobody has seen before", ("error", None)),
    ],
)
def test_classify(probe, rc, stdout, stderr, expected) -> None:  # type: ignore[no-untyped-def]
    outcome, reason, detail = classify(probe, rc, stdout, stderr, 1.0, BOUNDS)
    assert (outcome, reason) == expected
    assert detail


def test_the_hard_bound_says_it_may_be_the_machine() -> None:
    _outcome, _reason, detail = classify(HTTP, 124, "", "", 11.2, BOUNDS)
    assert "hard bound of 9 s" in detail and "slow" in detail


def test_a_probe_enters_its_client_and_is_bounded() -> None:
    command = nsenter_command(HTTP, 4242, BOUNDS)
    assert command.startswith("timeout -k 2 9 nsenter --target 4242 --mount --uts --ipc --net")
    assert "--pid --root --wd sh -c" in command  # the container's own root, tools, resolver
    assert command.endswith("'timeout 3 wget -q -O - http://www.bing.com/; exit $?'")


def test_a_client_is_traceable_and_patient_in_dns() -> None:
    options = client_options(HTTP, "0a:fb:00:00:00:01")
    assert options[:2] == ["--mac-address", "0a:fb:00:00:00:01"]
    assert "timeout:30" in options  # a lookup nothing answers ends as a timeout
    assert "--network" not in options  # the default bridge


def test_host_network_clients_carry_no_mac() -> None:
    assert client_options(Http("http://x/", network="host"), "0a:fb:00:00:00:02") == [
        "--network", "host"]  # fmt: skip


def test_user_network_clients_name_their_network() -> None:
    options = client_options(Http("http://x/", network="fwlab-net"), "0a:fb:00:00:00:03")
    assert options[-2:] == ["--network", "fwlab-net"]


def test_outside_probes_use_busybox_there() -> None:
    command = outside_command(Http("http://10.0.2.15:8080/", network="outside"), BOUNDS)
    assert command == "timeout -k 2 9 busybox timeout 3 busybox wget -q -O - http://10.0.2.15:8080/"


def test_macs_are_locally_administered_unicast_and_stable() -> None:
    mac = mac_for("egress-ip-1")
    assert mac == mac_for("egress-ip-1") != mac_for("egress-ip-2")
    first = int(mac.split(":")[0], 16)
    assert first & 0x02 and not first & 0x01


def test_placeholders_resolve_through_the_scaffold() -> None:
    class Scaffold:
        def resolve(self, text: str) -> str:
            return text.replace("{ip:fwlab-srv0}", "172.17.0.2")

    assert Ping("{ip:fwlab-srv0}").resolved(Scaffold()).target == "172.17.0.2"


def test_a_failed_connection_is_this_checks_error_only() -> None:
    class Broken:
        def run(self, command: str) -> None:
            raise OSError("Socket is closed")

    result = run(Broken(), "true", HTTP, BOUNDS, "egress-name")
    assert (result.name, result.outcome) == ("egress-name", "error")
    assert "SSH failed" in result.detail
