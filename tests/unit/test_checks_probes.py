"""harness.checks.probes: what each check runs, and how run_check reads the result."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

import pytest

from harness.checks import CHECKS, Check
from harness.checks.probes import (
    BRIDGE_SERVER,
    HARD_TIMEOUT,
    INTERNET_IP,
    INTERNET_MARKER,
    INTERNET_NAME,
    NET,
    PROBE_TIMEOUT,
    SERVER,
    SERVER_PORT,
    Scaffold,
    probe_image_tag,
    run_check,
    setup_scaffold,
    teardown_scaffold,
)

IMAGE = "fwlab/probe:0123456789ab"
SCAFFOLD = Scaffold(
    image=IMAGE,
    server_ip="172.18.0.2",
    bridge_server_ip="172.17.0.2",
    net_subnet="172.18.0.0/16",
    bridge_subnet="172.17.0.0/16",
)
NO_ROUTE = "wget: can't connect to remote host (203.0.113.10): No route to host"


@dataclass
class Out:
    rc: int
    stdout: str = ""
    stderr: str = ""


@dataclass
class FakeHost:
    """A testinfra-like host: one canned answer, every command recorded."""

    answer: Out
    commands: list[str] = field(default_factory=list)

    def run(self, command: str) -> Out:
        self.commands.append(command)
        return self.answer


# -- what the checks run ------------------------------------------------------------------
def test_the_checks() -> None:
    assert {
        "egress-name",
        "egress-ip",
        "c2c-name",
        "c2c-ip",
        "c2c-default-bridge",
        "icmp-c2c",
        "host-network",
    } <= set(CHECKS)
    assert list(CHECKS) == [
        "egress-name",
        "egress-ip",
        "egress-user-net",
        "c2c-name",
        "c2c-ip",
        "c2c-default-bridge",
        "icmp-c2c",
        "host-network",
    ]
    for name, check in CHECKS.items():
        assert isinstance(check, Check)
        assert check.name == name
        assert check.description
        assert check.expect_text


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_every_command_is_bounded(name: str) -> None:
    command = CHECKS[name].command(SCAFFOLD)
    assert command.startswith("timeout -k 2 9 docker run --rm --init")
    assert f"timeout -k 2 {HARD_TIMEOUT} docker run --rm --init" in command
    assert IMAGE in command
    assert HARD_TIMEOUT > PROBE_TIMEOUT  # the inner timeout ends first
    argv = shlex.split(command)
    inner = argv[argv.index(IMAGE) + 1 :]
    if inner[0] == "timeout":
        assert inner[1] == str(PROBE_TIMEOUT)
    else:
        assert inner[:2] == ["ping", "-c"]
        assert inner[inner.index("-W") + 1] == str(PROBE_TIMEOUT)


@pytest.mark.parametrize(
    "name, target, network",
    [
        ("egress-name", f"http://{INTERNET_NAME}/", None),
        ("egress-ip", f"http://{INTERNET_IP}/", None),
        ("egress-user-net", f"http://{INTERNET_NAME}/", NET),
        ("c2c-name", f"http://{SERVER}:{SERVER_PORT}/", NET),
        ("c2c-ip", f"http://172.18.0.2:{SERVER_PORT}/", NET),
        ("c2c-default-bridge", f"http://172.17.0.2:{SERVER_PORT}/", None),
        ("icmp-c2c", "172.17.0.2", None),
        ("host-network", f"http://{INTERNET_NAME}/", "host"),
    ],
)
def test_targets_and_networks(name: str, target: str, network: str | None) -> None:
    argv = shlex.split(CHECKS[name].command(SCAFFOLD))
    assert argv[-1] == target
    if network is None:
        assert "--network" not in argv
    else:
        assert argv[argv.index("--network") + 1] == network
    expected_network = "bridge" if network is None else network
    assert CHECKS[name].network == expected_network


def test_expected_texts() -> None:
    assert INTERNET_MARKER == "fwlab-internet"
    for name in ("egress-name", "egress-ip", "egress-user-net", "host-network"):
        assert CHECKS[name].expect_text == INTERNET_MARKER
    for name in ("c2c-name", "c2c-ip", "c2c-default-bridge"):
        assert CHECKS[name].expect_text == "fwlab-c2c"
    assert CHECKS["icmp-c2c"].expect_text == "1 packets received"


def test_only_container_tcp_checks_are_traceable() -> None:
    untraceable = {name for name, check in CHECKS.items() if not check.traceable}
    assert untraceable == {"icmp-c2c", "host-network"}


# -- run_check ----------------------------------------------------------------------------
def test_pass_when_rc_0_and_marker_received() -> None:
    host = FakeHost(Out(0, "<html><h1>fwlab-internet</h1></html>\n"))
    result = run_check(host, CHECKS["egress-ip"], SCAFFOLD)
    assert host.commands == [CHECKS["egress-ip"].command(SCAFFOLD)]
    assert result.name == "egress-ip"
    assert result.observed == "pass"
    assert result.detail == "ok: 'fwlab-internet' received"
    assert result.expected is None
    assert result.seconds >= 0


def test_icmp_pass() -> None:
    out = Out(0, "1 packets transmitted, 1 packets received, 0% packet loss\n")
    assert run_check(FakeHost(out), CHECKS["icmp-c2c"], SCAFFOLD).observed == "pass"


def test_rc_0_without_the_marker_is_blocked() -> None:
    # e.g. a captive portal or the wrong server answered.
    result = run_check(FakeHost(Out(0, "<html>hello</html>\n")), CHECKS["egress-ip"], SCAFFOLD)
    assert result.observed == "blocked"
    assert result.detail == "<html>hello</html>"


def test_marker_with_a_failing_exit_status_is_blocked() -> None:
    result = run_check(FakeHost(Out(1, "fwlab-internet", "")), CHECKS["egress-ip"], SCAFFOLD)
    assert result.observed == "blocked"


def test_blocked_detail_is_the_last_stderr_line() -> None:
    out = Out(1, "", f"Connecting to {INTERNET_IP} ({INTERNET_IP}:80)\n{NO_ROUTE}\n\n")
    result = run_check(FakeHost(out), CHECKS["egress-ip"], SCAFFOLD)
    assert result.observed == "blocked"
    assert result.detail == NO_ROUTE


def test_bad_address_detail() -> None:
    out = Out(1, "", "wget: bad address 'www.bing.com'\n")
    result = run_check(FakeHost(out), CHECKS["egress-name"], SCAFFOLD)
    assert (result.observed, result.detail) == ("blocked", "wget: bad address 'www.bing.com'")


@pytest.mark.parametrize("rc", [124, 137, 143])
def test_timed_out_without_output(rc: int) -> None:
    result = run_check(FakeHost(Out(rc)), CHECKS["c2c-ip"], SCAFFOLD)
    assert result.observed == "blocked"
    assert result.detail.startswith("timed out after ")
    assert result.detail.endswith(" s (no answer, no error)")


def test_killed_with_output_reports_the_output() -> None:
    result = run_check(FakeHost(Out(143, "", "Terminated\n")), CHECKS["c2c-ip"], SCAFFOLD)
    assert result.detail == "Terminated"


def test_silent_failure_reports_the_exit_status() -> None:
    result = run_check(FakeHost(Out(125, "", "  \n")), CHECKS["c2c-ip"], SCAFFOLD)
    assert (result.observed, result.detail) == ("blocked", "exit status 125")


# -- scaffold -----------------------------------------------------------------------------
def test_setup_scaffold_reads_the_addresses() -> None:
    host = FakeHost(Out(0, "172.18.0.2\n172.17.0.2\n172.18.0.0/16\n172.17.0.0/16\n"))
    assert setup_scaffold(host, IMAGE) == SCAFFOLD
    [command] = host.commands
    script = shlex.split(command)[2]
    assert f"--name {SERVER} --network {NET} {IMAGE} httpd -f -p {SERVER_PORT}" in script
    assert f"--name {BRIDGE_SERVER} {IMAGE} httpd" in script
    assert "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}" in script


def test_setup_scaffold_failure() -> None:
    host = FakeHost(Out(1, "", "docker: Error response from daemon: no such image\n"))
    with pytest.raises(RuntimeError, match="could not start the c2c servers: docker: Error"):
        setup_scaffold(host, IMAGE)


def test_teardown_scaffold_keeps_the_network() -> None:
    host = FakeHost(Out(0))
    teardown_scaffold(host)
    [command] = host.commands
    assert f"docker rm -f {SERVER} {BRIDGE_SERVER}" in command
    assert "network" not in command


def test_probe_image_tag() -> None:
    assert probe_image_tag(FakeHost(Out(0, f"{IMAGE}\nfwlab/probe:old\n"))) == IMAGE
    with pytest.raises(RuntimeError, match="no fwlab/probe image"):
        probe_image_tag(FakeHost(Out(0, "")))
