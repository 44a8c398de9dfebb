"""The probe scaffold: the probe image, and the servers probes talk to, started once per
cell. Probes name a server's address as `{ip:NAME}`.

Every lab gets two web servers (busybox httpd on port 8080, page `fwlab-c2c`): one on
the default bridge (`fwlab-srv0`) and one on the user-defined network `fwlab-net`
(`fwlab-srv`). A lab's own conftest.py can start more (`scaffold.server(...)`) and make
networks (`scaffold.network(...)`).

Each probe runs in a client container of its own (`fwlab-cli-<check>`, its MAC address
its own, a `sleep` as its process), entered with `nsenter`. Kept (`keep`: the machine is
kept, or thrown away anyway), the scaffold stays for the next run: each container carries
a label of what it is (lab, image, options, command), and one that differs, or belongs to
another lab, is replaced, never reused. Not kept (a workshop student's machine), the run
removes what it made.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.checks.probe import Bounds, Probe, client_options, mac_for
from harness.errors import FwlabError
from harness.provision.probe_image import PROBE_NETWORK, SERVER_PAGE

SERVER_PORT = 8080
DEFAULT_SERVERS = {"fwlab-srv0": "bridge", "fwlab-srv": PROBE_NETWORK}
LABEL = "fwlab.scaffold=1"
#: A client's own process: it only keeps the container's namespaces for the probes.
CLIENT_COMMAND = "sleep 2147483647"
#: Starting the two default servers at once takes about this long on an idle machine.
IDLE_START_SECONDS = 1.0
#: A loaded host gives probes' containers at most this many times more time to start.
MAX_SCALE = 8.0
_PLACEHOLDER = re.compile(r"\{ip:(?P<name>[A-Za-z0-9_.-]+)\}")


class ScaffoldError(FwlabError):
    """The scaffold could not be set up: every probe of the cell is an error."""


class Scaffold:
    def __init__(self, host: Any, time_scale: float = 1.0, lab: str = "", keep: bool = False):
        self.host = host
        self.time_scale = time_scale
        self.lab = lab
        self.keep = keep
        self.addresses: dict[str, str] = {}
        self.containers: list[str] = []
        self.networks: list[str] = []
        self.pace = 1.0  # how much slower than an idle machine containers start here
        self.image, self.found = survey(host, lab, keep)

    @property
    def bounds(self) -> Bounds:
        """Probe bounds for this machine: the provider's time scale, and the pace at which
        containers start here now."""
        return Bounds(max(self.time_scale, 1.0), min(MAX_SCALE, max(self.pace, 1.0)))

    def start(self, servers: dict[str, str] = DEFAULT_SERVERS) -> None:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(servers) or 1) as pool:
            made = list(pool.map(lambda item: self._server(*item), servers.items()))
        if any(made):  # only a start says how loaded the machine is
            self.pace = (time.monotonic() - started) / IDLE_START_SECONDS

    def network(self, name: str, *options: str) -> None:
        """A user-defined network (made if missing, removed by teardown if made here)."""
        if self.host.run(f"docker network inspect {shlex.quote(name)}").rc == 0:
            return
        out = self.host.run(f"docker network create {' '.join(options)} {shlex.quote(name)}")
        if out.rc != 0:
            raise ScaffoldError(f"could not make network {name}: {_said(out)}")
        self.networks.append(name)

    def server(
        self, name: str, network: str = "bridge", port: int = SERVER_PORT, publish: str = ""
    ) -> str:
        """A web server container on `network` (its port published as `publish`, e.g.
        "8080:8080" or "127.0.0.1:8080:8080", if given); returns its address there."""
        self._server(name, network, port, publish)
        return self.address(name)

    def _server(
        self, name: str, network: str = "bridge", port: int = SERVER_PORT, publish: str = ""
    ) -> bool:
        if network not in ("bridge", PROBE_NETWORK):
            self.network(network)
        options = ["--network", network] + (["-p", publish] if publish else [])
        return self._container(name, options, f"httpd -f -p {port} -h /www")

    def client(self, check: str, probe: Probe) -> tuple[str, str]:
        """The client container a probe runs in: (its name, its MAC address)."""
        name = "fwlab-cli-" + re.sub(r"[^A-Za-z0-9_.-]", "_", check)
        mac = mac_for(check)
        self._container(name, client_options(probe, mac), CLIENT_COMMAND)
        return name, mac

    def _container(self, name: str, options: list[str], command: str) -> bool:
        """Run `name` unless an identical one (same lab, image, options, command) already
        runs here; returns whether it started one."""
        self.containers.append(name)
        spec = _spec(self.lab, self.image, *options, command)
        if self.keep and self.found.get(name) == spec:
            return False
        if not self.keep or name in self.found:  # (keeping, survey() removed the others)
            self.host.run(f"docker rm -f {shlex.quote(name)}")
        labels = [
            f"--label={label}" for label in (LABEL, f"fwlab.lab={self.lab}", f"fwlab.spec={spec}")
        ]
        out = self.host.run(
            f"docker run -d --init --restart unless-stopped {shlex.join(labels)} "
            f"--name {shlex.quote(name)} {shlex.join(options)} {self.image} {command}"
        )
        if out.rc != 0:
            raise ScaffoldError(f"could not start {name}: {_said(out)}")
        return True

    def pids(self, names: list[str]) -> dict[str, int]:
        """Each container's main process (where a probe enters it): one command."""
        if not names:
            return {}
        fmt = shlex.quote("{{.Name}} {{.State.Pid}}")
        out = self.host.run(f"docker inspect -f {fmt} {' '.join(map(shlex.quote, names))}")
        found = {}
        for line in out.stdout.splitlines():
            name, _sep, pid = line.strip().lstrip("/").partition(" ")
            if pid.isdigit() and int(pid) > 0:
                found[name] = int(pid)
        missing = [n for n in names if n not in found]
        if missing:
            raise ScaffoldError(f"{', '.join(missing)} not running: {_said(out)}")
        return found

    def address(self, name: str) -> str:
        if name not in self.addresses:
            fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
            out = self.host.run(f"docker inspect -f {shlex.quote(fmt)} {shlex.quote(name)}")
            found = out.stdout.split()
            if out.rc != 0 or not found:
                raise ScaffoldError(f"no address for container {name}: {_said(out)}")
            self.addresses[name] = found[0]
        return self.addresses[name]

    def docker_restarted(self, timeout: float = 60) -> None:
        """After a lab restarts docker: wait until the servers run again (docker restarts
        them), and forget their addresses (they may have changed)."""
        names = " ".join(map(shlex.quote, self.containers))
        script = (
            f"for i in $(seq {int(timeout * 5)}); do "
            f"[ \"$(docker inspect -f '{{{{.State.Running}}}}' {names} 2>/dev/null "
            '| sort -u)" = true ] '
            "&& exit 0; sleep 0.2; done; exit 1"
        )
        if self.containers and self.host.run(f"sh -c {shlex.quote(script)}").rc != 0:
            raise ScaffoldError("the scaffold's servers did not come back after docker restarted")
        self.addresses.clear()

    def resolve(self, text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: self.address(m["name"]), text)

    def teardown(self) -> None:
        """Remove what this run made, unless the scaffold is kept for the next run."""
        if self.keep:
            return
        if self.containers:
            self.host.run(f"docker rm -f {' '.join(map(shlex.quote, self.containers))}")
        for net in self.networks:
            self.host.run(f"docker network rm {shlex.quote(net)}")


