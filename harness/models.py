"""Plain data shared by every part of fwlab: cells, check results, trace verdicts.

Nothing here talks to a machine; these are the values that flow from
provider -> provisioning -> checks -> report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Outcome = Literal["pass", "blocked"]


@dataclass(frozen=True)
class Cell:
    """One combination of axes, e.g. docker=19.03 x firewalld=on."""

    axes: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, **axes: str) -> Cell:
        return cls(tuple(sorted(axes.items())))

    def get(self, axis: str) -> str:
        return dict(self.axes)[axis]

    @property
    def id(self) -> str:
        """Stable, filename- and CI-friendly id: 'docker=19.03,firewalld=on'."""
        return ",".join(f"{k}={v}" for k, v in self.axes)

    def as_dict(self) -> dict[str, str]:
        return dict(self.axes)


@dataclass
class TraceVerdict:
    """The rule that decided a traced packet's fate."""

    family: str  # ip, ip6, inet, bridge (nft) / "ip" for xtables-monitor family 2
    table: str
    chain: str
    verdict: str  # accept, drop, ... as the kernel said it (a reject is reported as drop)
    rule: str = ""  # rule text when the tool printed it, else the handle
    tool: str = ""  # "xtables-monitor" or "nft"
    path: list[str] = field(default_factory=list)  # "family table chain" hops of the packet
    diagnosis: str = ""
    warnings: list[str] = field(default_factory=list)
    packet_id: str = ""  # the traced packet this verdict is about

    @property
    def is_final(self) -> bool:
        """A verdict that settles the packet's fate: a drop, or an accept by a filter-stage
        chain. Anything else (e.g. a nat accept) means the capture was cut short."""
        filter_stage = self.table == "filter" or self.chain.startswith("filter_")
        return self.verdict in ("drop", "reject") or (self.verdict == "accept" and filter_stage)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CheckResult:
    name: str
    observed: Outcome
    detail: str  # the probe's own output / error text, e.g. "No route to host"
    seconds: float
    expected: Outcome | None = None  # None in --reproduce mode
    trace: TraceVerdict | None = None

    @property
    def matches(self) -> bool:
        return self.expected is None or self.expected == self.observed

    def as_dict(self) -> dict[str, Any]:
        d = {
            "name": self.name,
            "expected": self.expected,
            "observed": self.observed,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
            "matches": self.matches,
        }
        if self.trace is not None:
            d["trace"] = self.trace.as_dict()
        return d


@dataclass
class CellResult:
    cell: Cell
    provider: str
    stood_in: bool = False
    stood_in_reason: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    trace: TraceVerdict | None = None  # headline trace: see matrix.cell_trace
    error: str = ""  # infrastructure failure (boot, provision); checks may be empty
    timings: dict[str, float] = field(default_factory=dict)  # up/provision/check/down
    notes: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return not self.error and all(c.matches for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.cell.id,
            "axes": self.cell.as_dict(),
            "provider": self.provider,
            "stood_in": self.stood_in,
            "stood_in_reason": self.stood_in_reason,
            "checks": [c.as_dict() for c in self.checks],
            "trace": self.trace.as_dict() if self.trace else None,
            "error": self.error,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "notes": self.notes,
            "matches": self.matches,
        }


@dataclass
class MatrixResult:
    lab: str
    provider: str
    cells: list[CellResult]
    judged: bool = True  # False with --reproduce: expectations are not compared
    seconds: float = 0.0

    @property
    def matches(self) -> bool:
        return all(c.matches for c in self.cells)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "provider": self.provider,
            "judged": self.judged,
            "seconds": round(self.seconds, 3),
            "matches": self.matches,
            "cells": [c.as_dict() for c in self.cells],
        }
