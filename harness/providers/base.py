"""What every provider does. A provider's only product is an SSH endpoint."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.errors import UsageError
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


def join_reasons(*reasons: str | None) -> str:
    """Every reason a cell is stood in, as one line ("" when it is the real thing)."""
    return "; ".join(r for r in reasons if r)


class Provider(ABC):
    """Bring lab machines up and down; hand back an ssh_config entry for each."""

    name: str = ""
    #: How much slower than the host its machines run commands (probes wait longer).
    time_scale: float = 1.0
    #: How many of its machines this host runs at once without starving them.
    max_parallel: int = 8

    @abstractmethod
    def up(self, name: str, progress: Progress | None = None, ephemeral: bool = False) -> Machine:
        """Create and boot `name`; return once SSH answers. Cleans up after itself on failure.

        ephemeral: the machine belongs to this process only (a matrix cell); `gc` may
        remove it once this process is gone."""

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

    def ssh_config(self, name: str) -> str:
        machine = self.status(name)
        if machine.ssh is None:
            raise UsageError(f"lab {name!r} is not running")
        return machine.ssh.render()

    def stood_in_reason(self) -> str | None:
        """Why this provider's machines are not what the lab describes, if they are not."""
        return None

    #: Whether snapshot_save/snapshot_restore do anything (a re-run may skip provisioning).
    has_snapshots: bool = False

    def snapshot_save(self, name: str, tag: str) -> None:
        """Remember the machine's current state as `tag` (providers that can)."""
        raise UsageError(f"the {self.name} provider keeps no snapshots")

    def snapshot_restore(self, name: str, tag: str) -> bool:
        """Return the machine to snapshot `tag`; False when there is none to return to."""
        return False

    def gc(self, progress: Progress | None = None) -> list[str]:
        """Remove leftovers of interrupted runs; return what was removed."""
        return []
