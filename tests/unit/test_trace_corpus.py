"""Captures from elsewhere and from this project, read whole.

`data/traces/public/corpus.toml`: twenty captures other people posted, each with the
verdict an expert read from it, written down before any parser ran on it.
`data/traces/debian11-firewalld-0.9.3/`: this project's own captures (see its README).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from harness.models import Rule
from harness.trace import ENOBUFS_WARNING, analyse
from harness.trace.parse import TOOL_NFT, TOOL_XT
from harness.trace.sources import read_capture_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TRACES = Path(__file__).resolve().parent / "data" / "traces"
PUBLIC = TRACES / "public"
OWN = TRACES / "debian11-firewalld-0.9.3"
CORPUS: list[dict[str, Any]] = tomllib.loads((PUBLIC / "corpus.toml").read_text())["capture"]


def test_the_corpus_is_complete() -> None:
    assert len(CORPUS) == 20
    files = {entry["file"] for entry in CORPUS}
    assert files == {p.name for p in PUBLIC.glob("*.txt")}


@pytest.mark.parametrize("entry", CORPUS, ids=[e["file"].removesuffix(".txt") for e in CORPUS])
def test_public_capture_verdict(entry: dict[str, Any]) -> None:
    capture = read_capture_file(PUBLIC / entry["file"])
    assert entry["tool"] in capture.tools
    head = capture.headline
    assert head is not None
    if entry["verdict"] == "none":
        assert head.final is False, head.rule
        assert head.rule is None
        assert capture.verdict is None
        assert head.note
        return
    assert head.final, head.note
    rule = head.rule
    assert rule is not None
    assert (rule.verdict, rule.table, rule.chain) == (
        entry["verdict"],
        entry["table"],
        entry["chain"],
    )
    if entry.get("family"):
        assert rule.family == entry["family"]


# -- the project's own captures ------------------------------------------------------------------
OWN_VERDICTS = {
    "nft-nozone-egress.txt": (TOOL_NFT, Rule("inet", "firewalld", "filter_FORWARD", "reject")),
    "nft-nozone-c2c.txt": (TOOL_NFT, Rule("inet", "firewalld", "filter_FORWARD", "reject")),
    "nft-zonedocker.txt": (TOOL_NFT, Rule("inet", "firewalld", "filter_FWDI_docker", "accept")),
    # xtables-monitor prints firewalld's reject as DROP (it cannot print the nft rule).
    "xt-nozone-egress.txt": (TOOL_XT, Rule("inet", "firewalld", "filter_FORWARD", "drop")),
    "xt-nozone-c2c.txt": (TOOL_XT, Rule("inet", "firewalld", "filter_FORWARD", "drop")),
    "xt-zonedocker.txt": (TOOL_XT, Rule("inet", "firewalld", "filter_FWDI_docker", "accept")),
}
BRIDGES = {"egress": "docker0", "c2c": "br-e98fb4abe544"}


def test_every_own_capture_is_covered() -> None:
    assert {p.name for p in OWN.glob("*.txt")} == {*OWN_VERDICTS, "xt-broad-enobufs.txt"}


@pytest.mark.parametrize("name", sorted(OWN_VERDICTS))
def test_own_capture_verdict(name: str) -> None:
    tool, rule = OWN_VERDICTS[name]
    capture = read_capture_file(OWN / name)
    assert capture.tools == [tool]
    assert capture.warnings == []
    head = capture.headline
    assert head is not None and head.final
    assert head.rule == rule
    assert capture.verdict == rule
    # Every packet the capture holds is the probe's SYN (or its retransmit), decided alike.
    assert all(p.rule == rule for p in capture.packets)
    bridge = next(b for kind, b in BRIDGES.items() if kind in name) if "nozone" in name else ""
    if bridge:
        assert head.flow["iif"] == bridge
        assert "no firewalld zone" in head.diagnosis and bridge in head.diagnosis
    else:
        assert "zone `docker`" in head.diagnosis


@pytest.mark.parametrize("name", ["nft-nozone-egress.txt", "xt-nozone-egress.txt"])
def test_own_capture_one_packet_across_two_trace_ids(name: str) -> None:
    """The SYN gets a new trace id at the forward hook; it is still one packet."""
    capture = analyse((OWN / name).read_text())
    assert [p.ids for p in capture.packets] == [["be722d32", "c57faf6f"], ["b983d617", "64925536"]]
    head = capture.headline
    assert head is not None
    assert head.packet == "tcp 172.17.0.3:60254 -> 203.0.113.10:80 (docker0 -> eth0)"
    assert head.hops[0].where == "ip raw PREROUTING"
    assert head.deciding is not None and head.deciding.where == "inet firewalld filter_FORWARD"


def test_nft_shows_the_reject_rule() -> None:
    head = analyse((OWN / "nft-nozone-egress.txt").read_text()).headline
    assert head is not None and head.deciding is not None
    assert head.deciding.rule == "reject with icmpx type admin-prohibited"


def test_enobufs_capture_carries_the_warning() -> None:
    capture = read_capture_file(OWN / "xt-broad-enobufs.txt")
    assert capture.tools == [TOOL_XT]
    assert ENOBUFS_WARNING in capture.warnings
    assert capture.packets and all(ENOBUFS_WARNING in p.warnings for p in capture.packets)
    assert all(ENOBUFS_WARNING not in analyse((OWN / n).read_text()).warnings for n in OWN_VERDICTS)
