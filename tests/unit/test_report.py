"""Reports of a matrix run: JSON (and its schema), the terminal grid, JUnit XML, HTML and
Markdown. Fast, no root, no machines: the sample's traces are real captures read by the
real trace reader (tests/unit/factories.py)."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml
from rich.console import Console

from harness.errors import UsageError
from harness.models import (
    Cell,
    CellResult,
    CheckResult,
    Expectation,
    Layer,
    MatrixResult,
)
from harness.report import load_json, render_table, write_html, write_json, write_junit
from harness.report.common import mismatch_text, summary_line
from harness.report.html import anchor, render_html
from harness.report.json_report import FORMAT, problems, to_document
from harness.report.junit import to_junit
from harness.report.markdown import render_markdown, write_markdown
from tests.unit.factories import (
    FIDELITY_REAL_DOCKER,
    FIDELITY_STOOD_IN,
    VERSIONS,
    sample_matrix,
)

WIDTH = 100
STOOD_IN_CELL = "docker-19.03_firewalld-on_os-bullseye"  # docker stands in for 19.03
MISMATCH_CELL = "docker-20.10_firewalld-on_os-bullseye"  # c2c-ip: outcome and rule differ
ERROR_CELL = "docker-19.03_firewalld-off_os-bullseye"  # never booted
ERROR_CHECK_CELL = "docker-20.10_firewalld-off_os-bullseye"  # egress-ip could not run
BOOT_ERROR = "lab m1-2 did not finish booting: degraded"
PROBE_ERROR = "the probe could not run (exit 125): docker: Error response from daemon"
SCRIPT = "<script>alert('fwlab')</script>"
ANSI = "\x1b[31mNo route\x1b[0m to host\x00\x07"


def flat(text: str) -> str:
    """Whitespace-normalised text, so lines wrapped by the terminal can be searched."""
    return " ".join(text.split())


def cell_of(result: MatrixResult, cell_id: str) -> CellResult:
    return next(c for c in result.cells if c.cell.id == cell_id)


def check_of(result: MatrixResult, cell_id: str, name: str) -> CheckResult:
    return next(c for c in cell_of(result, cell_id).checks if c.name == name)


def mismatch_check() -> CheckResult:
    return check_of(sample_matrix(), MISMATCH_CELL, "c2c-ip")


def twelve_cells() -> MatrixResult:
    """The sample's four cells on three OSes: 12 cells, more than one grid holds."""
    base = sample_matrix()
    cells = []
    for os_name in ("bullseye", "bookworm", "buster"):
        for cell in base.cells:
            axes = {**cell.cell.as_dict(), "os": os_name}
            cells.append(dataclasses.replace(copy.deepcopy(cell), cell=Cell.of(**axes)))
    return MatrixResult(base.lab, base.provider, cells, seconds=base.seconds)


def hostile_matrix() -> MatrixResult:
    """Results holding markup and control characters, as probes and labs may print."""
    result = sample_matrix()
    result.lab = f"lab{SCRIPT}"
    cell = cell_of(result, STOOD_IN_CELL)
    cell.why = f"why {SCRIPT}"
    cell.checks[1].detail = f"{SCRIPT} {ANSI}"
    mismatch = check_of(result, MISMATCH_CELL, "c2c-ip")
    mismatch.detail = f"{ANSI} {SCRIPT}"
    error = check_of(result, ERROR_CHECK_CELL, "egress-ip")
    error.detail = f"docker: {ANSI} {SCRIPT}"
    cell_of(result, ERROR_CELL).error = f"boot failed: {ANSI}\n{SCRIPT}"
    return result


# -- JSON -----------------------------------------------------------------------------
EMPTY = MatrixResult("docker-firewalld", "nspawn", [], judged=True, seconds=0.0)


@pytest.mark.parametrize(
    "result",
    [sample_matrix(), sample_matrix(judged=False), EMPTY, twelve_cells(), hostile_matrix()],
    ids=["judged", "reproduce", "no-cells", "twelve", "hostile"],
)
def test_every_document_holds_to_the_schema(result, tmp_path):
    doc = to_document(result)
    assert doc["format"] == FORMAT
    assert problems(doc) == []
    path = write_json(result, tmp_path / "matrix.json")
    assert problems(json.loads(path.read_text(encoding="utf-8"))) == []


