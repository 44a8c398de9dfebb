"""Reports: rich table, JSON, JUnit XML, HTML. Fast, no root, no machines."""

from __future__ import annotations

import io
import json
import os
from html.parser import HTMLParser

import pytest
from junitparser import Error, Failure, JUnitXml
from rich.console import Console

from harness.models import MatrixResult
from harness.report import load_json, render_table, write_html, write_json, write_junit

try:  # tests/unit as a package, or as a rootdir-relative directory
    from .factories import (
        ERROR_CELL,
        INFRA_ERROR,
        LAB,
        MISMATCH_CELL,
        MISMATCH_CHECK,
        NO_ROUTE,
        STOOD_IN_CELL,
        STOOD_IN_REASON,
        TRACED_CHECK,
        reproduce_matrix,
        sample_matrix,
    )
except ImportError:
    from factories import (  # type: ignore[no-redef]
        ERROR_CELL,
        INFRA_ERROR,
        LAB,
        MISMATCH_CELL,
        MISMATCH_CHECK,
        NO_ROUTE,
        STOOD_IN_CELL,
        STOOD_IN_REASON,
        TRACED_CHECK,
        reproduce_matrix,
        sample_matrix,
    )

SCRIPT = "<script>alert('fwlab')</script>"


def flat(text: str) -> str:
    """Whitespace-normalised text, so wrapped lines can be searched."""
    return " ".join(text.split())


def rendered(result, width: int = 160) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=False)
    render_table(result, console)
    return console.file.getvalue()


def cell_by_id(result, cell_id):
    return next(c for c in result.cells if c.cell.id == cell_id)


# -- the sample itself --------------------------------------------------------
def test_sample_matrix_is_what_the_report_tests_assume():
    result = sample_matrix()
    assert len(result.cells) == 5
    assert [c.cell.id for c in result.cells if c.stood_in] == [STOOD_IN_CELL]
    assert [c.cell.id for c in result.cells if c.error] == [ERROR_CELL]
    assert [c.cell.id for c in result.cells if not c.matches] == [ERROR_CELL, MISMATCH_CELL]
    traced = cell_by_id(result, STOOD_IN_CELL)
    check = next(c for c in traced.checks if c.name == TRACED_CHECK)
    assert check.observed == "blocked" and check.detail == NO_ROUTE and check.trace
    assert traced.trace is check.trace
    assert all(c.expected is None for cell in reproduce_matrix().cells for c in cell.checks)


# -- table ----------------------------------------------------------------------
def test_table_shows_cells_stood_in_mismatch_and_summary():
    out = rendered(sample_matrix())
    assert "\x1b[" not in out  # a plain console gets no ANSI codes
    for cell in sample_matrix().cells:
        assert cell.cell.id in out
    assert "stood in" in out
    assert flat(f"{STOOD_IN_CELL}: stood in — {STOOD_IN_REASON}") in flat(out)
    # the mismatch: marked in the grid and spelled out on one line below it
    assert "✗ blocked" in out and "≠ pass" in out
    assert f"✗ {MISMATCH_CELL} {MISMATCH_CHECK}: expected pass, observed blocked" in out
    assert out.count("✗ mismatch") == 1
    # trace one-liners, infra error, summary as the last line
    assert "REJECT in inet firewalld filter_FORWARD" in out
    assert "DROP in ip filter DOCKER-ISOLATION-STAGE-2" in out
    assert "diagnosis: docker0 is in no firewalld zone" in flat(out)
    assert flat(INFRA_ERROR) in flat(out)
    assert out.rstrip().splitlines()[-1] == "3/5 cells match"
    assert all(len(line) <= 160 for line in out.splitlines())


def test_table_reproduce_mode_is_not_judged():
    out = rendered(reproduce_matrix())
    assert out.rstrip().splitlines()[-1] == "reproduce mode: not judged"
    assert "≠" not in out and "✗ mismatch" not in out
    assert "stood in" in out and flat(STOOD_IN_REASON) in flat(out)
    assert "✗ error" in out  # infrastructure errors are still errors


