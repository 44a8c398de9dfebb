"""The data model (harness.models): cells, rules, judging, results and their dicts."""

from __future__ import annotations

import copy
import json
import re

import pytest

from harness.models import (
    Cell,
    CellResult,
    CheckResult,
    Expectation,
    Hop,
    Layer,
    MatrixResult,
    PacketTrace,
    Rule,
    judge,
)
from tests.unit.factories import (
    DOCKER_ZONE,
    FIDELITY_REAL_DOCKER,
    FIDELITY_STOOD_IN,
    REJECT,
    VERSIONS,
    sample_matrix,
    trace,
)

SAFE = re.compile(r"^[A-Za-z0-9._-]+$")
REJECTED = Expectation("blocked", "rejected", REJECT, "lab.toml cell 1, 'c2c-*'")


def observed(
    outcome: str,
    reason: str | None = None,
    trace_file: str | None = None,
    expected: Expectation | None = None,
) -> CheckResult:
    return CheckResult(
        "c2c-ip",
        outcome,
        reason,  # type: ignore[arg-type]
        detail="No route to host" if outcome == "blocked" else "",
        trace=trace(trace_file) if trace_file else None,
        expected=expected,
    )


# -- Cell ------------------------------------------------------------------------------
def test_cell_of_sorts_axes():
    a = Cell.of(os="bullseye", firewalld="on", docker="19.03")
    b = Cell.of(docker="19.03", os="bullseye", firewalld="on")
    assert a.axes == (("docker", "19.03"), ("firewalld", "on"), ("os", "bullseye"))
    assert a == b and hash(a) == hash(b)
    assert a.get("docker") == "19.03" and a.get("kernel", "?") == "?"
    assert a.as_dict() == {"docker": "19.03", "firewalld": "on", "os": "bullseye"}


def test_cell_id_and_label():
    cell = Cell.of(os="bullseye", firewalld="on", docker="19.03")
    assert cell.id == "docker-19.03_firewalld-on_os-bullseye"
    assert cell.label == "docker=19.03,firewalld=on,os=bullseye"
    # stable: the same axes give the same id, whatever order they were given in
    assert Cell.of(firewalld="on", docker="19.03", os="bullseye").id == cell.id


@pytest.mark.parametrize(
    "axes",
    [
        {"os": "CentOS 8/Stream", "docker": "20.10+ce"},
        {"os": "../../etc", "docker": "19.03 (moby)"},
        {"fw backend": "nftables", "os": "bullseye"},
        {"kernel": "5.10.0-28-amd64 #1 SMP", "runtime": "docker:ce~3"},
        {"os": "débian/ß", "docker": "a_b"},
        {"fire/wall": "on$", "docker": "`rm -rf`"},
    ],
)
def test_cell_id_is_safe_as_a_file_name_and_a_job_name(axes):
    cell = Cell.of(**axes)
    assert SAFE.match(cell.id), cell.id
    assert "/" not in cell.id and cell.id not in (".", "..")
    assert Cell.of(**dict(reversed(list(axes.items())))).id == cell.id


def test_cells_with_different_values_get_different_ids():
    ids = {Cell.of(docker=d, firewalld=f).id for d in ("19.03", "20.10") for f in ("on", "off")}
    assert len(ids) == 4


# -- Rule ------------------------------------------------------------------------------
def test_rule_parse_and_str():
    rule = Rule.parse("inet firewalld filter_FORWARD reject")
    assert rule == REJECT
    assert str(rule) == "inet firewalld filter_FORWARD reject"
    assert Rule.parse("  ip   filter\tFORWARD accept ") == Rule("ip", "filter", "FORWARD", "accept")


@pytest.mark.parametrize(
    "text", ["", "inet firewalld filter_FORWARD", "inet firewalld filter_FORWARD reject now", "x"]
)
def test_rule_parse_wants_four_words(text):
    with pytest.raises(ValueError, match="family table chain verdict"):
        Rule.parse(text)


def test_rule_matches_globs():
    fwd = Rule.parse("inet firewalld filter_FWD* reject")
    assert fwd.matches(Rule("inet", "firewalld", "filter_FWDI_public", "reject"))
    assert fwd.matches(Rule("inet", "firewalld", "filter_FWDO_docker", "reject"))
    assert not fwd.matches(Rule("inet", "firewalld", "filter_FORWARD", "reject"))
    assert not fwd.matches(Rule("inet", "firewalld", "filter_FWDI_public", "accept"))
    assert not fwd.matches(Rule("ip", "firewalld", "filter_FWDI_public", "reject"))
    assert Rule.parse("* * * drop").matches(Rule("ip", "filter", "FORWARD", "drop"))
    assert not Rule.parse("* * * drop").matches(Rule("ip", "filter", "FORWARD", "reject"))
    # exact, and case matters (chains are case-sensitive)
    assert REJECT.matches(REJECT)
    assert not Rule.parse("inet firewalld filter_forward reject").matches(REJECT)


