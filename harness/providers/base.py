"""What every provider does. A provider's only product is an SSH endpoint."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.errors import UsageError
from harness.models import Layer
from harness.ssh import SshEndpoint

Progress = Callable[[str], None]
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


def check_name(name: str) -> None:
    """Lab names become namespace, link and VM names: keep them short and plain."""
    if not NAME_RE.fullmatch(name):
        raise UsageError(
            f"bad lab name {name!r}: use 1-32 lowercase letters, digits and '-', "
            "starting with a letter"
        )


@dataclass
class Machine:
    name: str
    provider: str
    status: str  # running, stopped, broken, absent
    ssh: SshEndpoint | None = None
    ssh_config_path: Path | None = None
    details: dict[str, str] = field(default_factory=dict)

    @property
    def reachable(self) -> bool:
        return self.ssh is not None and self.ssh_config_path is not None


@dataclass(frozen=True)
class Provisioning:
    """How to provision a machine into a cell, and the key of that state (so a provider
    can keep it: a cached layer, a snapshot)."""

    key: str
    apply: Callable[[Machine], object]


class Provider(ABC):
    """Bring lab machines up and down; hand back an ssh_config entry for each."""

    name: str = ""
    #: How much slower than the host its machines run commands (probes wait longer).
    time_scale: float = 1.0
    #: How many of its machines this host runs at once without starving them.
    max_parallel: int = 8

    @abstractmethod
    def up(
        self,
        name: str,
        progress: Progress | None = None,
        ephemeral: bool = False,
        release: str | None = None,
        provisioned: Provisioning | None = None,
    ) -> Machine:
        """Create and boot `name` (running OS release `release`); return once SSH answers.
        Cleans up after itself on failure.

        ephemeral: the machine belongs to this process only (a matrix cell); `gc` may
        remove it once this process is gone. provisioned: bring it up already in that
        state where the provider keeps one (a cached layer, a snapshot), else apply it."""

    @abstractmethod
    def keep(self, name: str) -> None:
        """An ephemeral machine is wanted after all: it now outlives this process."""

    @abstractmethod
    def down(self, name: str, progress: Progress | None = None) -> list[str]:
        """Destroy `name` and everything it owned; return what was removed."""

    @abstractmethod
    def status(self, name: str) -> Machine:
        """The machine's current state (status "absent" when unknown)."""

    @abstractmethod
    def list(self) -> list[Machine]:
        """Every machine this provider knows of."""

    @abstractmethod
    def machine_layer(self, name: str, stands_for: str) -> Layer:
        """What the machine is, against what the lab says it stands for."""

    def outside(self, name: str) -> str:
        """A testinfra host spec for a client outside the lab, on the lab's NAT network."""
        return ""

    def ssh_config(self, name: str) -> str:
        machine = self.status(name)
        if machine.ssh is None:
            raise UsageError(f"lab {name!r} is not running")
        return machine.ssh.render()

    def running(self, name: str) -> Machine:
        machine = self.status(name)
        if not machine.reachable or machine.status != "running":
            raise UsageError(f"lab {name!r} is not running (fwlab ls)")
        return machine

    def gc(self, progress: Progress | None = None) -> list[str]:
        """Remove leftovers of interrupted runs; return what was removed."""
        return []

    def memory_peak(self, name: str) -> int | None:
        """Peak memory of the machine (bytes), where the provider can tell."""
        return None