def test_table_narrow_console_falls_back_to_one_block_per_cell():
    out = rendered(sample_matrix(), width=80)
    for cell in sample_matrix().cells:
        assert cell.cell.id in out
    assert f"{STOOD_IN_CELL}  stood in" in out
    assert "✗ blocked ≠ pass" in out
    assert out.rstrip().splitlines()[-1] == "3/5 cells match"
    assert all(len(line) <= 80 for line in out.splitlines())


def test_table_prints_result_text_literally_not_as_rich_markup():
    result = sample_matrix(detail_override="[bold red]boom[/bold red]")
    result.cells[0].stood_in_reason = "[link=x]not a link[/link]"
    result.cells[2].checks[3].detail = "[red]timed out[/red]"
    out = rendered(result)
    assert "[link=x]not a link[/link]" in out
    assert "[red]timed out[/red]" in out


def test_table_stood_in_without_a_reason_still_says_so():
    result = sample_matrix()
    result.cells[0].stood_in_reason = ""
    out = rendered(result)
    assert f"{STOOD_IN_CELL}: stood in — (no reason recorded)" in out


# -- JSON ---------------------------------------------------------------------------
def test_json_round_trips_with_schema(tmp_path):
    result = sample_matrix()
    path = write_json(result, tmp_path / "out" / "matrix.json")
    assert path == tmp_path / "out" / "matrix.json"
    doc = load_json(path)
    assert doc == json.loads(json.dumps({"schema": "fwlab.matrix/1", **result.as_dict()}))
    assert list(doc)[0] == "schema"
    assert doc["matches"] is False and doc["judged"] is True
    assert doc["lab"] == LAB
    text = path.read_text(encoding="utf-8")
    assert text.startswith("{\n  ") and text.endswith("}\n")  # pretty-printed
    assert "≠" not in text and NO_ROUTE in text


def test_json_has_the_per_cell_fields(tmp_path):
    doc = load_json(write_json(sample_matrix(), tmp_path / "m.json"))
    cells = {c["id"]: c for c in doc["cells"]}
    assert set(cells) == {c.cell.id for c in sample_matrix().cells}
    for cell in doc["cells"]:
        assert {"axes", "stood_in", "stood_in_reason", "checks", "trace", "matches"} <= set(cell)
        assert set(cell["axes"]) == {"docker", "firewalld"}
        for check in cell["checks"]:
            assert {"name", "expected", "observed", "detail", "seconds"} <= set(check)
    stood = cells[STOOD_IN_CELL]
    assert stood["stood_in"] is True and stood["stood_in_reason"] == STOOD_IN_REASON
    assert stood["axes"] == {"docker": "19.03", "firewalld": "on"}
    assert {k: stood["trace"][k] for k in ("family", "table", "chain", "verdict")} == {
        "family": "inet",
        "table": "firewalld",
        "chain": "filter_FORWARD",
        "verdict": "reject",
    }
    assert stood["trace"]["rule"].startswith("reject with icmpx admin-prohibited")
    traced = next(c for c in stood["checks"] if c["name"] == TRACED_CHECK)
    assert traced["detail"] == NO_ROUTE and traced["trace"]["verdict"] == "reject"
    assert cells[MISMATCH_CELL]["matches"] is False
    assert cells[ERROR_CELL]["error"] and cells[ERROR_CELL]["checks"] == []
    assert cells[ERROR_CELL]["trace"] is None
    assert not any(c["stood_in"] for i, c in cells.items() if i != STOOD_IN_CELL)