def test_a_cell_with_any_axis_names_holds_to_the_schema():
    result = sample_matrix()
    result.cells[0] = dataclasses.replace(
        result.cells[0], cell=Cell.of(**{"fw backend": "nftables", "os": "CentOS 8/Stream"})
    )
    assert problems(to_document(result)) == []


def _tamper(change) -> dict:
    doc = to_document(sample_matrix())
    change(doc)
    return doc


@pytest.mark.parametrize(
    "change, where",
    [
        (lambda d: d.update(colour="red"), "(top)"),
        (lambda d: d["cells"][0]["checks"][0].update(verdict="ok"), "cells/0/checks/0"),
        (lambda d: d["cells"][0]["checks"][0].update(outcome="maybe"), "cells/0/checks/0/outcome"),
        (lambda d: d["cells"][0]["checks"][1].update(reason=None), "cells/0/checks/1/reason"),
        (lambda d: d["cells"][3]["checks"][1].update(judgement="match"), "cells/3/checks/1"),
        (lambda d: d["cells"][0].update(id="../etc/passwd"), "cells/0/id"),
        (lambda d: d["cells"][0].update(judgement="fine"), "cells/0/judgement"),
        (
            lambda d: d["cells"][0]["fidelity"].update(kernel={"real": True, "what": "x"}),
            "cells/0/fidelity",
        ),
        (lambda d: d.update(format="fwlab.matrix/1"), "format"),
        (lambda d: d.pop("cells"), "(top)"),
    ],
    ids=[
        "unknown-key",
        "unknown-check-key",
        "bad-outcome",
        "blocked-without-reason",
        "error-judged-a-match",
        "unsafe-id",
        "bad-judgement",
        "unknown-layer",
        "old-format",
        "no-cells",
    ],
)
def test_a_tampered_document_has_problems(change, where):
    found = problems(_tamper(change))
    assert found, "the schema let a broken document through"
    assert any(p.startswith(where) for p in found), found
    assert all("\n" not in p for p in found)


def test_load_json_round_trips_a_written_report(tmp_path):
    for result in (sample_matrix(), sample_matrix(judged=False), EMPTY):
        path = write_json(result, tmp_path / "out" / "matrix.json")
        assert load_json(path) == result
        assert load_json(str(path)).as_dict() == result.as_dict()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["matrix.json"]  # no temp left


def _refused(path: Path) -> str:
    with pytest.raises(UsageError) as caught:
        load_json(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_load_json_refuses_another_format_version(tmp_path):
    doc = to_document(sample_matrix())
    doc["format"] = "fwlab.matrix/1"
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    assert "fwlab.matrix/1" in _refused(path)
    path.write_text(json.dumps([doc]))
    assert FORMAT in _refused(path)


def test_load_json_refuses_what_is_not_json(tmp_path):
    path = tmp_path / "matrix.xml"
    write_junit(sample_matrix(), path)
    _refused(path)
    binary = tmp_path / "garbage.json"
    binary.write_bytes(b"\xff\xfe\x00{")
    _refused(binary)
    _refused(tmp_path / "missing.json")


def test_load_json_refuses_a_document_that_breaks_the_schema(tmp_path):
    doc = to_document(sample_matrix())
    doc["cells"][0]["checks"][0]["outcome"] = "maybe\nor not"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(doc))
    message = _refused(path)
    assert "cells/0/checks/0/outcome" in message


# -- terminal -------------------------------------------------------------------------
def rendered(result: MatrixResult) -> str:
    console = Console(width=WIDTH, record=True, force_terminal=False, color_system=None)
    render_table(result, console)
    return console.export_text()


def grid_lines(text: str) -> list[str]:
    """The lines between the header (the title and the 'C1  cell' lines) and the legend."""
    lines = text.splitlines()
    start = 1
    while re.match(r"^  C\d+  ", lines[start]):
        start += 1
    end = next(i for i, line in enumerate(lines) if line.startswith("✓ as expected"))
    assert end > start
    return lines[start:end]


