"""Small process helpers: run a command, wait for a condition with a deadline, and find,
stop or measure processes (psutil) that fwlab started."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import psutil
from filelock import FileLock

from harness.errors import FwlabError


def run(
    cmd: Sequence[str],
    check: bool = True,
    timeout: float = 120,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run cmd, capture text output; raise FwlabError with stderr when it fails."""
    try:
        proc = subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=timeout, input=input, env=env
        )
    except FileNotFoundError as exc:
        raise FwlabError(f"{cmd[0]} is not installed (run ./scripts/run setup)") from exc
    except subprocess.TimeoutExpired as exc:
        raise FwlabError(f"`{' '.join(cmd)}` did not finish within {timeout:.0f} s") from exc
    if check and proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        raise FwlabError(f"`{' '.join(cmd)}` failed: {err[-1] if err else proc.returncode}")
    return proc


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on path (made if missing): one fwlab process at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path)):
        yield


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below path, deepest first."""
    prefix = str(path.resolve())
    points = [
        p.mountpoint
        for p in psutil.disk_partitions(all=True)
        if p.mountpoint == prefix or p.mountpoint.startswith(prefix + "/")
    ]
    return sorted(points, key=len, reverse=True)


def remove_tree(path: Path) -> None:
    """rmtree that first unmounts whatever is mounted inside (debootstrap mounts /proc
    and /sys in its target), and refuses if something stays mounted."""
    for point in mounts_under(path):
        subprocess.run(["umount", "-l", point], capture_output=True)
    left = mounts_under(path)
    if left:
        raise FwlabError(f"{left[0]} is still mounted; not deleting {path}")
    shutil.rmtree(path, ignore_errors=True)


def processes_using(path: Path) -> list[int]:
    """PIDs whose root, working directory or command line is inside path."""
    prefix = str(path.resolve())

    def inside(place: str) -> bool:
        return place == prefix or place.startswith(prefix + "/")

    found = []
    for proc in psutil.process_iter(["pid", "cwd", "cmdline"]):
        if proc.pid == os.getpid():
            continue
        try:
            root = os.readlink(f"/proc/{proc.pid}/root")
        except OSError:
            root = ""
        cwd = proc.info.get("cwd") or ""
        args = " ".join(proc.info.get("cmdline") or [])
        if inside(root) or inside(cwd) or prefix in args:
            found.append(proc.pid)
    return found


def processes_in_netns(names: list[str]) -> list[int]:
    """PIDs whose network namespace is one of the named ones (under /run/netns)."""
    inodes = set()
    for ns in names:
        try:
            inodes.add(os.stat(f"/run/netns/{ns}").st_ino)
        except OSError:
            pass
    found = []
    for pid in psutil.pids() if inodes else []:
        if pid == os.getpid():
            continue
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino in inodes:
                found.append(pid)
        except OSError:
            continue
    return found


def processes_pss(pids: Iterable[int]) -> int:
    """What these processes cost together (bytes): their proportional set size, each page
    shared with others counted in part (so clones sharing an image's files are not each
    charged all of it); gone ones count nothing. Read from smaps_rollup (Linux >= 4.14)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += next(int(ln.split()[1]) for ln in f if ln.startswith("Pss:")) * 1024
        except (OSError, StopIteration, ValueError):
            continue
    return total


def die_with_parent() -> None:
    """preexec_fn: the child is SIGKILLed if we die (even by SIGKILL), so a helper such
    as debootstrap or a check run never outlives the fwlab process that needs it."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def wait_for(
    what: str,
    condition: Callable[[], bool],
    timeout: float,
    interval: float = 0.1,
) -> None:
    """Poll condition until true; raise FwlabError naming `what` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() >= deadline:
            raise FwlabError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def proc_start_time(pid: int) -> float | None:
    """When pid started (seconds since the epoch), or None if it is gone or a zombie.

    Stored next to a PID so that we never signal a recycled PID that is not ours.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:  # finished; only its parent can reap it
            return None
        return proc.create_time()
    except psutil.Error:
        return None


def is_same_process(pid: int, start_time: float | None) -> bool:
    found = proc_start_time(pid)
    return start_time is not None and found is not None and abs(found - start_time) < 0.05


def stop_process(pid: int, start_time: float | None, grace: float = 5.0) -> bool:
    """SIGTERM, then SIGKILL, one process we started (and reap it if it is our child).
    Returns True if it was running."""
    if not is_same_process(pid, start_time):
        return False
    try:
        proc = psutil.Process(pid)
        proc.terminate()
        try:
            proc.wait(grace)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    except (psutil.NoSuchProcess, psutil.TimeoutExpired):
        pass
    return True


def kill_all(pids: list[int], timeout: float = 5.0) -> None:
    """SIGKILL each process (found to be ours by its cgroup or namespace) and wait."""
    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.kill()
            procs.append(proc)
        except psutil.Error:
            continue
    psutil.wait_procs(procs, timeout=timeout)
