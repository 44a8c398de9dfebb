"""The matrix as JUnit XML, for CI dashboards.

One <testsuite> per cell, named "<lab>.<cell id>"; one <testcase> per check,
whose classname is the same "<lab>.<cell id>" so dashboards group by cell.

- judged mismatch        -> <failure message="expected pass, observed blocked: ...">
- infrastructure error   -> one extra testcase "provision" carrying an <error>
- reproduce mode         -> never a failure; the observed outcome is in system-out
- stood-in cell          -> suite property "stood_in" = reason, and every testcase's
                            system-out starts with "STOOD IN: <reason>"
"""

from __future__ import annotations

import io
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, TestCase, TestSuite

from harness.models import CellResult, CheckResult, MatrixResult
from harness.report.json_report import PathLike, atomic_write
from harness.report.table import (
    cell_traces,
    is_mismatch,
    stood_in_reason,
    trace_line,
    visible,
)

PROVISION_CASE = "provision"
_MESSAGE_MAX = 500

_xml_safe = visible  # XML 1.0 cannot carry control characters at all


def _one_line(text: str, limit: int = _MESSAGE_MAX) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _check_out(result: MatrixResult, cell: CellResult, check: CheckResult) -> str:
    lines = []
    if cell.stood_in:
        lines.append(f"STOOD IN: {stood_in_reason(cell)}")
    if result.judged:
        lines.append(f"expected: {check.expected or '(none)'}")
    else:
        lines.append("reproduce mode: not judged")
    lines.append(f"observed: {check.observed}")
    if check.detail:
        lines.append(f"detail: {check.detail}")
    trace = check.trace
    if trace is None and cell.trace is not None:
        labelled = dict(cell_traces(cell))
        if labelled.get(check.name) is cell.trace:
            trace = cell.trace
    if trace is not None:
        lines.append(f"trace: {trace_line(trace)}")
        if trace.path:
            lines.append(f"trace path: {' -> '.join(trace.path)}")
        if trace.diagnosis:
            lines.append(f"diagnosis: {trace.diagnosis}")
        lines.extend(f"trace warning: {w}" for w in trace.warnings)
    return "\n".join(lines)


def _cell_suite(result: MatrixResult, cell: CellResult) -> TestSuite:
    classname = _xml_safe(f"{result.lab}.{cell.cell.id}")
    suite = TestSuite(classname)
    suite.add_property("provider", _xml_safe(cell.provider))
    for axis, value in cell.cell.axes:
        suite.add_property(f"axis.{axis}", _xml_safe(value))
    if cell.stood_in:
        suite.add_property("stood_in", _xml_safe(stood_in_reason(cell)))
    if cell.notes:
        suite.add_property("notes", _xml_safe("; ".join(cell.notes)))

    cases = []
    for check in cell.checks:
        case = TestCase(_xml_safe(check.name), classname, round(check.seconds, 3))
        out = _xml_safe(_check_out(result, cell, check))
        if is_mismatch(result, check):
            message = f"expected {check.expected}, observed {check.observed}: {check.detail}"
            failure = Failure(_xml_safe(_one_line(message)), "mismatch")
            failure.text = out
            case.result = [failure]
        case.system_out = out
        cases.append(case)

    if cell.error:
        seconds = sum(cell.timings.get(k, 0.0) for k in ("up", "provision"))
        case = TestCase(PROVISION_CASE, classname, round(seconds, 3))
        error = Error(_xml_safe(_one_line(cell.error)), "infrastructure")
        error.text = _xml_safe(cell.error)
        case.result = [error]
        out = [f"STOOD IN: {stood_in_reason(cell)}"] if cell.stood_in else []
        out.append(f"infrastructure error: {cell.error}")
        case.system_out = _xml_safe("\n".join(out))
        cases.append(case)

    suite.add_testcases(cases)
    return suite


def to_junit(result: MatrixResult) -> JUnitXml:
    """The JUnitXml object for a result (write_junit writes it)."""
    xml = JUnitXml(_xml_safe(f"fwlab {result.lab}"))
    for cell in result.cells:
        xml.add_testsuite(_cell_suite(result, cell))
    xml.update_statistics()
    return xml


def write_junit(result: MatrixResult, path: PathLike) -> Path:
    """Write the result as JUnit XML, atomically. Returns the path."""
    buf = io.BytesIO()
    to_junit(result).write(buf, pretty=True)
    return atomic_write(path, buf.getvalue())
