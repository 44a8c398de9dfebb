"""The checks: what each probe runs on the lab machine and how its result is read.

Each probe is one short-lived container (`docker run --rm --init`, so a
blocked probe never waits on a PID 1 that ignores SIGTERM) with a bounded
timeout inside and a harder one around it: a blocked check ends within 10 s.

Every check records what really happened: pass or blocked, the probe's own
output (e.g. "No route to host") and the time it took.
"""

from __future__ import annotations

import math
import shlex
import time
from dataclasses import dataclass
from typing import Any, Callable

from harness.internet import ADDR as INTERNET_IP
from harness.internet import MARKER as INTERNET_MARKER
from harness.internet import NAME as INTERNET_NAME
from harness.models import CheckResult
from harness.provision.probe_image import PROBE_NETWORK, SERVER_PAGE

NET = PROBE_NETWORK
SERVER = "fwlab-srv"  # on the user-defined network
BRIDGE_SERVER = "fwlab-srv0"  # on the default bridge
SERVER_PORT = 8080
PROBE_TIMEOUT = 3  # seconds, inside the container: every peer is on this machine
HARD_TIMEOUT = 9  # seconds, around `docker run` itself


@dataclass
class Scaffold:
    """The servers the c2c checks talk to, set up once per cell."""

    image: str
    server_ip: str  # SERVER's address on NET
    bridge_server_ip: str  # BRIDGE_SERVER's address on the default bridge
    net_subnet: str
    bridge_subnet: str
    time_scale: float = 1.0  # a slow machine (an emulated VM) gets proportionally longer

    @property
    def probe_timeout(self) -> int:
        return math.ceil(PROBE_TIMEOUT * self.time_scale)

    @property
    def hard_timeout(self) -> int:
        return math.ceil(HARD_TIMEOUT * self.time_scale)

    @property
    def monitor_seconds(self) -> int:
        """How long a trace's monitors may run: two probe attempts and some slack."""
        return 2 * self.hard_timeout + 2

    def subnet_of(self, check: Check) -> str:
        """Where the check's packets come from: what a TRACE rule is narrowed to."""
        return self.bridge_subnet if check.network == "bridge" else self.net_subnet


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    command: Callable[[Scaffold], str]
    expect_text: str  # what a successful probe prints
    network: str  # the docker network the probe's packets come from ("host": none)
    traceable: bool = True  # a TCP SYN from a container subnet that TRACE can follow


def docker_run(s: Scaffold, args: str, network: str | None = None) -> str:
    net = f" --network {network}" if network else ""
    return f"timeout -k 2 {s.hard_timeout} docker run --rm --init{net} {s.image} {args}"


def wget(s: Scaffold, url: str) -> str:
    # busybox wget -T segfaults here; `timeout` bounds it instead.
    return f"timeout {s.probe_timeout} wget -q -O - {url}"


CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        Check(
            "egress-name",
            f"default bridge -> http://{INTERNET_NAME}/ (resolved by the lab's DNS)",
            lambda s: docker_run(s, wget(s, f"http://{INTERNET_NAME}/")),
            INTERNET_MARKER,
            "bridge",
        ),
        Check(
            "egress-ip",
            f"default bridge -> http://{INTERNET_IP}/",
            lambda s: docker_run(s, wget(s, f"http://{INTERNET_IP}/")),
            INTERNET_MARKER,
            "bridge",
        ),
        Check(
            "egress-user-net",
            f"user-defined network -> http://{INTERNET_NAME}/",
            lambda s: docker_run(s, wget(s, f"http://{INTERNET_NAME}/"), NET),
            INTERNET_MARKER,
            NET,
        ),
        Check(
            "c2c-name",
            f"container -> container by name on a user-defined network ({SERVER})",
            lambda s: docker_run(s, wget(s, f"http://{SERVER}:{SERVER_PORT}/"), NET),
            SERVER_PAGE.strip(),
            NET,
        ),
        Check(
            "c2c-ip",
            "container -> container by IP on a user-defined network",
            lambda s: docker_run(s, wget(s, f"http://{s.server_ip}:{SERVER_PORT}/"), NET),
            SERVER_PAGE.strip(),
            NET,
        ),
        Check(
            "c2c-default-bridge",
            "container -> container by IP on the default bridge",
            lambda s: docker_run(s, wget(s, f"http://{s.bridge_server_ip}:{SERVER_PORT}/")),
            SERVER_PAGE.strip(),
            "bridge",
        ),
        Check(
            "icmp-c2c",
            "ping between containers on the default bridge (TCP may be blocked while ICMP passes)",
            lambda s: docker_run(s, f"ping -c 1 -W {s.probe_timeout} {s.bridge_server_ip}"),
            "1 packets received",
            "bridge",
            traceable=False,
        ),
        Check(
            "host-network",
            f"--network=host -> http://{INTERNET_NAME}/ (the seed's workaround)",
            lambda s: docker_run(s, wget(s, f"http://{INTERNET_NAME}/"), "host"),
            INTERNET_MARKER,
            "host",
            traceable=False,
        ),
    )
}