def grids(text: str) -> list[list[str]]:
    found: list[list[str]] = []
    for line in grid_lines(text):
        if line.startswith("check "):
            found.append([])
        found[-1].append(line)
    return found


def row(grid: list[str], name: str) -> list[str]:
    """A grid row's entries, split where the columns are (two spaces or more)."""
    line = next(line for line in grid if line.startswith(name + " "))
    return re.split(r"\s{2,}", line.strip())[1:]


def test_the_grid_fits_100_columns():
    text = rendered(sample_matrix())
    lines = grid_lines(text)
    assert lines and all(len(line) <= WIDTH for line in lines)
    assert not any("…" in line for line in lines)
    (grid,) = grids(text)
    assert row(grid, "check") == ["C1", "C2", "C3", "C4"]
    assert len(grid) == 1 + 4 + 1  # header, one row per check, the cells' judgements


def test_twelve_cells_are_split_into_grids_that_each_fit():
    text = rendered(twelve_cells())
    found = grids(text)
    assert len(found) >= 2
    assert all(len(line) <= WIDTH for grid in found for line in grid)
    assert not any("…" in line for grid in found for line in grid)
    heads = [head for grid in found for head in row(grid, "check")]
    assert heads == [f"C{i}" for i in range(1, 13)]
    for grid in found:
        width = len(row(grid, "check"))
        for name in ("egress-name", "egress-ip", "c2c-ip", "host-network", "cell"):
            assert len(row(grid, name)) == width
    judgements = [j for grid in found for j in row(grid, "cell")]
    assert judgements == ["match", "mismatch", "error", "error"] * 3


def test_entries_carry_marks_and_reasons():
    (grid,) = grids(rendered(sample_matrix()))
    assert row(grid, "egress-name") == ["✓ dns", "✓ pass", "! error", "✓ pass"]
    assert row(grid, "egress-ip") == ["✓ rejected", "✓ pass", "! error", "! error"]
    assert row(grid, "c2c-ip") == ["✓ rejected", "✗ rejected", "! error", "✓ pass"]
    assert row(grid, "host-network") == ["✓ pass", "✓ pass", "! error", "· pass"]
    assert row(grid, "cell") == ["match", "mismatch", "error", "error"]


def test_entries_without_a_reason_and_a_wrong_pass():
    expected = Expectation("blocked", "timeout")
    checks = [
        CheckResult("egress-ip", "blocked", None, "it failed", expected=Expectation("pass")),
        CheckResult("c2c-ip", "pass", None, "ok", expected=expected),
        CheckResult("dns", "blocked", "timeout", "no answer within 3 s"),
    ]
    result = MatrixResult("lab", "fake", [CellResult(Cell.of(os="x"), "fake", checks=checks)])
    (grid,) = grids(rendered(result))
    assert row(grid, "egress-ip") == ["✗ blocked"]
    assert row(grid, "c2c-ip") == ["✗ pass"]
    assert row(grid, "dns") == ["· timeout"]


def test_reproduce_mode_marks_nothing_as_expected():
    text = rendered(sample_matrix(judged=False))
    (grid,) = grids(text)
    assert row(grid, "c2c-ip") == ["· rejected", "· rejected", "! error", "· pass"]
    assert "reproduce mode (not judged)" in text.splitlines()[0]
    assert text.splitlines()[-1] == "reproduce mode: 4 cell(s), not judged"


def test_a_stood_in_cell_says_so_in_words_with_the_layer():
    out = flat(rendered(sample_matrix()))
    assert "docker: STOOD IN: Debian's docker.io 20.10.5 stands in for Docker 19.03" in out
    assert f"machine: STOOD IN: {FIDELITY_STOOD_IN['machine'].what}" in out
    assert "docker: real: Docker 20.10.5 (Debian's docker.io)" in out
    assert "firewalld: real: firewalld 0.9.3 (nftables backend), running" in out
    assert "C1 docker=19.03,firewalld=on,os=bullseye: match" in out