def test_json_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "matrix.json"
    write_json(sample_matrix(), path)
    before = path.read_bytes()
    assert os.listdir(tmp_path) == ["matrix.json"]

    def boom(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk on fire"):
        write_json(reproduce_matrix(), path)
    assert path.read_bytes() == before  # the old report is intact ...
    assert os.listdir(tmp_path) == ["matrix.json"]  # ... and no temp file is left


def test_load_json_refuses_other_documents(tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"schema": "something/2", "cells": []}')
    with pytest.raises(ValueError, match="schema"):
        load_json(other)
    other.write_text("[1, 2]")
    with pytest.raises(ValueError):
        load_json(other)


# -- JUnit ---------------------------------------------------------------------------
def junit_cases(xml):
    return [(suite, case) for suite in xml for case in suite]


def test_junit_one_suite_per_cell_one_case_per_check(tmp_path):
    result = sample_matrix()
    xml = JUnitXml.fromfile(str(write_junit(result, tmp_path / "junit.xml")))
    suites = {s.name: s for s in xml}
    assert list(suites) == [f"{LAB}.{c.cell.id}" for c in result.cells]
    for cell in result.cells:
        suite = suites[f"{LAB}.{cell.cell.id}"]
        names = [case.name for case in suite]
        if cell.error:
            assert names == ["provision"]
        else:
            assert names == [c.name for c in cell.checks]
        for case in suite:  # classnames group by cell
            assert case.classname == f"{LAB}.{cell.cell.id}" == suite.name
    expected_cases = sum(len(c.checks) for c in result.cells) + 1
    assert len(junit_cases(xml)) == expected_cases == xml.tests
    case = next(c for _, c in junit_cases(xml) if c.name == TRACED_CHECK)
    assert case.time == pytest.approx(3.02)


def test_junit_failure_on_the_mismatch_only_and_error_on_the_infra_cell(tmp_path):
    xml = JUnitXml.fromfile(str(write_junit(sample_matrix(), tmp_path / "junit.xml")))
    failed = [(s.name, c) for s, c in junit_cases(xml) if c.is_failure]
    assert [(n, c.name) for n, c in failed] == [(f"{LAB}.{MISMATCH_CELL}", MISMATCH_CHECK)]
    failure = failed[0][1].result[0]
    assert isinstance(failure, Failure)
    assert failure.message == "expected pass, observed blocked: wget: download timed out"
    assert "DOCKER-ISOLATION-STAGE-2" in failure.text
    errored = [(s.name, c) for s, c in junit_cases(xml) if c.is_error]
    assert [(n, c.name) for n, c in errored] == [(f"{LAB}.{ERROR_CELL}", "provision")]
    error = errored[0][1].result[0]
    assert isinstance(error, Error) and error.text == INFRA_ERROR
    assert xml.failures == 1 and xml.errors == 1


def test_junit_stood_in_cell_says_so_everywhere(tmp_path):
    xml = JUnitXml.fromfile(str(write_junit(sample_matrix(), tmp_path / "junit.xml")))
    for suite in xml:
        props = {p.name: p.value for p in suite.properties()}
        if suite.name == f"{LAB}.{STOOD_IN_CELL}":
            assert props["stood_in"] == STOOD_IN_REASON
            assert props["axis.docker"] == "19.03"
            for case in suite:
                assert case.system_out.startswith(f"STOOD IN: {STOOD_IN_REASON}\n")
            traced = next(c for c in suite if c.name == TRACED_CHECK)
            assert f"detail: {NO_ROUTE}" in traced.system_out
            assert "trace: REJECT in inet firewalld filter_FORWARD" in traced.system_out
            assert "diagnosis: docker0 is in no firewalld zone" in traced.system_out
        else:
            assert "stood_in" not in props
            assert all("STOOD IN" not in (case.system_out or "") for case in suite)


def test_junit_reproduce_mode_has_no_failures(tmp_path):
    xml = JUnitXml.fromfile(str(write_junit(reproduce_matrix(), tmp_path / "junit.xml")))
    assert not any(c.is_failure for _, c in junit_cases(xml))
    assert xml.failures == 0 and xml.errors == 1  # a box that never booted is still an error
    mismatch_suite = next(s for s in xml if s.name == f"{LAB}.{MISMATCH_CELL}")
    case = next(c for c in mismatch_suite if c.name == MISMATCH_CHECK)
    assert "observed: blocked" in case.system_out
    assert "reproduce mode: not judged" in case.system_out


def test_junit_survives_control_characters_and_markup(tmp_path):
    result = sample_matrix(detail_override=f"\x1b[31m{SCRIPT}\x00 & more")
    result.cells[2].checks[3].detail = "timed out \x07 <b>"
    xml = JUnitXml.fromfile(str(write_junit(result, tmp_path / "junit.xml")))
    case = next(c for _, c in junit_cases(xml) if c.name == TRACED_CHECK)
    assert f"\\x1b[31m{SCRIPT}\\x00 & more" in case.system_out
    failure = next(c for _, c in junit_cases(xml) if c.is_failure).result[0]
    assert failure.message == "expected pass, observed blocked: timed out \\x07 <b>"


# -- HTML ------------------------------------------------------------------------------
class Page(HTMLParser):
    """Checks that tags nest and close, and collects ids, classes and text."""

    VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict]] = []
        self.ids: list[str] = []
        self.by_class: dict[str, list[dict]] = {}
        self.elements: list[dict] = []
        self.errors: list[str] = []
        self.feed(text)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed: {self.stack}")

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        el = {"tag": tag, "attrs": attrs, "text": ""}
        self.elements.append(el)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        for cls in (attrs.get("class") or "").split():
            self.by_class.setdefault(cls, []).append(el)
        if tag not in self.VOID:
            self.stack.append((tag, el))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1][0] if self.stack else None}")
            return
        self.stack.pop()

    def handle_data(self, data):
        for _, el in self.stack:
            el["text"] += data


