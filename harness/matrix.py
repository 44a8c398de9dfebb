"""`fwlab matrix`: every cell of a lab through the one cell pipeline, several at once.

Cells run in threads; each cell's own failure becomes that cell's error, the others go
on, and every machine is taken down, Ctrl-C included.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psutil

from harness.labs import CellSpec, Lab
from harness.models import MatrixResult
from harness.pipeline import cancelled, run_cell
from harness.providers import Provider

#: What one nspawn lab takes with its probes running, and a cell's worth of CPU: a cell
#: mostly waits (boots, probe timeouts), so two to three cells share a core well.
MEMORY_PER_CELL = 400 * 2**20
CELLS_PER_CORE = 2.5


def default_parallel(provider: Provider, cells: int) -> int:
    """How many cells to run at once on this machine: by its cores and free memory,
    within what the provider allows and the number of cells."""
    cores = os.cpu_count() or 1
    memory = psutil.virtual_memory().available // MEMORY_PER_CELL
    return max(1, min(int(cores * CELLS_PER_CORE), memory, provider.max_parallel, cells))


def run_matrix(
    provider: Provider,
    lab: Lab,
    cells: list[CellSpec],
    parallel: int,
    judged: bool = True,
    keep: bool = False,
    update: Callable[[str, str], None] | None = None,
) -> MatrixResult:
    from harness.hostlimits import preflight

    preflight(provider, min(parallel, len(cells)))
    run_id = secrets.token_hex(3)  # lab names unique across concurrent runs
    started = time.monotonic()
    cancelled.clear()
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