def test_the_mismatch_line_names_what_differs():
    check = mismatch_check()
    text = mismatch_text(check)
    assert text.startswith("c2c-ip: outcome and rule differ: expected pass by ")
    out = flat(rendered(sample_matrix()))
    assert f"✗ {text}" in out
    assert out.count("✗ c2c-ip:") == 1


def test_one_part_that_differs_is_named_alone():
    check = mismatch_check()
    check.expected = Expectation("blocked", "timeout")
    assert mismatch_text(check) == (
        "c2c-ip: reason differs: expected blocked/timeout, "
        "observed blocked/rejected by inet firewalld filter_FORWARD reject"
    )
    result = MatrixResult("lab", "fake", [CellResult(Cell.of(os="x"), "fake", checks=[check])])
    assert f"✗ {mismatch_text(check)}" in flat(rendered(result))


def test_errors_are_shown_with_their_real_message():
    text = rendered(sample_matrix())
    assert f"    error: {BOOT_ERROR}" in text.splitlines()
    assert "--- last lines ---" in text
    assert f"! egress-ip could not run: {PROBE_ERROR}" in flat(text)


def test_blocked_checks_show_detail_and_deciding_rule():
    out = flat(rendered(sample_matrix()))
    assert (
        "egress-ip: No route to host — REJECT in inet firewalld filter_FORWARD "
        "(reject with icmpx type admin-prohibited)"
    ) in out
    assert "docker0 is in no firewalld zone" in out


def test_the_summary_line_ends_the_report():
    text = rendered(sample_matrix())
    assert text.splitlines()[-1] == "1/4 cells match, 1 mismatch, 2 error"
    assert text.splitlines()[-1] == summary_line(sample_matrix())
    assert "fwlab docker-firewalld — provider nspawn — judged — 42.0 s" in text.splitlines()[0]


def test_a_plain_file_console_gets_plain_text():
    buf = io.StringIO()
    render_table(sample_matrix(), Console(file=buf, width=WIDTH, force_terminal=False))
    text = buf.getvalue()
    assert "\x1b[" not in text
    assert all(len(line) <= WIDTH for line in grid_lines(text))
    assert "✗ rejected" in text and text.rstrip().endswith("1/4 cells match, 1 mismatch, 2 error")


def test_no_cells_and_no_checks():
    text = rendered(EMPTY)
    assert text.splitlines()[-1] == "0/0 cells match"
    broken = MatrixResult(
        "lab", "fake", [CellResult(Cell.of(os="x"), "fake", error="would not boot")]
    )
    (grid,) = grids(rendered(broken))
    assert row(grid, "(no checks ran)") == ["! error"]


# -- JUnit ----------------------------------------------------------------------------
def junit(result: MatrixResult, tmp_path: Path) -> JUnitXml:
    path = write_junit(result, tmp_path / "junit.xml")
    ET.parse(path)  # well-formed for a strict parser too
    return JUnitXml.fromfile(str(path))


def suites(xml: JUnitXml) -> dict:
    return {s.name: s for s in xml}


def properties(suite) -> dict[str, str]:
    return {p.name: p.value for p in suite.properties()}


def test_junit_one_suite_per_cell_one_case_per_check(tmp_path):
    result = sample_matrix()
    found = suites(junit(result, tmp_path))
    assert list(found) == [f"docker-firewalld {c.cell.label}" for c in result.cells]
    for cell in result.cells:
        cases = list(found[f"docker-firewalld {cell.cell.label}"])
        names = [c.name for c in cases]
        assert names == ([c.name for c in cell.checks] or ["cell"])
        assert {c.classname for c in cases} == {cell.cell.id}


def test_junit_mismatch_is_a_failure_naming_what_differs(tmp_path):
    found = suites(junit(sample_matrix(), tmp_path))
    cases = {c.name: c for c in found["docker-firewalld docker=20.10,firewalld=on,os=bullseye"]}
    (failure,) = cases["c2c-ip"].result
    assert isinstance(failure, Failure)
    assert failure.message == mismatch_text(mismatch_check())
    assert "outcome and rule differ" in failure.message
    assert failure.type == "mismatch"
    assert "judgement: mismatch" in failure.text
    for name in ("egress-name", "egress-ip", "host-network"):
        assert cases[name].is_passed