def test_html_is_well_formed_and_self_contained(tmp_path):
    text = write_html(sample_matrix(), tmp_path / "r" / "report.html").read_text("utf-8")
    page = Page(text)
    assert page.errors == []
    assert text.startswith("<!DOCTYPE html>")
    assert len(page.ids) == len(set(page.ids)), "ids must be unique"
    assert "matrix" in page.ids and "summary" in page.ids
    # no external assets, no scripts
    tags = {el["tag"] for el in page.elements}
    assert not tags & {"script", "link", "img", "iframe"}
    assert not any("src" in el["attrs"] for el in page.elements)
    hrefs = [el["attrs"]["href"] for el in page.elements if "href" in el["attrs"]]
    assert hrefs and all(h.startswith("#") and h[1:] in page.ids for h in hrefs)
    assert "<style>" in text
    summary = next(el for el in page.elements if el["attrs"].get("id") == "summary")
    assert LAB in summary["text"] and "3/5 cells match" in summary["text"]


def test_html_matrix_grid_marks_outcomes_mismatch_and_stood_in(tmp_path):
    result = sample_matrix()
    page = Page(write_html(result, tmp_path / "report.html").read_text("utf-8"))
    matrix = next(el for el in page.elements if el["attrs"].get("id") == "matrix")
    for cell in result.cells:
        assert cell.cell.id in matrix["text"]
    rows = [el for el in page.by_class["cell"] if el["tag"] == "tr"]
    assert [r["attrs"]["data-cell"] for r in rows] == [c.cell.id for c in result.cells]
    mismatches = page.by_class["mismatch"]
    tds = [el for el in mismatches if el["tag"] == "td"]
    assert [td["attrs"]["data-check"] for td in tds] == [MISMATCH_CHECK]
    assert "✗" in tds[0]["text"] and "expected pass" in tds[0]["text"]
    assert len([el for el in page.by_class["pass"] if el["tag"] == "td"]) > 10
    assert len([el for el in page.by_class["blocked"] if el["tag"] == "td"]) == 5
    badges = page.by_class["stood-in"]
    assert badges and all(b["text"].strip().endswith("stood in") for b in badges)
    assert any(STOOD_IN_REASON in el["text"] for el in page.by_class["stood-in-reason"])
    stood_row = next(r for r in rows if r["attrs"]["data-cell"] == STOOD_IN_CELL)
    assert "stood in" in stood_row["text"] and STOOD_IN_REASON in stood_row["text"]
    errors = next(el for el in page.elements if el["attrs"].get("id") == "errors")
    assert INFRA_ERROR in errors["text"]


