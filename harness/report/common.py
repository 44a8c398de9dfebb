"""What every report says, in the same words: entries of the grid, mismatches, fidelity,
traces. The terminal, JSON, JUnit, HTML and Markdown writers all use these."""

from __future__ import annotations

import re

from harness.models import CellResult, CheckResult, MatrixResult, PacketTrace

MARKS = {"match": "✓", "mismatch": "✗", "not judged": "·", "error": "!"}
NOT_RUN = "—"
STOOD_IN = "stood in"

# Characters XML 1.0 cannot carry and HTML forbids: probe output may hold ANSI escapes or
# NULs. They are shown as visible "\x1b" instead.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def visible(text: str) -> str:
    """text with control characters (other than tab/newline/CR) made visible."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def check_names(result: MatrixResult) -> list[str]:
    """Every check name in the matrix, in first-seen order (the grid's rows)."""
    seen: dict[str, None] = {}
    for cell in result.cells:
        for check in cell.checks:
            seen.setdefault(check.name, None)
    return list(seen)


def observed(check: CheckResult) -> str:
    """'pass', 'rejected', 'timeout', 'dns', 'error': the outcome, or why it was blocked."""
    if check.outcome == "blocked":
        return check.reason or "blocked"
    return check.outcome


def entry(check: CheckResult | None) -> str:
    """A grid entry: '✓ rejected', '✗ pass', '· timeout', '! error'."""
    if check is None:
        return NOT_RUN
    return f"{MARKS[check.judgement]} {observed(check)}"


def observed_text(check: CheckResult) -> str:
    text = check.outcome + (f"/{check.reason}" if check.reason else "")
    return text + (f" by {check.rule}" if check.rule else "")


def mismatch_text(check: CheckResult) -> str:
    """'egress-ip: reason differs: expected blocked/timeout, observed blocked/rejected ...'"""
    return (
        f"{check.name}: {' and '.join(check.differs)} "
        f"differ{'s' if len(check.differs) == 1 else ''}: "
        f"expected {check.expected}, observed {observed_text(check)}"
    )


def fidelity_lines(cell: CellResult) -> list[str]:
    """One line per layer: 'machine: STOOD IN: ...' or 'docker: real: Docker 20.10.5 (...)'."""
    return [
        f"{name}: {'real' if layer.real else 'STOOD IN'}: {layer.what}"
        for name, layer in cell.fidelity.items()
    ]


def decision_text(trace: PacketTrace) -> str:
    hop = trace.deciding
    if trace.final and hop is not None:
        rule = f" ({hop.rule})" if hop.rule and hop.rule != hop.verdict else ""
        return f"{hop.verdict.upper()} in {hop.where}{rule}"
    return trace.note or "no final verdict in this capture"


def summary_line(result: MatrixResult) -> str:
    if not result.judged:
        return f"reproduce mode: {len(result.cells)} cell(s), not judged"
    counts = {j: sum(1 for c in result.cells if c.judgement == j) for j in MARKS}
    parts = [f"{counts['match']}/{len(result.cells)} cells match"]
    if counts["mismatch"]:
        parts.append(f"{counts['mismatch']} mismatch")
    if counts["error"]:
        parts.append(f"{counts['error']} error")
    return ", ".join(parts)