def test_junit_errors_carry_the_real_message(tmp_path):
    found = suites(junit(sample_matrix(), tmp_path))
    (boot,) = list(found[f"docker-firewalld {cell_of(sample_matrix(), ERROR_CELL).cell.label}"])
    (error,) = boot.result
    assert isinstance(error, Error)
    assert error.message.startswith(BOOT_ERROR)
    assert "boot log" in error.text
    cases = {c.name: c for c in found["docker-firewalld docker=20.10,firewalld=off,os=bullseye"]}
    (error,) = cases["egress-ip"].result
    assert isinstance(error, Error)
    assert error.message == f"egress-ip could not run: {PROBE_ERROR}"
    # no expectation: not judged, and passes
    assert cases["host-network"].is_passed
    assert "judgement: not judged" in cases["host-network"].system_out


def test_junit_totals(tmp_path):
    xml = junit(sample_matrix(), tmp_path)
    assert (xml.tests, xml.failures, xml.errors) == (13, 1, 2)
    reproduce = junit(sample_matrix(judged=False), tmp_path)
    assert (reproduce.tests, reproduce.failures, reproduce.errors) == (13, 0, 2)
    passed = [c for s in reproduce for c in s if c.is_passed]
    assert len(passed) == 11


def test_junit_properties_say_what_stands_in(tmp_path):
    found = suites(junit(sample_matrix(), tmp_path))
    stood = properties(found["docker-firewalld docker=19.03,firewalld=on,os=bullseye"])
    assert stood["fidelity.machine"] == f"STOOD IN: {FIDELITY_STOOD_IN['machine'].what}"
    assert stood["fidelity.docker"] == (
        "STOOD IN: Debian's docker.io 20.10.5 stands in for Docker 19.03"
    )
    assert stood["fidelity.firewalld"] == "real: firewalld 0.9.3 (nftables backend), running"
    assert {k: v for k, v in stood.items() if k.startswith("version.")} == {
        f"version.{k}": v for k, v in VERSIONS.items()
    }
    assert stood["axis.docker"] == "19.03" and stood["provider"] == "nspawn"
    real = properties(found["docker-firewalld docker=20.10,firewalld=on,os=bullseye"])
    assert real["fidelity.docker"] == f"real: {FIDELITY_REAL_DOCKER['docker'].what}"
    case = next(iter(found["docker-firewalld docker=19.03,firewalld=on,os=bullseye"]))
    assert case.system_out.startswith(f"machine: STOOD IN: {FIDELITY_STOOD_IN['machine'].what}")


def test_junit_makes_control_characters_visible(tmp_path):
    result = hostile_matrix()
    check_of(result, STOOD_IN_CELL, "egress-ip").detail += " \ud800 \ufffe"  # not XML either
    path = write_junit(result, tmp_path / "junit.xml")
    raw = path.read_bytes().decode("utf-8")
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", raw)
    root = ET.parse(path).getroot()  # strict XML 1.0
    assert "\\x1b[31mNo route\\x1b[0m to host\\x00\\x07" in ET.tostring(root, encoding="unicode")
    found = suites(JUnitXml.fromfile(str(path)))
    cases = {c.name: c for c in found[f"{result.lab} docker=20.10,firewalld=on,os=bullseye"]}
    (failure,) = cases["c2c-ip"].result
    assert "\\x1b[31mNo route" in failure.text and SCRIPT in failure.text
    cases = {c.name: c for c in found[f"{result.lab} docker=20.10,firewalld=off,os=bullseye"]}
    (error,) = cases["egress-ip"].result
    assert error.message.startswith("egress-ip could not run: docker: \\x1b[31mNo route")
    (boot,) = list(found[f"{result.lab} docker=19.03,firewalld=off,os=bullseye"])
    assert boot.result[0].message.startswith("boot failed: \\x1b[31mNo route")
    assert to_junit(result).tests == 13


# -- HTML -----------------------------------------------------------------------------
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


