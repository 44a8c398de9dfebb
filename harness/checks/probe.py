"""Probes: one short network attempt from a container (or from outside the lab), and what
it saw, classified.

A probe runs in a client container of its own (the probe image, a MAC address of its own,
so its packets can be traced while several probes run at once), entered with `nsenter`
into all of the container's namespaces. It is bounded twice: the attempt inside
(`timeout N wget`) and the whole command outside (`timeout -k`). The
result is `pass`, `blocked` with a reason taken from the probe's own words:

- `rejected`: the network answered with an error (ICMP unreachable or prohibited, a reset);
- `timeout`: nothing answered within the probe's time (also when the machine was so slow
  that the probe outlived its hard bound);
- `dns`: the name did not resolve (the resolver said so);

or `error`: the probe could not run at all (Docker refused, the image is missing, SSH
failed). An error is never "blocked".

The probe container's resolver waits longer than any probe (`--dns-opt timeout:30`), so a
name query that nothing answers always ends as a `timeout`, on a fast machine or a slow one.
"""

from __future__ import annotations

import hashlib
import math
import re
import shlex
import time
from dataclasses import dataclass, replace
from typing import Any

from harness.errors import FwlabError
from harness.models import CheckResult

PROBE_TIMEOUT = 3  # seconds for the attempt itself: every peer is on this machine
START_ALLOWANCE = 6  # seconds more for the probe's command to start on a loaded machine
#: Exit statuses of the outer `timeout -k`: the probe outlived its hard bound.
HARD_TIMEOUT_STATUS = (124, 137)

_DNS = re.compile(
    r"bad address|unable to resolve|Name or service not known|Temporary failure in name "
    r"resolution|can't resolve|Could not resolve host|NXDOMAIN|SERVFAIL",
    re.IGNORECASE,
)
_REJECTED = re.compile(
    r"No route to host|Connection refused|Network is unreachable|Host is unreachable|"
    r"Destination (?:Host|Net|Port|Protocol) (?:Prohibited|Unreachable)|Packet filtered|"
    r"Connection reset|Communication prohibited|Admin prohibited",
    re.IGNORECASE,
)
_DOCKER_ERROR = re.compile(
    r"Error response from daemon|Unable to find image|Cannot connect to the Docker daemon|"
    r"^docker: |invalid reference format|OCI runtime|No such container|is not running|"
    r"^nsenter: ",
    re.IGNORECASE | re.MULTILINE,
)
_NO_REPLY = re.compile(r"\b0 packets received|100% packet loss", re.IGNORECASE)


@dataclass(frozen=True)
class Probe:
    """What to try. `target` may name scaffold containers as `{ip:NAME}`."""

    kind: str  # http | ping
    target: str  # a URL (http) or a host (ping)
    network: str = "bridge"  # the client's docker network, "host", or "outside" (not a container)
    expect: str = ""  # what a successful http probe prints

    def resolved(self, scaffold: Any) -> Probe:
        return replace(self, target=scaffold.resolve(self.target))

    @property
    def traceable(self) -> bool:
        """Its packets cross the lab's PREROUTING hook (the host network's never do)."""
        return self.network != "host"

    def describe(self) -> str:
        where = {"bridge": "default bridge", "outside": "outside the lab"}.get(
            self.network, f"network {self.network}"
        )
        return f"{self.kind} {self.target} from {where}"


def Http(url: str, network: str = "bridge", expect: str = "") -> Probe:  # noqa: N802
    """Fetch `url` with wget; it passes when the page holds `expect`."""
    return Probe("http", url, network, expect)


def Ping(host: str, network: str = "bridge") -> Probe:  # noqa: N802
    """One ICMP echo to `host`."""
    return Probe("ping", host, network, "1 packets received")


@dataclass(frozen=True)
class Bounds:
    """How long a probe may take on this machine. `scale`: how much slower the machine runs
    everything (an emulated VM); `pace`: how much slower it starts containers now (a
    loaded host). A slow machine waits longer for answers; a loaded one only for its
    containers to start (a local peer answers in milliseconds either way)."""

    scale: float = 1.0
    pace: float = 1.0

    @property
    def attempt(self) -> int:
        return math.ceil(PROBE_TIMEOUT * self.scale)

    @property
    def hard(self) -> int:
        return self.attempt + math.ceil(START_ALLOWANCE * max(self.scale, self.pace))


def mac_for(key: str) -> str:
    """A stable, locally administered unicast MAC for one probe (its trace selector)."""
    digest = hashlib.sha256(key.encode()).digest()
    return "0a:fb:" + ":".join(f"{b:02x}" for b in digest[:4])


