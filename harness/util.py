"""Small process helpers: run a command, wait for a condition with a deadline."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

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
    """An exclusive flock on path (made if missing): one fwlab process at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below path, deepest first."""
    prefix = str(path.resolve())
    points = []
    with open("/proc/mounts") as f:
        for line in f:
            point = line.split()[1].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
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
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            places = [os.readlink(entry / "root"), os.readlink(entry / "cwd")]
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(p == prefix or p.startswith(prefix + "/") for p in places) or prefix in args:
            found.append(int(entry.name))
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
    for entry in Path("/proc").iterdir() if inodes else []:
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if os.stat(entry / "ns" / "net").st_ino in inodes:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


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


def proc_start_time(pid: int) -> int | None:
    """The kernel's start time of pid (clock ticks since boot), or None if gone.

    Stored next to a PID so that we never signal a recycled PID that is not ours.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # a zombie has finished; only its parent can reap it
        return None
    return int(fields[19])


def is_same_process(pid: int, start_time: int | None) -> bool:
    return start_time is not None and proc_start_time(pid) == start_time


def stop_process(pid: int, start_time: int | None, grace: float = 5.0) -> bool:
    """SIGTERM then SIGKILL one process we started. Returns True if it was running."""
    if not is_same_process(pid, start_time):
        return False
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not is_same_process(pid, start_time):
                return True
            _reap(pid)
            time.sleep(0.05)
    return True


def kill_all(pids: list[int], timeout: float = 5.0) -> None:
    """SIGKILL each process (found to be ours by its cgroup or namespace) and wait."""
    started = {pid: proc_start_time(pid) for pid in pids}
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid, start in started.items() if is_same_process(pid, start)]
        if not alive:
            return
        for pid in alive:
            _reap(pid)
        time.sleep(0.05)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