# -- judge -----------------------------------------------------------------------------
def test_judge_match():
    check = observed("blocked", "rejected", "nft-nozone-c2c.txt", REJECTED)
    assert check.rule == REJECT
    assert judge(REJECTED, check) == ("match", [])
    assert check.judgement == "match" and check.differs == []


def test_judge_outcome_differs():
    check = observed("pass", None, None, Expectation("blocked"))
    assert judge(check.expected, check) == ("mismatch", ["outcome"])


def test_judge_reason_differs_when_the_expectation_states_one():
    timeout = Expectation("blocked", "timeout")
    check = observed("blocked", "rejected", None, timeout)
    assert judge(timeout, check) == ("mismatch", ["reason"])
    # an expected reason against an observed pass: both differ
    assert judge(timeout, observed("pass")) == ("mismatch", ["outcome", "reason"])


def test_judge_rule_differs_when_another_rule_decided():
    expected = Expectation("pass", None, DOCKER_ZONE)
    check = observed("blocked", "rejected", "nft-nozone-c2c.txt", expected)
    assert check.rule == REJECT
    assert judge(expected, check) == ("mismatch", ["outcome", "rule"])
    fwdo = Expectation("blocked", "rejected", Rule.parse("inet firewalld filter_FWDO_* reject"))
    assert judge(fwdo, check) == ("mismatch", ["rule"])


def test_judge_rule_differs_when_nothing_was_traced():
    check = observed("blocked", "rejected", None, REJECTED)
    assert check.rule is None
    assert judge(REJECTED, check) == ("mismatch", ["rule"])
    # a trace that ends before anything decided confirms no rule either
    unfinished = trace("nft-nozone-c2c.txt")
    unfinished.final = False
    check.trace = unfinished
    assert check.rule is None
    assert judge(REJECTED, check) == ("mismatch", ["rule"])


def test_judge_leaves_out_what_the_expectation_does_not_state():
    outcome_only = Expectation("blocked")
    assert judge(outcome_only, observed("blocked", "timeout")) == ("match", [])
    traced = observed("blocked", "rejected", "nft-nozone-c2c.txt")
    assert judge(outcome_only, traced) == ("match", [])
    no_rule = Expectation("blocked", "rejected")
    assert judge(no_rule, observed("blocked", "rejected")) == ("match", [])
    glob = Expectation("blocked", None, Rule.parse("inet firewalld filter_* reject"))
    assert judge(glob, observed("blocked", "dns", "nft-nozone-egress.txt")) == ("match", [])


def test_no_expectation_is_not_judged_never_a_match():
    for check in (observed("pass"), observed("blocked", "rejected", "nft-nozone-c2c.txt")):
        assert judge(None, check) == ("not judged", [])
        assert check.judgement == "not judged"


@pytest.mark.parametrize(
    "expected",
    [None, Expectation("blocked"), REJECTED, Expectation("pass"), Expectation("blocked", "dns")],
)
def test_an_error_is_an_error_never_a_match(expected):
    detail = "the probe could not run (exit 125)"
    check = CheckResult("egress-ip", "error", None, detail, expected=expected)
    assert judge(expected, check) == ("error", [])
    assert check.judgement == "error" and check.differs == []


def test_mismatch_message_names_what_differs():
    expected = Expectation("pass", None, DOCKER_ZONE)
    check = observed("blocked", "rejected", "nft-nozone-c2c.txt", expected)
    message = check.mismatch_message()
    assert message.startswith("c2c-ip: expected pass by inet firewalld filter_FWDI_docker accept")
    assert "observed blocked/rejected by inet firewalld filter_FORWARD reject" in message
    assert "(outcome, rule differ)" in message


# -- CellResult / MatrixResult --------------------------------------------------------
def cell_result(*checks: CheckResult, error: str = "", fidelity=None) -> CellResult:
    return CellResult(
        Cell.of(docker="20.10", firewalld="on"),
        "nspawn",
        fidelity if fidelity is not None else FIDELITY_REAL_DOCKER,
        VERSIONS,
        list(checks),
        error=error,
    )


MATCH = observed("blocked", "rejected", "nft-nozone-c2c.txt", REJECTED)
MISMATCH = observed("pass", None, None, REJECTED)
NOT_JUDGED = observed("pass")
ERROR = CheckResult(
    "egress-ip", "error", None, "docker: Error response from daemon", expected=REJECTED
)


