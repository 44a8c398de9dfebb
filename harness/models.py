"""Plain data shared by every part of fwlab: cells, expectations, check results, traces.

Nothing here talks to a machine; these are the values that flow from
provider -> provisioning -> checks -> report. Every report (terminal, JSON, JUnit,
HTML, Markdown) renders these same objects.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Outcome = Literal["pass", "blocked", "error"]
OUTCOMES = ("pass", "blocked", "error")
#: Why a network probe was blocked, from what the probe itself saw.
NETWORK_REASONS = {
    "rejected": "the network answered with an error (ICMP unreachable/prohibited, or a reset)",
    "timeout": "no answer at all within the probe's time",
    "dns": "the name did not resolve",
}
#: A plain pytest assertion failed (the machine did not do what the test asserts).
ASSERT_REASON = "assert"
Judgement = Literal["match", "mismatch", "not judged", "error"]
LAYERS = ("machine", "firewalld", "docker")


@dataclass(frozen=True)
class Cell:
    """One combination of axes, e.g. os=bullseye x docker=19.03 x firewalld=on."""

    axes: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, **axes: str) -> Cell:
        return cls(tuple(sorted(axes.items())))

    def get(self, axis: str, default: str = "") -> str:
        return dict(self.axes).get(axis, default)

    @property
    def id(self) -> str:
        """Stable, safe as a CI job name and a file name: docker-19.03_firewalld-on_os-bullseye."""
        return "_".join(f"{_slug(k)}-{_slug(v)}" for k, v in self.axes)

    @property
    def label(self) -> str:
        """For people: 'docker=19.03,firewalld=on,os=bullseye' (also a --cells filter)."""
        return ",".join(f"{k}={v}" for k, v in self.axes)

    def as_dict(self) -> dict[str, str]:
        return dict(self.axes)


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", value)


@dataclass(frozen=True)
class Rule:
    """Where a verdict fell: family, table, chain and verdict (each may be a glob in an
    expectation, e.g. ``inet firewalld filter_FWD* reject``)."""

    family: str
    table: str
    chain: str
    verdict: str  # accept, drop or reject

    @classmethod
    def parse(cls, text: str) -> Rule:
        parts = text.split()
        if len(parts) != 4:
            raise ValueError(f"a rule is 'family table chain verdict', not {text!r}")
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.family} {self.table} {self.chain} {self.verdict}"

    def matches(self, other: Rule) -> bool:
        """Does the observed rule `other` fit this (expected, possibly globbed) one?"""
        return all(
            fnmatch.fnmatchcase(getattr(other, part), getattr(self, part))
            for part in ("family", "table", "chain", "verdict")
        )


@dataclass(frozen=True)
class Expectation:
    """What a lab file says a check does in a cell: outcome, and optionally why."""

    outcome: Outcome
    reason: str | None = None
    rule: Rule | None = None
    source: str = ""  # where it was written, e.g. "lab.toml cell 1, 'egress-*'"

    def __str__(self) -> str:
        text = self.outcome + (f"/{self.reason}" if self.reason else "")
        return text + (f" by {self.rule}" if self.rule else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "rule": asdict(self.rule) if self.rule else None,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Expectation:
        rule = Rule(**d["rule"]) if d.get("rule") else None
        return cls(d["outcome"], d.get("reason"), rule, d.get("source", ""))


# -- packet traces ------------------------------------------------------------
@dataclass
class Hop:
    """One base-chain traversal of a packet (or a user chain it jumped to)."""

    family: str
    table: str
    chain: str
    verdict: str = ""  # what this chain did with it: accept, drop, reject, jump X, ...
    rule: str = ""  # the rule text (or "policy drop", "handle 0x27") that gave the verdict
    stage: str = ""  # raw, mangle, nat, filter, security, bridge (see trace.stages)
    hook: str = ""  # prerouting, input, forward, output, postrouting ("" when unknown)

    @property
    def where(self) -> str:
        return " ".join(p for p in (self.family, self.table, self.chain) if p)


@dataclass
class PacketTrace:
    """One packet's way through the rules, as one capture showed it: its hops in order,
    and the final decision when the capture shows one (``decision`` is an index into
    ``hops``). ``final`` is False when the capture ends before anything decided the
    packet's fate; ``last_seen`` then says where it was last seen."""

    packet: str  # "tcp 172.17.0.3:60254 -> 203.0.113.10:80 (docker0 -> eth0)"
    hops: list[Hop] = field(default_factory=list)
    flow: dict[str, str] = field(default_factory=dict)  # src, dst, proto, ports, mac, ...
    decision: int | None = None
    final: bool = False
    tool: str = ""
    ids: list[str] = field(default_factory=list)  # the trace ids the tool gave it
    note: str = ""  # e.g. "legacy TRACE lines carry no verdict"
    diagnosis: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def deciding(self) -> Hop | None:
        return self.hops[self.decision] if self.decision is not None else None

    @property
    def rule(self) -> Rule | None:
        """The deciding rule as family/table/chain/verdict, when the decision is final."""
        hop = self.deciding
        if hop is None or not self.final:
            return None
        return Rule(hop.family, hop.table, hop.chain, hop.verdict)

    @property
    def last_seen(self) -> str:
        return self.hops[-1].where if self.hops else ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        rule = self.rule
        d["verdict"] = (
            {**asdict(rule), "rule": self.hops[self.decision].rule}  # type: ignore[index]
            if rule
            else None
        )
        d["last_seen"] = self.last_seen
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PacketTrace:
        fields = {k: v for k, v in d.items() if k not in ("verdict", "last_seen")}
        fields["hops"] = [Hop(**h) for h in d.get("hops", [])]
        return cls(**fields)


