"""Progress while cells run: a live rich display on a terminal, plain lines in CI."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table


class CellProgress:
    def __init__(self, console: Console, cell_ids: list[str]):
        self.console = console
        self.live_mode = console.is_terminal
        self.phase = {cid: "waiting" for cid in cell_ids}
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.live: Live | None = None

    def __enter__(self) -> CellProgress:
        if self.live_mode:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4)
            self.live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.__exit__(exc_type, exc, tb)

    def update(self, cell_id: str, phase: str) -> None:
        with self.lock:
            self.phase[cell_id] = phase
            if self.live is not None:
                self.live.update(self._render())
            else:
                elapsed = time.monotonic() - self.started
                self.console.print(f"[{elapsed:6.1f}s] {cell_id}: {phase}", markup=False)

    def _render(self) -> Table:
        table = Table(
            "cell", "phase", title=f"fwlab matrix ({time.monotonic() - self.started:.0f} s)"
        )
        for cid, phase in self.phase.items():
            table.add_row(cid, phase)
        return table