def test_cell_judgement():
    assert cell_result(MATCH, NOT_JUDGED).judgement == "match"
    assert cell_result(MATCH, MISMATCH, NOT_JUDGED).judgement == "mismatch"
    assert cell_result(NOT_JUDGED).judgement == "not judged"
    assert cell_result().judgement == "not judged"
    assert cell_result(MATCH, MISMATCH, ERROR).judgement == "error"
    errored = cell_result(MATCH, error="lab m1-2 did not finish booting: degraded")
    assert errored.judgement == "error"
    assert errored.errors == ["lab m1-2 did not finish booting: degraded"]
    assert cell_result(MATCH, ERROR).errors == ["egress-ip: docker: Error response from daemon"]


def test_stood_in_and_stand_ins_come_from_fidelity():
    stood = cell_result(fidelity=FIDELITY_STOOD_IN)
    assert stood.stood_in
    assert stood.stand_ins == [
        f"machine: {FIDELITY_STOOD_IN['machine'].what}",
        "docker: Debian's docker.io 20.10.5 stands in for Docker 19.03",
    ]
    real = {name: Layer(True, f"real {name}") for name in ("machine", "firewalld", "docker")}
    assert not cell_result(fidelity=real).stood_in
    assert cell_result(fidelity=real).stand_ins == []
    assert not cell_result(fidelity={}).stood_in


def test_matrix_exit_code():
    def matrix(*cells: CellResult) -> MatrixResult:
        return MatrixResult("docker-firewalld", "nspawn", list(cells))

    assert matrix(cell_result(MATCH)).exit_code == 0
    assert matrix(cell_result(NOT_JUDGED)).exit_code == 0
    assert matrix().exit_code == 0
    assert matrix(cell_result(MATCH), cell_result(MISMATCH)).exit_code == 1
    assert matrix(cell_result(MISMATCH), cell_result(ERROR)).exit_code == 2
    assert matrix(cell_result(MATCH), cell_result(error="boot")).exit_code == 2
    assert sample_matrix().exit_code == 2
    assert sample_matrix(judged=False).exit_code == 2  # errors are errors in reproduce mode too
    assert sample_matrix().judgement == "error"


def test_sample_matrix_is_what_the_report_tests_assume():
    result = sample_matrix()
    assert [c.judgement for c in result.cells] == ["match", "mismatch", "error", "error"]
    mismatch = next(c for c in result.cells[1].checks if c.judgement == "mismatch")
    assert mismatch.name == "c2c-ip"
    # the expectation states no reason, so only outcome and rule are judged (and differ)
    assert mismatch.differs == ["outcome", "rule"]


# -- dicts -----------------------------------------------------------------------------
def through_json(d):
    return json.loads(json.dumps(d))


def test_packet_trace_round_trip():
    for name in ("nft-nozone-egress.txt", "nft-nozone-c2c.txt", "nft-zonedocker.txt"):
        original = trace(name)
        d = through_json(original.as_dict())
        assert d["verdict"]["chain"] == original.deciding.chain
        assert d["verdict"]["rule"] == original.deciding.rule
        assert d["last_seen"] == original.last_seen
        again = PacketTrace.from_dict(d)
        assert again == original
        assert again.rule == original.rule and again.deciding == original.deciding


def test_packet_trace_without_decision_round_trips():
    original = PacketTrace(
        "tcp 10.0.0.1:1 -> 10.0.0.2:2",
        [Hop("ip", "raw", "PREROUTING", "accept")],
        decision=None,
        final=False,
        note="legacy TRACE lines carry no verdict",
    )
    d = through_json(original.as_dict())
    assert d["verdict"] is None and d["last_seen"] == "ip raw PREROUTING"
    assert PacketTrace.from_dict(d) == original


def test_check_result_round_trip():
    for check in (MATCH, MISMATCH, NOT_JUDGED, ERROR):
        check = copy.deepcopy(check)
        check.seconds, check.description = 1.25, "a container reaches another on its network"
        d = through_json(check.as_dict())
        assert d["judgement"] == check.judgement and d["differs"] == check.differs
        assert CheckResult.from_dict(d) == check
    assert MATCH.as_dict()["rule"] == {
        "family": "inet",
        "table": "firewalld",
        "chain": "filter_FORWARD",
        "verdict": "reject",
    }


def test_cell_result_round_trip():
    for cell in sample_matrix().cells:
        cell.timings = {"up": 3.5, "provision": 12.25}
        cell.notes = ["a note"]
        d = through_json(cell.as_dict())
        assert d["id"] == cell.cell.id and d["stood_in"] is True
        assert CellResult.from_dict(d) == cell


def test_matrix_result_round_trip():
    for result in (sample_matrix(), sample_matrix(judged=False), MatrixResult("lab", "fake", [])):
        d = through_json(result.as_dict())
        assert d["judgement"] == result.judgement
        assert MatrixResult.from_dict(d) == result
