"""Why does A fail when B passes? Align two packets' paths and show where they part."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from harness.models import Hop, PacketTrace


@dataclass
class PathDiff:
    a: PacketTrace
    b: PacketTrace
    common: int = 0  # hops the two paths share before they part (there)
    # Where they part: the stretch that holds a deciding hop of either packet (where their
    # fates part), else the first stretch where they differ.
    only_a: list[Hop] = field(default_factory=list)
    only_b: list[Hop] = field(default_factory=list)
    rejoin: str = ""  # where they meet again, if they do
    detours: int = 0  # earlier stretches where they differ and meet again, not shown

    @property
    def parted(self) -> bool:
        return bool(self.only_a or self.only_b)

    def lines(self, label_a: str = "A", label_b: str = "B") -> list[str]:
        out = [f"{label_a}: {self.a.packet}", f"{label_b}: {self.b.packet}"]
        if not self.parted:
            out.append("the two paths do not part")
        else:
            detours = f" (and {self.detours} detour(s) that meet again)" if self.detours else ""
            out.append(f"the same {self.common} hop(s){detours}, then they part:")
            for label, hops in ((label_a, self.only_a), (label_b, self.only_b)):
                out.append(f"  {label}: " + (" -> ".join(_hop(h) for h in hops) or "(nothing)"))
            if self.rejoin:
                out.append(f"  and meet again at {self.rejoin}")
        for label, trace in ((label_a, self.a), (label_b, self.b)):
            hop = trace.deciding
            decided = f"{hop.verdict.upper()} in {hop.where}" if trace.final and hop else trace.note
            out.append(f"{label} is decided: {decided or 'no final verdict'}")
        return out


def _hop(hop: Hop) -> str:
    return (
        f"{hop.where} ({hop.verdict})" if hop.verdict in ("accept", "drop", "reject") else hop.where
    )


def _decided_in(trace: PacketTrace, start: int, end: int) -> bool:
    return trace.final and trace.decision is not None and start <= trace.decision < end


def diff(a: PacketTrace, b: PacketTrace) -> PathDiff:
    wa, wb = [h.where for h in a.hops], [h.where for h in b.hops]
    result = PathDiff(a, b)
    matcher = difflib.SequenceMatcher(a=wa, b=wb, autojunk=False)
    stretches = []  # (hops shared before it, i1, i2, j1, j2): where the paths differ
    shared = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            shared += i2 - i1
        else:
            stretches.append((shared, i1, i2, j1, j2))
    chosen = next(
        (s for s in stretches if _decided_in(a, s[1], s[2]) or _decided_in(b, s[3], s[4])),
        stretches[0] if stretches else None,
    )
    if chosen is not None:
        result.common, i1, i2, j1, j2 = chosen
        result.only_a, result.only_b = a.hops[i1:i2], b.hops[j1:j2]
        # A path that ends (a drop) against one that goes on: both are shown up to their ends.
        result.rejoin = wa[i2] if i2 < len(wa) and j2 < len(wb) else ""
        result.detours = stretches.index(chosen)
    # Where the paths differ only in what the same chain did, show that chain on both sides.
    if not result.parted:
        for i, (ha, hb) in enumerate(zip(a.hops, b.hops)):
            if ha.verdict != hb.verdict and (
                ha.verdict in ("accept", "drop", "reject")
                or hb.verdict in ("accept", "drop", "reject")
            ):
                result.common, result.only_a, result.only_b = i, [ha], [hb]
                break
    return result


def _as_dict(self: PathDiff) -> dict:
    return {
        "a": self.a.as_dict(),
        "b": self.b.as_dict(),
        "common": self.common,
        "only_a": [h.where for h in self.only_a],
        "only_b": [h.where for h in self.only_b],
        "rejoin": self.rejoin,
        "detours": self.detours,
        "parted": self.parted,
    }


PathDiff.as_dict = _as_dict  # type: ignore[attr-defined]
