"""A lab's state file: what the lab owns, written before anything is made, so `down`
and `gc` can always find it. Every provider keeps one per lab, in its own folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.util import is_same_process, proc_start_time


class StateFile:
    def __init__(self, name: str, folder: Path):
        self.name = name
        self.dir = folder / name
        self.file = self.dir / "lab.json"
        self.data: dict[str, Any] = {}
        if self.file.exists():
            self.data = json.loads(self.file.read_text())

    def save(self) -> None:
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2))
        tmp.rename(self.file)

    @property
    def ssh_config_path(self) -> Path:
        return self.dir / "ssh_config"

    def abandoned(self, machine_alive: bool) -> str | None:
        """Why the lab is a leftover, or None if someone may still be using it."""
        owner = self.data.get("owner") or [0, None]
        owner_alive = is_same_process(owner[0], owner[1])
        if self.data.get("status") != "running" and not owner_alive:
            return "the fwlab process creating it is gone"
        if self.data.get("ephemeral") and not owner_alive:
            return "the fwlab run it belonged to is gone"
        if self.data.get("status") == "running" and not machine_alive:
            return "its machine is no longer running"
        return None


def owner() -> list[int]:
    """This process, as a state file records its owner (PID and start time)."""
    return [os.getpid(), proc_start_time(os.getpid()) or 0]


def load_all(folder: Path, make: Any) -> list[Any]:
    """Every state file fwlab wrote under folder, made into objects by make(name)."""
    if not folder.is_dir():
        return []
    found = []
    for lab in sorted(folder.iterdir()):
        try:
            state = make(lab.name)
        except (OSError, ValueError):
            continue
        if state.data.get("made_by") == "fwlab":
            found.append(state)
    return found