def probe_image_tag(host: Any) -> str:
    """The fwlab probe image on the machine (imported by provisioning)."""
    return survey(host)[0]


def survey(host: Any, lab: str = "", keep: bool = False) -> tuple[str, dict[str, str]]:
    """One command: the probe image's tag, and (keeping) the running scaffold containers
    this lab left, by name with their spec; any other scaffold container is removed."""
    listing = (
        "docker ps -a --filter label=fwlab.scaffold=1 --format "
        + shlex.quote('{{.Names}} {{.State}} {{.Label "fwlab.lab"}} {{.Label "fwlab.spec"}}')
        if keep
        else "true"
    )
    out = host.run(
        f"docker images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' fwlab/probe "
        f"&& echo --- && {listing}"
    )
    if out.rc != 0:
        raise ScaffoldError(f"docker does not answer: {_said(out)}")
    tags, _sep, containers = out.stdout.partition("---")
    if not tags.split():
        raise ScaffoldError("no fwlab/probe image on the machine (fwlab provision imports it)")
    found, stale = {}, []
    for line in containers.splitlines():
        name, state, owner, spec = (line.split() + ["", "", "", ""])[:4]
        if name and state == "running" and owner == lab:
            found[name] = spec
        elif name:
            stale.append(name)
    if stale:
        host.run(f"docker rm -f {' '.join(map(shlex.quote, stale))}")
    return tags.split()[0], found


def _spec(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _said(out: Any) -> str:
    lines = (out.stderr or out.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit {out.rc}"


__all__ = ["SERVER_PAGE", "Scaffold", "ScaffoldError", "probe_image_tag"]