def attempt_command(probe: Probe, bounds: Bounds, tools: str = "") -> str:
    """The attempt itself; `tools` prefixes each tool (e.g. "busybox ")."""
    if probe.kind == "http":
        target = shlex.quote(probe.target)
        return f"{tools}timeout {bounds.attempt} {tools}wget -q -O - {target}"
    if probe.kind == "ping":
        return f"{tools}ping -c 1 -W {bounds.attempt} {shlex.quote(probe.target)}"
    raise FwlabError(f"unknown probe kind {probe.kind!r}")


def client_options(probe: Probe, mac: str) -> list[str]:
    """`docker run` options of the client container a probe runs in: its network, its MAC
    address (its trace selector) and a resolver that waits longer than any probe."""
    if probe.network == "host":
        return ["--network", "host"]
    options = ["--mac-address", mac, "--dns-opt", "timeout:30", "--dns-opt", "attempts:1"]
    return options + (["--network", probe.network] if probe.network != "bridge" else [])


def nsenter_command(probe: Probe, pid: int, bounds: Bounds) -> str:
    """The probe inside its client container (the process `pid`): in every namespace of
    the container (its network, its resolver, its tools), as `docker exec` would put it,
    but without a Docker client, daemon and runtime round trip for each probe."""
    # `; exit $?`: the shell reports an attempt its `timeout` killed as exit 143, where a
    # shell that exec'd it would die of the signal and take every status with it.
    args = ["nsenter", "--target", str(pid), "--mount", "--uts", "--ipc", "--net", "--pid",
            "--root", "--wd", "sh", "-c", f"{attempt_command(probe, bounds)}; exit $?"]  # fmt: skip
    return f"timeout -k 2 {bounds.hard} {shlex.join(args)}"


def outside_command(probe: Probe, bounds: Bounds) -> str:
    """The probe from a client outside the lab, with busybox's tools there."""
    return f"timeout -k 2 {bounds.hard} {attempt_command(probe, bounds, tools='busybox ')}"


def classify(
    probe: Probe, rc: int, stdout: str, stderr: str, seconds: float, bounds: Bounds
) -> tuple[str, str | None, str]:
    """(outcome, reason, detail) from what the probe printed and how it ended."""
    said = "\n".join(s for s in (stdout.strip(), stderr.strip()) if s)
    last = next((ln.strip() for ln in reversed(said.splitlines()) if ln.strip()), "")
    if rc == 0 and probe.expect and probe.expect in stdout:
        return "pass", None, f"ok: {probe.expect!r} received"
    if rc in HARD_TIMEOUT_STATUS:  # the outer `timeout`: the probe outlived its hard bound
        return (
            "blocked",
            "timeout",
            f"the probe did not finish within its hard bound of {bounds.hard} s "
            f"(took {seconds:.1f} s; the machine may be slow)",
        )
    if rc in (125, 126, 127) or _DOCKER_ERROR.search(said):
        return "error", None, f"the probe could not run (exit {rc}): {last or 'no output'}"
    if _DNS.search(said):
        return "blocked", "dns", _line(_DNS, said)
    if _REJECTED.search(said):
        return "blocked", "rejected", _line(_REJECTED, said)
    if (
        rc in (124, 143)
        or "Terminated" in said
        or (probe.kind == "ping" and _NO_REPLY.search(said))
    ):
        return "blocked", "timeout", f"no answer within {bounds.attempt} s"
    if rc == 0:
        return "error", None, f"the probe ran, but its answer lacks {probe.expect!r}: {last}"
    return "error", None, f"unrecognised probe result (exit {rc}): {last or 'no output'}"


def _line(pattern: re.Pattern[str], text: str) -> str:
    return next(ln.strip() for ln in text.splitlines() if pattern.search(ln))


def run(host: Any, command: str, probe: Probe, bounds: Bounds, name: str = "") -> CheckResult:
    """Run a probe's command through a testinfra host and classify what happened. A
    failure of the connection itself is this check's error, never the others'."""
    started = time.monotonic()
    try:
        out = host.run(command)
    except Exception as exc:  # the connection, not the probe: this check only
        seconds = time.monotonic() - started
        return CheckResult(name, "error", None, f"SSH failed: {exc}", seconds, probe.describe())
    seconds = time.monotonic() - started
    outcome, reason, detail = classify(probe, out.rc, out.stdout, out.stderr, seconds, bounds)
    return CheckResult(name, outcome, reason, detail, seconds, probe.describe())  # type: ignore[arg-type]
