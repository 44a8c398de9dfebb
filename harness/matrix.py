"""`fwlab matrix`: every cell of a lab, through provider -> Fabric -> pytest/testinfra.

For each cell: bring a machine up, provision it, run the checks (with a trace
of every blocked one), and take it down again unless --keep. Cells run in
parallel threads; each cell's own failure becomes that cell's error, and the
machines are always taken down, Ctrl-C included.
"""

from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from harness.checks.runner import run_checks
from harness.errors import FwlabError
from harness.labs import CellSpec, Lab
from harness.models import CellResult, MatrixResult, TraceVerdict
from harness.providers import Provider
from harness.providers.base import join_reasons
from harness.provision import provision

Update = Callable[[str, str], None]

#: Set on Ctrl-C: cells still running skip to teardown at their next phase.
cancelled = threading.Event()


def _check_cancelled() -> None:
    if cancelled.is_set():
        raise KeyboardInterrupt


def run_cell(
    provider: Provider,
    lab: Lab,
    spec: CellSpec,
    name: str,
    judged: bool = True,
    keep: bool = False,
    update: Update | None = None,
) -> CellResult:
    say = update or (lambda _cid, _msg: None)
    cid = spec.cell.id
    result = CellResult(cell=spec.cell, provider=provider.name)
    started = time.monotonic()

    def lap(phase: str) -> None:
        nonlocal started
        result.timings[phase] = time.monotonic() - started
        started = time.monotonic()

    try:
        _check_cancelled()
        say(cid, f"up ({name})")
        machine = provider.up(name, ephemeral=True)
        lap("up")
        assert machine.ssh is not None and machine.ssh_config_path is not None
        _check_cancelled()
        say(cid, "provision")
        conn = machine.ssh.fabric(machine.ssh_config_path)
        try:
            report = provision(conn, spec.cell.get("docker"), spec.cell.get("firewalld"))
        finally:
            conn.close()
        result.stood_in_reason = join_reasons(report.stood_in_reason, provider.stood_in_reason())
        result.stood_in = bool(result.stood_in_reason)
        result.notes.append(
            f"{report.os}; recipe {report.recipe}; probe image {report.probe_image}"
        )
        lap("provision")
        _check_cancelled()
        say(cid, "checks")
        result.checks = run_checks(
            machine.ssh_config_path,
            machine.ssh.alias,
            lab.checks,
            spec.expected if judged else None,
            trace=True,
            time_scale=provider.time_scale,
        )
        if not judged:
            for check in result.checks:
                check.expected = None
        result.trace = cell_trace(result)
        lap("check")
    except FwlabError as exc:  # provisioning errors included
        result.error = str(exc)
    finally:
        if not keep:
            say(cid, "down")
            try:
                provider.down(name)
            except FwlabError as exc:
                result.error = result.error or f"teardown failed: {exc}"
            lap("down")
        say(cid, "error" if result.error else ("match" if result.matches else "MISMATCH"))
    return result


def cell_trace(result: CellResult) -> TraceVerdict | None:
    """The cell's headline trace: the first that ends in a final verdict."""
    traces = [c.trace for c in result.checks if c.trace is not None]
    return next((t for t in traces if t.is_final), traces[0] if traces else None)


def run_matrix(
    provider: Provider,
    lab: Lab,
    cells: list[CellSpec],
    parallel: int = 2,
    judged: bool = True,
    keep: bool = False,
    update: Update | None = None,
) -> MatrixResult:
    run_id = secrets.token_hex(3)  # lab names unique across concurrent runs
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        futures = [
            pool.submit(run_cell, provider, lab, spec, f"m{run_id}-{i}", judged, keep, update)
            for i, spec in enumerate(cells)
        ]
        try:
            results = [f.result() for f in futures]
        except BaseException:
            cancelled.set()  # running cells go straight to teardown
            for f in futures:
                f.cancel()
            raise
    return MatrixResult(
        lab=lab.name,
        provider=provider.name,
        cells=results,
        judged=judged,
        seconds=time.monotonic() - started,
    )