def run_check(host: Any, check: Check, scaffold: Scaffold) -> CheckResult:
    """Run one check through a testinfra host and read what happened."""
    started = time.monotonic()
    cmd = host.run(check.command(scaffold))
    seconds = time.monotonic() - started
    output = "\n".join((cmd.stdout, cmd.stderr)).strip()
    passed = cmd.rc == 0 and check.expect_text in cmd.stdout
    if passed:
        detail = f"ok: {check.expect_text!r} received"
    elif cmd.rc in (124, 137, 143) and not output:  # killed by `timeout`: no answer at all
        detail = f"timed out after {seconds:.1f} s (no answer, no error)"
    else:
        lines = [ln for ln in output.splitlines() if ln.strip()]
        detail = lines[-1] if lines else f"exit status {cmd.rc}"
    return CheckResult(
        name=check.name,
        observed="pass" if passed else "blocked",
        detail=detail,
        seconds=seconds,
    )


SETUP_SCRIPT = """\
set -e
docker rm -f {server} {bridge_server} >/dev/null 2>&1 || true
docker network inspect {net} >/dev/null 2>&1 || docker network create {net} >/dev/null
docker run -d --init --name {server} --network {net} {image} httpd -f -p {port} -h /www >/dev/null
docker run -d --init --name {bridge_server} {image} httpd -f -p {port} -h /www >/dev/null
fmt='{{{{range .NetworkSettings.Networks}}}}{{{{.IPAddress}}}}{{{{end}}}}'
echo "$(docker inspect -f "$fmt" {server})"
echo "$(docker inspect -f "$fmt" {bridge_server})"
docker network inspect -f '{{{{range .IPAM.Config}}}}{{{{.Subnet}}}}{{{{end}}}}' {net}
docker network inspect -f '{{{{range .IPAM.Config}}}}{{{{.Subnet}}}}{{{{end}}}}' bridge
"""

# The network stays: it belongs to the provisioned machine (see PROBE_NETWORK).
TEARDOWN_SCRIPT = f"docker rm -f {SERVER} {BRIDGE_SERVER} >/dev/null 2>&1; true"


def setup_scaffold(host: Any, image: str, time_scale: float = 1.0) -> Scaffold:
    script = SETUP_SCRIPT.format(
        server=SERVER, bridge_server=BRIDGE_SERVER, net=NET, image=image, port=SERVER_PORT
    )
    out = host.run(f"sh -c {shlex.quote(script)}")
    if out.rc != 0:
        raise RuntimeError(f"could not start the c2c servers: {(out.stderr or out.stdout).strip()}")
    server_ip, bridge_ip, net_subnet, bridge_subnet = out.stdout.split()[:4]
    return Scaffold(image, server_ip, bridge_ip, net_subnet, bridge_subnet, time_scale)


def teardown_scaffold(host: Any) -> None:
    host.run(TEARDOWN_SCRIPT)


def probe_image_tag(host: Any) -> str:
    """The newest imported fwlab probe image on the machine."""
    out = host.run("docker images --format '{{.Repository}}:{{.Tag}}' fwlab/probe")
    tags = out.stdout.split()
    if not tags:
        raise RuntimeError("no fwlab/probe image on the machine: run `fwlab provision` first")
    return tags[0]
