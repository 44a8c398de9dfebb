"""The matrix as JUnit XML, for CI dashboards.

One <testsuite> per cell ("<lab> <cell label>"), one <testcase> per check, whose
classname is the cell id so dashboards group by cell:

- a mismatch -> <failure> whose message says which part differed (outcome, reason, rule);
- a check that could not run, or a cell that could not -> <error> with the real message;
- not judged (no expectation, or reproduce mode) -> passes, and says so in system-out;
- fidelity and versions -> suite properties; every case's system-out starts with the
  cell's fidelity lines ("STOOD IN: ..." where a layer stands in).
"""

from __future__ import annotations

import io
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, TestCase, TestSuite

from harness.models import CellResult, CheckResult, MatrixResult
from harness.report.common import (
    decision_text,
    fidelity_lines,
    mismatch_text,
    observed_text,
    visible,
)
from harness.report.json_report import PathLike, atomic_write

CELL_CASE = "cell"
_MESSAGE_MAX = 500


def _one_line(text: str, limit: int = _MESSAGE_MAX) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _check_out(cell: CellResult, check: CheckResult) -> str:
    lines = fidelity_lines(cell)
    lines.append(f"expected: {check.expected or '(none: not judged)'}")
    lines.append(f"observed: {observed_text(check)}")
    lines.append(f"judgement: {check.judgement}")
    if check.detail:
        lines.append(f"detail: {check.detail}")
    if check.trace is not None:
        lines.append(f"packet: {check.trace.packet}")
        lines.append(f"decided: {decision_text(check.trace)}")
        lines.append(f"path: {' -> '.join(h.where for h in check.trace.hops)}")
        if check.trace.diagnosis:
            lines.append(f"diagnosis: {check.trace.diagnosis}")
    return visible("\n".join(lines))


def _cell_suite(result: MatrixResult, cell: CellResult) -> TestSuite:
    suite = TestSuite(visible(f"{result.lab} {cell.cell.label}"))
    suite.add_property("provider", cell.provider)
    for axis, value in cell.cell.axes:
        suite.add_property(f"axis.{axis}", visible(value))
    for name, layer in cell.fidelity.items():
        suite.add_property(
            f"fidelity.{name}", visible(("real: " if layer.real else "STOOD IN: ") + layer.what)
        )
    for name, version in cell.versions.items():
        suite.add_property(f"version.{name}", visible(version))
    cases = []
    for check in cell.checks:
        case = TestCase(visible(check.name), cell.cell.id, round(check.seconds, 3))
        out = _check_out(cell, check)
        if check.judgement == "mismatch":
            failure = Failure(visible(_one_line(mismatch_text(check))), "mismatch")
            failure.text = out
            case.result = [failure]
        elif check.judgement == "error":
            error = Error(
                visible(_one_line(f"{check.name} could not run: {check.detail}")), "error"
            )
            error.text = out
            case.result = [error]
        case.system_out = out
        cases.append(case)
    if cell.error:
        case = TestCase(CELL_CASE, cell.cell.id, round(sum(cell.timings.values()), 3))
        error = Error(visible(_one_line(cell.error)), "error")
        error.text = visible(cell.error)
        case.result = [error]
        case.system_out = visible("\n".join(fidelity_lines(cell) + [f"error: {cell.error}"]))
        cases.append(case)
    suite.add_testcases(cases)
    return suite


def to_junit(result: MatrixResult) -> JUnitXml:
    xml = JUnitXml(visible(f"fwlab {result.lab}"))
    for cell in result.cells:
        xml.add_testsuite(_cell_suite(result, cell))
    xml.update_statistics()
    return xml


def write_junit(result: MatrixResult, path: PathLike) -> Path:
    buf = io.BytesIO()
    to_junit(result).write(buf, pretty=True)
    return atomic_write(path, buf.getvalue())
