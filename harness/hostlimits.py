"""Host-wide limits every lab draws on, and how many labs this host allows.

All labs run as the host's root, so they share root's per-user limits; the one that binds
first is inotify: systemd, dbus, polkit, firewalld and containerd in each lab hold about
14 inotify instances between them, and `fs.inotify.max_user_instances` is 128 on most
distributions (about 9 labs). Before fwlab makes labs, `preflight()` counts what is in use
and refuses, in one line and before anything is made, when the labs asked for would not
fit, naming the limit and the exact command that raises it.

`tune()` raises the limits for N labs and records the old values (FWLAB_HOME/host-tuning.json);
`restore()` puts them back. fwlab never raises a limit unless asked to.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psutil

from harness import paths
from harness.errors import UsageError

#: What one lab takes, measured on lab machines with their probes running (bullseye to
#: sid: 13 to 14 inotify instances and 60 to 70 watches; about 50 threads), with margin.
PER_LAB = {
    "fs.inotify.max_user_instances": 16,
    "fs.inotify.max_user_watches": 128,
    "kernel.pid_max": 300,
}
#: Memory one lab holds with its probes running, with margin (see bench/matrix.py).
MEMORY_PER_LAB = 300 * 2**20


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctl(name: str) -> int:
    return int(_sysctl_path(name).read_text().split()[0])


def _inotify_in_use(uid: int = 0) -> tuple[int, int]:
    """(instances, watches) held by processes of `uid`."""
    instances = watches = 0
    for proc in psutil.process_iter(["uids"]):
        try:
            if proc.info["uids"] is None or proc.info["uids"].real != uid:
                continue
            fd_dir = Path(f"/proc/{proc.pid}/fd")
            for fd in fd_dir.iterdir():
                if os.readlink(fd) == "anon_inode:inotify":
                    instances += 1
                    info = Path(f"/proc/{proc.pid}/fdinfo/{fd.name}").read_text()
                    watches += info.count("inotify wd:")
        except (OSError, psutil.Error):
            continue
    return instances, watches


@dataclass
class Limit:
    name: str
    value: int
    used: int
    per_lab: int

    @property
    def labs(self) -> int:
        return max(0, (self.value - self.used) // self.per_lab)

    def needed(self, labs: int) -> int:
        return self.used + labs * self.per_lab


def limits() -> list[Limit]:
    instances, watches = _inotify_in_use()
    # process_iter's attrs read each process once, and a process gone meanwhile counts 0.
    threads = sum(
        p.info["num_threads"] or 0 for p in psutil.process_iter(["num_threads"], ad_value=0)
    )
    return [
        Limit("fs.inotify.max_user_instances", read_sysctl("fs.inotify.max_user_instances"),
              instances, PER_LAB["fs.inotify.max_user_instances"]),
        Limit("fs.inotify.max_user_watches", read_sysctl("fs.inotify.max_user_watches"),
              watches, PER_LAB["fs.inotify.max_user_watches"]),
        Limit("kernel.pid_max", read_sysctl("kernel.pid_max"), threads, PER_LAB["kernel.pid_max"]),
    ]  # fmt: skip


def capacity() -> tuple[int, str]:
    """How many more labs this host allows, and what binds (a limit, or memory)."""
    memory = psutil.virtual_memory().available // MEMORY_PER_LAB
    best = min(limits(), key=lambda lim: lim.labs)
    if memory < best.labs:
        return int(memory), "memory"
    return best.labs, best.name


def preflight(provider: object, labs: int) -> None:
    """Refuse, before anything is made, `labs` more labs than this host allows."""
    if getattr(provider, "name", "") != "nspawn":
        return  # VMs have kernels of their own
    for lim in limits():
        if lim.labs < labs:
            raise UsageError(
                f"{labs} lab(s) need {lim.name} >= {lim.needed(labs)}, but it is {lim.value} "
                f"({lim.used} in use): this host allows {lim.labs} more; raise it with "
                f"`sysctl -w {lim.name}={lim.needed(labs)}` or `fwlab host tune --labs {labs}` "
                "(it records the old value; `fwlab host restore` puts it back)"
            )
    memory = psutil.virtual_memory().available // MEMORY_PER_LAB
    if memory < labs:
        raise UsageError(
            f"{labs} lab(s) need about {labs * MEMORY_PER_LAB // 2**20} MiB, but "
            f"{psutil.virtual_memory().available // 2**20} MiB is available: this host holds "
            f"{memory} more"
        )


def _record() -> Path:
    return paths.home() / "host-tuning.json"


def tune(labs: int, say: Callable[[str], None]) -> list[str]:
    """Raise the limits N labs need; record each old value the first time it is raised."""
    recorded = json.loads(_record().read_text()) if _record().exists() else {}
    changed = []
    for lim in limits():
        wanted = lim.needed(labs)
        if lim.value >= wanted:
            continue
        recorded.setdefault(lim.name, lim.value)
        _sysctl_path(lim.name).write_text(f"{wanted}\n")
        changed.append(f"{lim.name}: {lim.value} -> {wanted} (was {recorded[lim.name]}; "
                       "`fwlab host restore` puts it back)")  # fmt: skip
        say(f"raised {changed[-1]}")
    if recorded:
        _record().parent.mkdir(parents=True, exist_ok=True)
        _record().write_text(json.dumps(recorded, indent=2) + "\n")
    return changed


def restore(say: Callable[[str], None]) -> list[str]:
    """Put back every limit `tune` raised."""
    if not _record().exists():
        return []
    restored = []
    for name, value in json.loads(_record().read_text()).items():
        _sysctl_path(name).write_text(f"{value}\n")
        restored.append(f"{name} = {value}")
        say(f"restored {name} = {value}")
    _record().unlink()
    return restored
