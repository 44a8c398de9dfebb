"""What every provider does. A provider's only product is an SSH endpoint."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.errors import UsageError
from harness.ssh import SshEndpoint

Progress = Callable[[str], None]


@dataclass
class Machine:
    name: str
    provider: str
    status: str  # running, stopped, broken, absent
    ssh: SshEndpoint | None = None
    ssh_config_path: Path | None = None
    details: dict[str, str] = field(default_factory=dict)


class Provider(ABC):
    """Bring lab machines up and down; hand back an ssh_config entry for each."""

    name: str = ""

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

    def gc(self, progress: Progress | None = None) -> list[str]:
        """Remove leftovers of interrupted runs; return what was removed."""
        return []
