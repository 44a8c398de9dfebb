"""The matrix as one self-contained HTML page (inline CSS, no scripts, no assets).

Stable hooks for tests and for readers who link into a report:

- ``#summary``            lab, provider, mode, "N/M cells match"
- ``#matrix``             the cells x checks grid; rows ``tr.cell``, entries
                          ``td.check.pass|blocked`` (+ ``.mismatch``), missing ``td.not-run``
- ``.stood-in``           the badge on a stood-in cell, ``.stood-in-reason`` its reason;
                          ``#stood-in`` lists every stood-in cell with its reason
- ``#errors``             infrastructure errors
- ``#traces``             one ``section.trace`` per traced check, with
                          ``ol.trace-path`` (``li.hop``, the deciding one ``li.hop.deciding``),
                          ``p.verdict-line`` and ``p.diagnosis``

Every piece of text from a result goes through html.escape.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from harness.models import CellResult, CheckResult, MatrixResult, TraceVerdict
from harness.report.json_report import PathLike, atomic_write
from harness.report.table import (
    MISMATCH_MARK,
    NOT_RUN,
    STOOD_IN,
    cell_traces,
    check_names,
    deciding_hop,
    is_mismatch,
    stood_in_reason,
    summary_line,
    trace_line,
    visible,
)

_CSS = """
:root { --pass: #1a7f37; --pass-bg: #dafbe1; --blocked: #9a6700; --blocked-bg: #fff8c5;
  --bad: #cf222e; --bad-bg: #ffebe9; --stood: #8250df; --stood-bg: #fbefff; --muted: #57606a; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem;
  color: #1f2328; }
h1 { font-size: 1.5rem; margin: 0 0 .5rem; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 .5rem; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 1rem; margin: 1rem 0 .25rem; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; }
pre { background: #f6f8fa; padding: .5rem; white-space: pre-wrap; word-break: break-word;
  margin: .25rem 0; }
#summary dl { display: grid; grid-template-columns: max-content auto; gap: .15rem 1rem;
  margin: 0; }
#summary dt { color: var(--muted); }
#summary dd { margin: 0; }
.verdict-ok { color: var(--pass); font-weight: 600; }
.verdict-bad { color: var(--bad); font-weight: 600; }
table.matrix { border-collapse: collapse; margin-top: .5rem; }
table.matrix th, table.matrix td { border: 1px solid #d0d7de; padding: .3rem .55rem;
  vertical-align: top; }