@dataclasses.dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list = dataclasses.field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if (
                    (tag is None or child.tag == tag)
                    and (cls is None or set(cls.split(".")) <= child.classes)
                    and all(child.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
                ):
                    found.append(child)
                found += child.all(tag, cls, **attrs)
        return found

    def one(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        (found,) = self.all(tag, cls, **attrs)
        return found


class Tree(HTMLParser):
    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def page(result: MatrixResult | None = None) -> Node:
    return Tree(render_html(result or sample_matrix())).root


def test_html_summary():
    doc = page()
    summary = doc.one(id="summary")
    assert flat(summary.one(id="summary-line").text) == "1/4 cells match, 1 mismatch, 2 error"
    assert "docker-firewalld" in summary.text and "nspawn" in summary.text
    assert "judgement-error" in summary.one(id="summary-line").classes
    assert "reproduce (not judged)" in page(sample_matrix(judged=False)).one(id="summary").text


def test_html_matrix_one_row_per_check_entries_classed():
    result = sample_matrix()
    matrix = page(result).one("table", id="matrix")
    rows = matrix.all("tr", "check")
    assert [r.attrs["data-check"] for r in rows] == [
        "egress-name",
        "egress-ip",
        "c2c-ip",
        "host-network",
    ]
    heads = matrix.all("th", "cell-head")
    assert [h.attrs["data-cell"] for h in heads] == [c.cell.id for c in result.cells]
    for tr in rows:
        cells = tr.all("td")
        assert len(cells) == len(result.cells)
        for cell, td in zip(result.cells, cells):
            check = next((c for c in cell.checks if c.name == tr.attrs["data-check"]), None)
            if check is None:
                assert td.classes == {"not-run"}
                continue
            judgement = check.judgement.replace(" ", "-")
            assert {"entry", check.outcome, judgement} <= td.classes
    c2c = next(r for r in rows if r.attrs["data-check"] == "c2c-ip").all("td")
    assert {"blocked", "mismatch"} <= c2c[1].classes
    assert "expected pass by inet firewalld filter_FWDI_docker accept" in c2c[1].text
    assert c2c[0].text.startswith("✓ rejected")
    host = next(r for r in rows if r.attrs["data-check"] == "host-network").all("td")
    assert {"pass", "not-judged"} <= host[3].classes
    egress = next(r for r in rows if r.attrs["data-check"] == "egress-ip").all("td")
    assert {"error"} <= egress[3].classes and egress[3].text.startswith("! error")


def test_html_cells_show_stood_in_layers():
    result = sample_matrix()
    section = page(result).one(id="cells")
    cells = section.all("section", "cell")
    assert [c.attrs["data-cell"] for c in cells] == [c.cell.id for c in result.cells]
    first = section.one("section", "cell", data_cell=STOOD_IN_CELL)
    stood = first.all("li", "stood-in")
    assert [li.attrs["data-layer"] for li in stood] == ["machine", "docker"]
    assert "Debian's docker.io 20.10.5 stands in for Docker 19.03" in stood[1].text
    assert "stood in" in stood[1].text
    second = section.one("section", "cell", data_cell=MISMATCH_CELL)
    assert [li.attrs["data-layer"] for li in second.all("li", "stood-in")] == ["machine"]
    assert [li.attrs["data-layer"] for li in second.all("li", "real")] == ["firewalld", "docker"]
    assert flat(second.one("p", "mismatch").text) == f"✗ {mismatch_text(mismatch_check())}"
    assert BOOT_ERROR in section.one("section", "cell", data_cell=ERROR_CELL).one("pre").text
    errored = section.one("section", "cell", data_cell=ERROR_CHECK_CELL)
    assert f"egress-ip could not run: {PROBE_ERROR}" in flat(errored.text)


def test_html_traces_mark_the_real_deciding_hop():
    result = sample_matrix()
    traces = page(result).one(id="traces")
    traced = [(cell, c) for cell in result.cells for c in cell.checks if c.trace]
    assert len(traces.all("section", "trace")) == len(traced) == 6
    wheres = set()
    for cell, check in traced:
        trace = check.trace
        section = traces.one("section", id=anchor("trace", cell.cell.id, check.name))
        assert check.outcome in section.classes
        hops = section.one("ol", "trace-path").all("li", "hop")
        assert len(hops) == len(trace.hops)  # no hop added after the path
        deciding = [i for i, li in enumerate(hops) if "deciding" in li.classes]
        assert deciding == [trace.decision]
        li = hops[trace.decision]
        assert li.text.startswith(trace.deciding.where)
        assert li.text == f"{trace.deciding.where} ({trace.deciding.verdict})"
        assert trace.deciding.verdict in li.classes
        assert [h.text for h in hops[: trace.decision]] == [
            h.where for h in trace.hops[: trace.decision]
        ]
        expected = {
            "blocked": "inet firewalld filter_FORWARD",
            "pass": "inet firewalld filter_FWDI_docker",
        }[check.outcome]
        assert trace.deciding.where == expected
        wheres.add(li.text)
    assert wheres == {
        "inet firewalld filter_FORWARD (reject)",
        "inet firewalld filter_FWDI_docker (accept)",
    }


def test_html_deciding_hop_is_not_the_last_when_the_packet_goes_on():
    result = sample_matrix()
    check = check_of(result, MISMATCH_CELL, "egress-ip")
    assert check.trace.decision < len(check.trace.hops) - 1  # accepted, then nat POSTROUTING
    section = page(result).one("section", id=anchor("trace", MISMATCH_CELL, "egress-ip"))
    hops = section.all("li", "hop")
    assert "deciding" not in hops[-1].classes
    assert hops[-1].text == check.trace.hops[-1].where


def test_html_a_trace_with_no_final_verdict_marks_no_hop():
    result = sample_matrix()
    check = check_of(result, STOOD_IN_CELL, "c2c-ip")
    check.trace.final = False
    check.trace.note = "the capture ended first"
    section = page(result).one("section", id=anchor("trace", STOOD_IN_CELL, "c2c-ip"))
    assert section.all("li", "deciding") == []
    assert "the capture ended first" in section.text


def _stretch(ul: Node) -> list[str]:
    """The chains a ul.only-a / ul.only-b lists, without the label and the verdicts."""
    listed = flat(ul.text).split(": ", 1)[1]
    return [re.sub(r" \((accept|drop|reject)\)$", "", hop) for hop in listed.split(" → ")]


def _is_stretch_of(stretch: list[str], hops) -> bool:
    wheres = [h.where for h in hops]
    n = len(stretch)
    return any(wheres[i : i + n] == stretch for i in range(len(wheres) - n + 1))


def test_html_diffs_show_where_the_paths_part():
    result = sample_matrix()
    diffs = page(result).one(id="diffs")
    sections = {s.attrs["data-check"]: s for s in diffs.all("section", "diff")}
    assert "egress-ip" in sections
    assert "c2c-ip" not in sections  # it passes nowhere with a trace
    blocked = check_of(result, STOOD_IN_CELL, "egress-ip").trace
    passed = check_of(result, MISMATCH_CELL, "egress-ip").trace
    section = sections["egress-ip"]
    heading = flat(section.one("h3").text)
    assert heading == (
        "egress-ip: blocked in docker=19.03,firewalld=on,os=bullseye, "
        "passes in docker=20.10,firewalld=on,os=bullseye"
    )
    only_a, only_b = _stretch(section.one("ul", "only-a")), _stretch(section.one("ul", "only-b"))
    # stretches of the captured paths themselves, on the zone public / zone docker side
    assert only_a and _is_stretch_of(only_a, blocked.hops)
    assert only_b and _is_stretch_of(only_b, passed.hops)
    assert only_a != only_b
    assert "inet firewalld filter_FWDI_public" in only_a
    assert "inet firewalld filter_FWDI_docker" in only_b
    assert not any(hop.endswith("_docker") for hop in only_a)
    assert not any(hop.endswith("_public") for hop in only_b)
    assert "inet firewalld filter_FWDI_docker (accept)" in section.one("ul", "only-b").text
    decisions = flat(section.one("p", "muted").text)
    assert "REJECT in inet firewalld filter_FORWARD" in decisions
    assert "ACCEPT in inet firewalld filter_FWDI_docker" in decisions


def test_html_escapes_what_results_say():
    html = render_html(hostile_matrix())
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    assert Tree(html).root.all("script") == []
    assert "\x1b" not in html and "\x00" not in html


def test_html_has_no_external_assets(tmp_path):
    html = render_html(sample_matrix())
    links = re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]*)""", html, re.I)
    assert links and all(link.startswith("#") for link in links)
    assert not re.search(r"<(link|script|img|iframe)\b|@import|url\(", html, re.I)
    doc = Tree(html).root
    ids = {n.attrs["id"] for n in doc.all() if "id" in n.attrs}
    assert {link[1:] for link in links} <= ids  # every anchor leads somewhere
    path = write_html(sample_matrix(), tmp_path / "report.html")
    assert path.read_text(encoding="utf-8") == html


def test_html_with_no_cells():
    doc = page(EMPTY)
    assert doc.one(id="matrix").all("tr", "check") == []
    assert doc.all(id="diffs") == []


# -- Markdown -------------------------------------------------------------------------
def test_markdown_summary():
    result = sample_matrix()
    text = render_markdown(result)
    lines = text.splitlines()
    assert lines[0] == "## fwlab docker-firewalld: 1/4 cells match, 1 mismatch, 2 error"
    table = [line for line in lines if line.startswith("|")]
    assert table[0] == "| cell | egress-name | egress-ip | c2c-ip | host-network | cell |"
    rows = table[2:]
    assert len(rows) == len(result.cells)
    for cell, line in zip(result.cells, rows):
        assert line.startswith(f"| `{cell.cell.label}`")
        assert line.endswith(f"| **{cell.judgement}** |")
        assert len(re.findall(r"(?<!\\)\|", line)) == len(re.findall(r"\|", table[0]))
    assert "✗ rejected" in rows[1] and "! error" in rows[3] and "· pass" in rows[3]


def test_markdown_lists_what_was_not_as_expected_and_what_stood_in():
    text = render_markdown(sample_matrix())
    head, rest = text.split("### Not as expected", 1)
    problems_list, stood = rest.split("### Stood in", 1)
    items = [line for line in problems_list.splitlines() if line.startswith("- ")]
    assert items == [
        f"- `docker=20.10,firewalld=on,os=bullseye`: {mismatch_text(mismatch_check())}",
        f"- `docker=19.03,firewalld=off,os=bullseye`: error: {BOOT_ERROR}",
        f"- `docker=20.10,firewalld=off,os=bullseye`: egress-ip could not run: {PROBE_ERROR}",
    ]
    assert "outcome and rule differ" in items[0]
    assert [line for line in stood.splitlines() if line.startswith("- ")] == [
        "- docker: Debian's docker.io 20.10.5 stands in for Docker 19.03",
        f"- machine: {FIDELITY_STOOD_IN['machine'].what}",
    ]


def test_markdown_without_problems_or_stand_ins():
    real = {name: Layer(True, f"real {name}") for name in ("machine", "firewalld", "docker")}
    check = CheckResult("egress-ip", "pass", None, "ok", expected=Expectation("pass"))
    result = MatrixResult("lab", "fake", [CellResult(Cell.of(os="x"), "fake", real, {}, [check])])
    text = render_markdown(result)
    assert text.splitlines()[0] == "## fwlab lab: 1/1 cells match"
    assert "### Not as expected" not in text and "### Stood in" not in text


def test_markdown_appends_when_written_twice(tmp_path):
    path = tmp_path / "summary.md"
    first, second = sample_matrix(), sample_matrix(judged=False)
    write_markdown(first, path)
    assert path.read_text(encoding="utf-8") == render_markdown(first)
    write_markdown(second, path)
    text = path.read_text(encoding="utf-8")
    assert text == render_markdown(first) + "\n" + render_markdown(second)
    assert text.count("## fwlab docker-firewalld:") == 2
    assert "## fwlab docker-firewalld: reproduce mode: 4 cell(s), not judged" in text
