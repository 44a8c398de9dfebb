"""Where a trace comes from: a saved capture, a running lab, or a cell of a matrix report."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from harness.errors import UsageError
from harness.models import CheckResult, PacketTrace
from harness.providers.base import NAME_RE
from harness.trace import Capture, analyse
from harness.trace.diff import PathDiff
from harness.trace.diff import diff as diff_paths

#: Captures are text; a file larger than this is not one somebody saved from a monitor.
MAX_CAPTURE_BYTES = 64 * 2**20


def read_capture_file(path: Path) -> Capture:
    """A capture file, read; anything that is not one is bad input (one line, exit 2)."""
    try:
        info = path.stat()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):  # a directory, a FIFO (which would block), a device
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise UsageError(f"{path}: {kind}, not a capture")
    if info.st_size > MAX_CAPTURE_BYTES:
        raise UsageError(f"{path}: {info.st_size} bytes, too large to be a capture")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it: {exc.strerror}") from None
    if b"\x00" in data:
        raise UsageError(f"{path}: a binary file, not a capture")
    capture = analyse(data.decode("utf-8", errors="replace"))
    if not capture.is_capture:
        raise UsageError(
            f"{path}: no trace lines (nft monitor trace, xtables-monitor --trace, or iptables "
            "TRACE/LOG lines of a kernel log): not a capture"
        )
    return capture


def live_check(name: str, check: str, lab_name: str, provider: str) -> CheckResult:
    """Run one of the lab's checks on a running lab, traced."""
    from harness import labs, pipeline
    from harness.providers import get_provider

    lab = labs.load(lab_name)
    cell = pipeline.check_running(get_provider(provider), name, lab, judged=False, only=[check])
    found = [c for c in cell.checks if c.name == check]
    if not found:
        names = ", ".join(c.name for c in cell.checks) or "none"
        raise UsageError(f"lab {lab.name} has no check {check!r} (ran: {names})")
    return found[0]


def side(source: str, check: str, lab_name: str, provider: str) -> PacketTrace:
    """One side of a diff: 'report.json#CELL' (a cell of a matrix JSON), a capture file,
    or a running lab's name."""
    file_part, _, cell = source.partition("#")
    path = Path(file_part)
    if path.suffix == ".json" and path.is_file():
        return _from_report(path, cell, check)
    if path.exists():
        capture = read_capture_file(path)
        if capture.headline is None:
            raise UsageError(f"{path}: no traced packet")
        return capture.headline
    if not NAME_RE.fullmatch(source):  # a mistyped path, not a lab's name
        raise UsageError(f"{file_part}: no such file, and not a lab's name")
    result = live_check(source, check, lab_name, provider)
    if result.trace is None:
        raise UsageError(f"{source}: {check} traced no packet ({result.outcome}: {result.detail})")
    return result.trace


def _from_report(path: Path, cell: str, check: str) -> PacketTrace:
    try:
        doc = json.loads(path.read_text())
    except (ValueError, OSError, UnicodeDecodeError):
        raise UsageError(f"{path}: not a fwlab matrix report") from None
    cells = {c.get("id"): c for c in doc.get("cells", [])} | {
        c.get("label"): c for c in doc.get("cells", [])
    }
    if cell not in cells:
        raise UsageError(
            f"{path}: no cell {cell!r} (cells: {', '.join(c['id'] for c in doc['cells'])})"
        )
    for entry in cells[cell].get("checks", []):
        if entry["name"] == check and entry.get("trace"):
            return CheckResult.from_dict(entry).trace  # type: ignore[return-value]
    raise UsageError(f"{path}: cell {cell} has no trace for check {check!r}")


def diff(a: str, b: str, check: str, lab_name: str, provider: str) -> PathDiff:
    return diff_paths(side(a, check, lab_name, provider), side(b, check, lab_name, provider))
