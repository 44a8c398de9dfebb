"""The base class every provisioning recipe builds on.

A recipe knows how to install a Docker version on one OS family. What it
means to put firewalld "on", "off" or "stopped-no-restart" is the same
systemctl dance on every systemd machine, so it lives here once.

Every step first looks, then acts only if the machine differs, and says
whether it changed anything: that is what makes provisioning idempotent.
"""

from __future__ import annotations

import io
import shlex
from abc import ABC, abstractmethod
from typing import Callable, ClassVar

from fabric import Connection
from invoke.runners import Result

from harness.errors import FwlabError

#: "distro": whatever the machine's OS release ships (docker.io 26.1 on trixie, ...).
DOCKER_VERSIONS = ("19.03", "20.10", "distro")
FIREWALLD_STATES = ("on", "off", "stopped-no-restart")


class ProvisionError(FwlabError):
    """A provisioning command failed; the message carries its output."""


def write_file_command(path: str, content: str) -> str:
    """One simple command (so sudo covers all of it) that writes content to path.

    Content goes as an argument, not stdin: invoke feeds stdin a byte per 10 ms.
    """
    script = 'mkdir -p "$(dirname "$2")" && printf %s "$1" > "$2"'
    return f"sh -c {shlex.quote(script)} fwlab {shlex.quote(content)} {shlex.quote(path)}"


class Recipe(ABC):
    """Install Docker and set firewalld's state on one OS family."""

    #: /etc/os-release IDs (ID or ID_LIKE) this recipe serves.
    os_ids: ClassVar[tuple[str, ...]] = ()
    #: /etc/os-release VERSION_ID prefixes this recipe serves (empty: any).
    version_ids: ClassVar[tuple[str, ...]] = ()
    #: Where its Docker comes from, as reports say it.
    docker_source: ClassVar[str] = ""

    def __init__(self, conn: Connection, log: Callable[[str], None] | None = None):
        self.conn = conn
        self.log = log or (lambda msg: None)

    # -- running commands -------------------------------------------------
    def sh(
        self, cmd: str, check: bool = True, timeout: int | None = 300, stdin: str | None = None
    ) -> Result:
        """Run one simple command as root (sudo when we logged in as someone else).

        sudo elevates only the first command of a shell line, so recipes send
        single commands (no pipes, `&&` or redirections); `stdin` feeds it input.
        """
        runner = self.conn.run if self.conn.user == "root" else self.conn.sudo
        in_stream = io.StringIO(stdin) if stdin is not None else False
        result = runner(cmd, hide=True, warn=True, timeout=timeout, in_stream=in_stream)
        if check and result.exited != 0:
            out = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise ProvisionError(f"`{cmd}` exited {result.exited}: {' | '.join(out)}")
        return result

    def ok(self, cmd: str) -> bool:
        """True when cmd exits 0 (a question, never fails)."""
        return self.sh(cmd, check=False).exited == 0

    def write_file(self, path: str, content: str) -> None:
        self.sh(write_file_command(path, content))

    # -- what each OS family must say -------------------------------------
    @abstractmethod
    def install_docker(self, version: str) -> bool:
        """Make `version` the running Docker. Return True if anything changed."""

    def stood_in(self, version: str, real: str) -> str | None:
        """Why the Docker running here (`real`, its version) only stands in for `version`,
        or None when it is the real thing."""
        return None

    def ensure_busybox(self) -> bool:
        """The probe image is made from the machine's own busybox: install it if missing."""
        return False

    # -- firewalld, the same on every systemd machine ---------------------
    def firewalld_active(self) -> bool:
        return self.ok("systemctl is-active --quiet firewalld")

    def ensure_docker_sees_firewalld(self) -> bool:
        """Docker >= 20.10 puts docker0 in the zone `docker` when it finds firewalld running.
        A docker that started before firewalld was up (seen on sid at boot) never did:
        restart it. Returns True if it had to."""
        if not self.firewalld_active():
            return False
        zone = self.sh("firewall-cmd --get-zone-of-interface=docker0", check=False).stdout.strip()
        if zone == "docker":
            return False
        self.log(f"docker0 is in zone {zone or '(none)'}: docker started before firewalld")
        self.restart_docker()
        return True

    def ensure_docker_chains(self) -> bool:
        """Docker's iptables chains are in place. firewalld flushes every iptables chain
        while it starts, after systemd already counts it as started: a docker started in
        that window (at boot) loses its chains, and containers meet FORWARD's DROP policy
        instead of the cell's behaviour. Restart it then. Returns True if it had to."""
        if all(self.ok(f"iptables -w 5 -t {table} -n -L DOCKER") for table in ("nat", "filter")):
            return False
        self.log("docker's iptables chains are gone (firewalld flushed them as it started)")
        self.restart_docker()
        return True

    def restart_docker(self) -> None:
        self.log("restarting docker")
        self.sh("systemctl restart docker")

    def apply_firewalld(self, state: str, force_docker_restart: bool = False) -> bool:
        """Put firewalld in `state`; docker is restarted where the state requires.

        on:                 firewalld running and enabled, docker (re)started after it,
                            so Docker's rules sit on top of firewalld's.
        off:                firewalld stopped and disabled, then docker restarted:
                            what the seed did, and it "fixes" the bug.
        stopped-no-restart: reach "on", then stop firewalld and leave docker alone:
                            the trap, firewalld's stop flushes Docker's iptables rules.
        """
        if state not in FIREWALLD_STATES:
            raise ProvisionError(f"unknown firewalld state {state!r}")
        changed = False
        active = self.firewalld_active()
        if state in ("on", "stopped-no-restart"):
            if not active:
                self.log("starting firewalld")
                self.sh("systemctl enable --now firewalld")
                changed = True
            if changed or force_docker_restart:
                self.restart_docker()
            if state == "stopped-no-restart":
                self.log("stopping firewalld, docker keeps running")
                self.sh("systemctl stop firewalld")
                changed = True
        else:  # off
            if active or self.ok("systemctl is-enabled --quiet firewalld"):
                self.log("stopping and disabling firewalld")
                self.sh("systemctl disable --now firewalld")
                changed = True
            if changed or force_docker_restart:
                self.restart_docker()
        return changed