def test_html_traces_show_path_deciding_hop_verdict_and_diagnosis(tmp_path):
    page = Page(write_html(sample_matrix(), tmp_path / "report.html").read_text("utf-8"))
    paths = page.by_class["trace-path"]
    assert len(paths) == 2
    assert "filter:FORWARD" in paths[0]["text"] and "filter:DOCKER-USER" in paths[0]["text"]
    deciding = [flat(el["text"]) for el in page.by_class["deciding"]]
    assert deciding == [
        "firewalld:filter_FORWARD (reject)",
        "filter:DOCKER-ISOLATION-STAGE-2 (drop)",
    ]
    verdicts = [el["text"] for el in page.by_class["verdict-line"]]
    assert verdicts[0].startswith("REJECT in inet firewalld filter_FORWARD (rule: reject with")
    assert "docker0 is in no firewalld zone" in page.by_class["diagnosis"][0]["text"]
    sections = page.by_class["trace"]
    assert NO_ROUTE in sections[0]["text"]


def test_html_escapes_injected_markup(tmp_path):
    result = sample_matrix(detail_override=SCRIPT + "\x1b[0m")
    result.cells[0].stood_in_reason = 'reason with "quotes" & <b>tags</b>'
    text = write_html(result, tmp_path / "report.html").read_text("utf-8")
    assert "<script" not in text and "<b>" not in text
    assert "&lt;script&gt;alert(&#x27;fwlab&#x27;)&lt;/script&gt;" in text
    assert "\x1b" not in text
    page = Page(text)
    assert page.errors == []
    assert any(SCRIPT in el["text"] for el in page.by_class["detail"])
    assert any(
        'reason with "quotes" & <b>tags</b>' in el["text"]
        for el in page.by_class["stood-in-reason"]
    )


def test_html_reproduce_mode(tmp_path):
    page = Page(write_html(reproduce_matrix(), tmp_path / "report.html").read_text("utf-8"))
    assert page.errors == []
    assert not [el for el in page.by_class.get("mismatch", []) if el["tag"] == "td"]
    summary = next(el for el in page.elements if el["attrs"].get("id") == "summary")
    assert "reproduce mode: not judged" in summary["text"]
    assert page.by_class["stood-in"] and page.by_class["trace-path"]


# -- edge cases ------------------------------------------------------------------------
def test_cell_level_trace_without_a_check_trace_is_still_reported(tmp_path):
    result = sample_matrix()
    stood = cell_by_id(result, STOOD_IN_CELL)
    next(c for c in stood.checks if c.name == TRACED_CHECK).trace = None
    # the cell's trace is labelled with its first blocked check
    out = rendered(result)
    assert f"{STOOD_IN_CELL} egress-name: REJECT in inet firewalld filter_FORWARD" in out
    page = Page(write_html(result, tmp_path / "r.html").read_text("utf-8"))
    assert page.errors == [] and len(page.by_class["trace-path"]) == 2
    xml = JUnitXml.fromfile(str(write_junit(result, tmp_path / "j.xml")))
    case = next(
        c for s in xml if s.name.endswith(STOOD_IN_CELL) for c in s if c.name == "egress-name"
    )
    assert "trace: REJECT in inet firewalld" in case.system_out


def test_empty_matrix_renders_everywhere(tmp_path):
    empty = MatrixResult(lab=LAB, provider="none", cells=[])
    assert rendered(empty).rstrip().splitlines()[-1] == "0/0 cells match"
    assert load_json(write_json(empty, tmp_path / "e.json"))["cells"] == []
    assert len(JUnitXml.fromfile(str(write_junit(empty, tmp_path / "e.xml")))) == 0
    assert Page(write_html(empty, tmp_path / "e.html").read_text("utf-8")).errors == []