table.matrix thead th { background: #f6f8fa; font-weight: 600; }
table.matrix th.cell-id { text-align: left; white-space: nowrap; }
td.check { text-align: center; white-space: nowrap; }
td.pass { background: var(--pass-bg); color: var(--pass); }
td.blocked { background: var(--blocked-bg); color: var(--blocked); }
td.mismatch { background: var(--bad-bg); color: var(--bad); font-weight: 700;
  outline: 2px solid var(--bad); outline-offset: -2px; }
td.not-run { color: var(--muted); text-align: center; }
td.error, li.error { color: var(--bad); }
td.result-match { color: var(--pass); }
td.result-mismatch, td.result-error { color: var(--bad); font-weight: 600; }
.expected { display: block; font-size: 11px; font-weight: 400; }
.trace-link { font-size: 11px; margin-left: .25rem; }
.stood-in { display: inline-block; background: var(--stood-bg); color: var(--stood);
  border: 1px solid var(--stood); border-radius: 999px; padding: 0 .45rem; font-size: 11px;
  font-weight: 600; margin-left: .35rem; }
.stood-in-reason { color: var(--stood); font-size: 12px; white-space: normal; max-width: 28rem; }
.legend { color: var(--muted); font-size: 12px; margin: .4rem 0; }
section.trace { border-left: 3px solid var(--blocked); padding: .1rem .75rem; margin: .75rem 0; }
ol.trace-path { display: flex; flex-wrap: wrap; list-style: none; padding: 0; margin: .35rem 0;
  gap: .25rem; }
ol.trace-path li.hop { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 4px;
  padding: .1rem .4rem; }
ol.trace-path li.hop + li.hop::before { content: "\\2192  "; color: var(--muted); }
ol.trace-path li.deciding { background: var(--bad-bg); border-color: var(--bad); color: var(--bad);
  font-weight: 700; }
p.verdict-line { margin: .25rem 0; }
p.diagnosis { margin: .25rem 0; font-style: italic; }
ul.warnings { color: var(--blocked); margin: .25rem 0; }
footer { margin-top: 2rem; color: var(--muted); font-size: 12px; }
"""


def _e(value: object) -> str:
    return escape(visible(str(value)), quote=True)


class _Ids:
    """Stable, unique, HTML-safe ids derived from cell ids and check names."""

    def __init__(self) -> None:
        self._taken: dict[str, int] = {}
        self._memo: dict[tuple[str, ...], str] = {}

    def get(self, prefix: str, *parts: str) -> str:
        key = (prefix, *parts)
        if key not in self._memo:
            slug = "-".join(re.sub(r"[^A-Za-z0-9_]+", "-", p).strip("-") for p in parts)
            base = f"{prefix}-{slug}" if slug else prefix
            n = self._taken.get(base, 0)
            self._taken[base] = n + 1
            self._memo[key] = base if n == 0 else f"{base}-{n + 1}"
        return self._memo[key]


def _summary(result: MatrixResult) -> str:
    if result.judged:
        cls = "verdict-ok" if result.matches else "verdict-bad"
    else:
        cls = ""
    stood = sum(1 for c in result.cells if c.stood_in)
    errors = sum(1 for c in result.cells if c.error)
    rows = [
        ("lab", _e(result.lab)),
        ("provider", _e(result.provider)),
        ("mode", "judged against expectations" if result.judged else "reproduce (not judged)"),
        ("cells", str(len(result.cells))),
        ("result", f'<span class="{cls}" id="summary-line">{_e(summary_line(result))}</span>'),
    ]
    if stood:
        rows.append(("stood in", f'<span class="stood-in">{stood} {STOOD_IN}</span>'))
    if errors:
        rows.append(("infrastructure errors", f'<span class="verdict-bad">{errors}</span>'))
    if result.seconds:
        rows.append(("duration", f"{result.seconds:.1f}s"))
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<section id="summary"><h2>Summary</h2><dl>{body}</dl></section>'


def _stood_in_badge(cell: CellResult) -> str:
    reason = _e(stood_in_reason(cell))
    return (
        f'<span class="stood-in" title="{reason}">{STOOD_IN}</span>'
        f'<div class="stood-in-reason">{STOOD_IN}: {reason}</div>'
    )


def _check_td(
    result: MatrixResult, cell: CellResult, check: CheckResult | None, trace_id: str | None
) -> str:
    if check is None:
        return f'<td class="not-run" title="not run">{NOT_RUN}</td>'
    classes = ["check", _e(check.observed)]
    title = f"observed {check.observed}"
    if check.expected is not None and result.judged:
        title += f", expected {check.expected}"
    if check.detail:
        title += f": {check.detail}"
    inner = _e(check.observed)
    if is_mismatch(result, check):
        classes.append("mismatch")
        inner = (
            f"{MISMATCH_MARK} {_e(check.observed)}"
            f'<span class="expected">≠ expected {_e(check.expected)}</span>'
        )
    if trace_id:
        inner += f' <a class="trace-link" href="#{trace_id}">trace</a>'
    return (
        f'<td class="{" ".join(classes)}" data-check="{_e(check.name)}" '
        f'title="{_e(title)}">{inner}</td>'
    )


def _matrix(result: MatrixResult, names: list[str], ids: _Ids) -> str:
    head = "".join(f'<th scope="col">{_e(n)}</th>' for n in names)
    rows = []
    for cell in result.cells:
        cid = cell.cell.id
        traced = dict(cell_traces(cell))
        by_name = {c.name: c for c in cell.checks}
        row_classes = ["cell"]
        if cell.stood_in:
            row_classes.append("stood-in-cell")
        if cell.error:
            row_classes.append("error")
        elif result.judged:
            row_classes.append("match" if cell.matches else "mismatch")
        th = f'<th scope="row" class="cell-id"><span class="mono">{_e(cid)}</span>'
        if cell.stood_in:
            th += _stood_in_badge(cell)
        th += "</th>"
        tds = []
        if not cell.checks and cell.error and names:
            tds.append(
                f'<td class="error" colspan="{len(names)}">infrastructure error: '
                f'<a href="#{ids.get("error", cid)}">{_e(_first_line(cell.error))}</a></td>'
            )
        else:
            for name in names:
                check = by_name.get(name)
                tid = ids.get("trace", cid, name) if name in traced else None
                tds.append(_check_td(result, cell, check, tid))
        if cell.error:
            res = f'<td class="result-error">{MISMATCH_MARK} error</td>'
        elif not result.judged:
            res = f'<td class="result-unjudged">{NOT_RUN}</td>'
        elif cell.matches:
            res = '<td class="result-match">✓ match</td>'
        else:
            res = f'<td class="result-mismatch">{MISMATCH_MARK} mismatch</td>'
        rows.append(
            f'<tr id="{ids.get("cell", cid)}" class="{" ".join(row_classes)}" '
            f'data-cell="{_e(cid)}">{th}<td>{_e(cell.provider)}</td>{"".join(tds)}{res}</tr>'
        )
    legend = (
        '<p class="legend">pass / blocked = observed outcome'
        + (f"; {MISMATCH_MARK} observed ≠ expected = mismatch" if result.judged else "")
        + f"; {NOT_RUN} = not run; "
        f'<span class="stood-in">{STOOD_IN}</span> = a substitute plays this cell (reason shown)'
        "</p>"
    )
    return (
        '<section id="matrix-section"><h2>Matrix</h2>'
        '<table id="matrix" class="matrix"><thead><tr><th scope="col">cell</th>'
        f'<th scope="col">provider</th>{head}<th scope="col">result</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{legend}</section>"
    )


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else text


def _stood_in_section(result: MatrixResult, ids: _Ids) -> str:
    stood = [c for c in result.cells if c.stood_in]
    if not stood:
        return ""
    items = "".join(
        f'<li><a href="#{ids.get("cell", c.cell.id)}" class="mono">{_e(c.cell.id)}</a> '
        f'<span class="stood-in">{STOOD_IN}</span> '
        f'<span class="stood-in-reason">{_e(stood_in_reason(c))}</span></li>'
        for c in stood
    )
    return f'<section id="stood-in"><h2>Stood-in cells</h2><ul>{items}</ul></section>'


def _errors_section(result: MatrixResult, ids: _Ids) -> str:
    errored = [c for c in result.cells if c.error]
    if not errored:
        return ""
    items = "".join(
        f'<li class="error" id="{ids.get("error", c.cell.id)}">'
        f'<span class="mono">{_e(c.cell.id)}</span><pre>{_e(c.error)}</pre></li>'
        for c in errored
    )
    return f'<section id="errors"><h2>Infrastructure errors</h2><ul>{items}</ul></section>'


def _trace_path(trace: TraceVerdict) -> str:
    decided = deciding_hop(trace)
    hops = []
    for i, hop in enumerate(trace.path):
        if i == decided:
            hops.append(
                f'<li class="hop deciding" title="{_e(trace.verdict)} here">'
                f"<strong>{_e(hop)}</strong> ({_e(trace.verdict)})</li>"
            )
        else:
            hops.append(f'<li class="hop">{_e(hop)}</li>')
    if decided is None:
        # The deciding chain is not in the recorded path: show it as the last hop.
        hops.append(
            f'<li class="hop deciding"><strong>{_e(trace.table)}:{_e(trace.chain)}</strong> '
            f"({_e(trace.verdict)})</li>"
        )
    return f'<ol class="trace-path">{"".join(hops)}</ol>'


def _trace_section(
    result: MatrixResult, cell: CellResult, name: str, trace: TraceVerdict, ids: _Ids
) -> str:
    cid = cell.cell.id
    check = next((c for c in cell.checks if c.name == name), None)
    head = f'<span class="mono">{_e(cid)}</span> — {_e(name)}'
    if cell.stood_in:
        head += f' <span class="stood-in" title="{_e(stood_in_reason(cell))}">{STOOD_IN}</span>'
    parts = [f'<section class="trace" id="{ids.get("trace", cid, name)}"><h3>{head}</h3>']
    if check is not None:
        outcome = f"observed {check.observed}"
        if result.judged and check.expected is not None:
            outcome += f", expected {check.expected}"
        cls = "outcome mismatch" if is_mismatch(result, check) else "outcome"
        parts.append(f'<p class="{cls}">{_e(outcome)}</p>')
        if check.detail:
            parts.append(f'<pre class="detail">{_e(check.detail)}</pre>')
    parts.append(_trace_path(trace))
    parts.append(f'<p class="verdict-line"><code>{_e(trace_line(trace))}</code></p>')
    if trace.diagnosis:
        parts.append(f'<p class="diagnosis">{_e(trace.diagnosis)}</p>')
    if trace.warnings:
        items = "".join(f"<li>{_e(w)}</li>" for w in trace.warnings)
        parts.append(f'<ul class="warnings">{items}</ul>')
    parts.append("</section>")
    return "".join(parts)


def _traces_section(result: MatrixResult, ids: _Ids) -> str:
    sections = [
        _trace_section(result, cell, name, trace, ids)
        for cell in result.cells
        for name, trace in cell_traces(cell)
    ]
    if not sections:
        return ""
    return f'<section id="traces"><h2>Packet traces</h2>{"".join(sections)}</section>'


def render_html(result: MatrixResult) -> str:
    """The whole page as a string (write_html writes it)."""
    ids = _Ids()
    names = check_names(result)
    title = f"fwlab {result.lab} — {summary_line(result)}"
    body = "".join(
        [
            f"<header><h1>fwlab: {_e(result.lab)}</h1></header>",
            _summary(result),
            _matrix(result, names, ids),
            _stood_in_section(result, ids),
            _errors_section(result, ids),
            _traces_section(result, ids),
            "<footer>generated by fwlab — self-contained report, no external assets</footer>",
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def write_html(result: MatrixResult, path: PathLike) -> Path:
    """Write the result as one self-contained HTML file, atomically. Returns the path."""
    return atomic_write(path, render_html(result).encode("utf-8"))