# -- results -------------------------------------------------------------------
@dataclass
class CheckResult:
    name: str
    outcome: Outcome
    reason: str | None = None  # why it was blocked (NETWORK_REASONS, or a lab's own word)
    detail: str = ""  # what the probe itself said, e.g. "No route to host"; the error text
    seconds: float = 0.0
    description: str = ""
    trace: PacketTrace | None = None
    expected: Expectation | None = None  # None: not judged (no expectation, or reproduce)

    @property
    def judgement(self) -> Judgement:
        return judge(self.expected, self)[0]

    @property
    def differs(self) -> list[str]:
        """Which parts differ from the expectation: outcome, reason, rule."""
        return judge(self.expected, self)[1]

    @property
    def rule(self) -> Rule | None:
        return self.trace.rule if self.trace else None

    def mismatch_message(self) -> str:
        observed = self.outcome + (f"/{self.reason}" if self.reason else "")
        if self.rule:
            observed += f" by {self.rule}"
        parts = ", ".join(self.differs)
        return f"{self.name}: expected {self.expected}, observed {observed} ({parts} differ)"

    def as_dict(self) -> dict[str, Any]:
        judgement, differs = judge(self.expected, self)
        return {
            "name": self.name,
            "description": self.description,
            "outcome": self.outcome,
            "reason": self.reason,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
            "rule": asdict(self.rule) if self.rule else None,
            "trace": self.trace.as_dict() if self.trace else None,
            "expected": self.expected.as_dict() if self.expected else None,
            "judgement": judgement,
            "differs": differs,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckResult:
        return cls(
            name=d["name"],
            outcome=d["outcome"],
            reason=d.get("reason"),
            detail=d.get("detail", ""),
            seconds=d.get("seconds", 0.0),
            description=d.get("description", ""),
            trace=PacketTrace.from_dict(d["trace"]) if d.get("trace") else None,
            expected=Expectation.from_dict(d["expected"]) if d.get("expected") else None,
        )


def judge(expected: Expectation | None, check: CheckResult) -> tuple[Judgement, list[str]]:
    """Compare an observation with its expectation. An error is never a match; a check
    with no expectation is "not judged", never a match. The reason and the rule are
    judged only where the expectation states them; a rule stated for a check that took
    no trace differs (the expectation cannot be confirmed)."""
    if check.outcome == "error":
        return "error", []
    if expected is None:
        return "not judged", []
    differs = []
    if expected.outcome != check.outcome:
        differs.append("outcome")
    if expected.reason is not None and expected.reason != check.reason:
        differs.append("reason")
    if expected.rule is not None and (check.rule is None or not expected.rule.matches(check.rule)):
        differs.append("rule")
    return ("mismatch" if differs else "match"), differs


@dataclass
class Layer:
    """One layer of a cell (machine, firewalld, docker): real, or what stands in for it."""

    real: bool
    what: str


@dataclass
class CellResult:
    cell: Cell
    provider: str
    fidelity: dict[str, Layer] = field(default_factory=dict)  # machine, firewalld, docker
    versions: dict[str, str] = field(default_factory=dict)  # os, kernel, firewalld, docker, ...
    checks: list[CheckResult] = field(default_factory=list)
    error: str = ""  # the cell could not be run (boot, provisioning, the checks' run)
    timings: dict[str, float] = field(default_factory=dict)  # up/provision/check/down
    why: str = ""  # the lab file's note on what this cell shows
    notes: list[str] = field(default_factory=list)

    @property
    def stood_in(self) -> bool:
        return any(not layer.real for layer in self.fidelity.values())

    @property
    def stand_ins(self) -> list[str]:
        """Every layer that stands in for something, as 'layer: what'."""
        return [f"{name}: {layer.what}" for name, layer in self.fidelity.items() if not layer.real]

    @property
    def errors(self) -> list[str]:
        """The cell's own error, then every check that could not run."""
        found = [self.error] if self.error else []
        return found + [f"{c.name}: {c.detail}" for c in self.checks if c.outcome == "error"]

    @property
    def judgement(self) -> Judgement:
        if self.errors:
            return "error"
        judged = [c.judgement for c in self.checks]
        if "mismatch" in judged:
            return "mismatch"
        if "match" in judged:
            return "match"
        return "not judged"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.cell.id,
            "label": self.cell.label,
            "axes": self.cell.as_dict(),
            "provider": self.provider,
            "fidelity": {k: asdict(v) for k, v in self.fidelity.items()},
            "stood_in": self.stood_in,
            "versions": self.versions,
            "checks": [c.as_dict() for c in self.checks],
            "error": self.error,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "why": self.why,
            "notes": self.notes,
            "judgement": self.judgement,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CellResult:
        return cls(
            cell=Cell.of(**d["axes"]),
            provider=d["provider"],
            fidelity={k: Layer(**v) for k, v in d.get("fidelity", {}).items()},
            versions=d.get("versions", {}),
            checks=[CheckResult.from_dict(c) for c in d.get("checks", [])],
            error=d.get("error", ""),
            timings=d.get("timings", {}),
            why=d.get("why", ""),
            notes=d.get("notes", []),
        )


@dataclass
class MatrixResult:
    lab: str
    provider: str
    cells: list[CellResult]
    judged: bool = True  # False with --reproduce: expectations are not compared
    seconds: float = 0.0

    @property
    def judgement(self) -> Judgement:
        found = {c.judgement for c in self.cells}
        for worst in ("error", "mismatch", "match"):
            if worst in found:
                return worst  # type: ignore[return-value]
        return "not judged"

    @property
    def exit_code(self) -> int:
        """0: every judged check matched; 1: a mismatch; 2: a cell or check errored."""
        return {"error": 2, "mismatch": 1}.get(self.judgement, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "provider": self.provider,
            "judged": self.judged,
            "seconds": round(self.seconds, 3),
            "judgement": self.judgement,
            "cells": [c.as_dict() for c in self.cells],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MatrixResult:
        return cls(
            lab=d["lab"],
            provider=d["provider"],
            cells=[CellResult.from_dict(c) for c in d["cells"]],
            judged=d.get("judged", True),
            seconds=d.get("seconds", 0.0),
        )
