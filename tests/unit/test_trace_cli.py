"""`fwlab trace` on capture files, through the real command line in a subprocess, and
harness.trace.diff / harness.trace.sources.

The command runs are started together (module fixture `runs`), so the whole set stays fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.models import PacketTrace, Rule
from harness.trace import analyse
from harness.trace.diff import diff
from harness.trace.sources import read_capture_file, side

MAIN = Path(__file__).resolve().parents[2]
SHARED = Path("/work/shared/fixtures/traces/debian11-firewalld-0.9.3")
NOZONE = SHARED / "nft-nozone-egress.txt"
ZONEDOCKER = SHARED / "nft-zonedocker.txt"

EGRESS_SYN = (
    'iif "docker0" oif "eth0" ether saddr 02:42:ac:11:00:03 ether daddr 02:42:d7:a5:eb:79 '
    "ip saddr 172.17.0.3 ip daddr 203.0.113.10 ip dscp cs0 ip ecn not-ect ip ttl 63 ip id 22214 "
    "ip protocol tcp ip length 60 tcp sport 60254 tcp dport 80 tcp flags == syn tcp window 64240"
)
REJECTED = "\n".join(
    [
        f"trace id 64925536 ip filter FORWARD packet: {EGRESS_SYN}",
        'trace id 64925536 ip filter FORWARD rule iifname "docker0" oifname != "docker0" '
        "counter packets 15 bytes 962 accept (verdict accept)",
        f"trace id 64925536 inet firewalld filter_FORWARD packet: {EGRESS_SYN}",
        "trace id 64925536 inet firewalld filter_FORWARD rule reject with icmpx type "
        "admin-prohibited (verdict drop)",
        "",
    ]
)
NO_VERDICT = "\n".join(
    [
        f"trace id be722d32 ip raw PREROUTING packet: {EGRESS_SYN}",
        "trace id be722d32 ip raw PREROUTING rule meta l4proto tcp ip saddr 172.16.0.0/12 "
        "tcp flags & (fin|syn|rst|ack) == syn counter packets 0 bytes 0 meta nftrace set 1 "
        "(verdict continue)",
        "trace id be722d32 ip raw PREROUTING policy accept ",
        "",
    ]
)
PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
)
BINARY = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00trace id 1\n"


def not_captures(folder: Path) -> dict[str, Path]:
    """Things that are not captures, made in folder."""
    folder.mkdir()
    (folder / "passwd").write_text(PASSWD)
    (folder / "empty.txt").write_text("")
    (folder / "core.bin").write_bytes(BINARY)
    (folder / "a-directory").mkdir()
    os.mkfifo(folder / "fifo")
    return {
        "passwd": folder / "passwd",
        "empty": folder / "empty.txt",
        "binary": folder / "core.bin",
        "directory": folder / "a-directory",
        "fifo": folder / "fifo",
        "missing": folder / "no-such-file.txt",
    }


CLI_BAD = ["passwd", "empty", "binary", "directory", "fifo"]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def fwlab(*args: str) -> Run:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env["COLUMNS"] = "40"  # a narrow terminal: output through a pipe must not wrap anyway
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "trace", *args],
        cwd=MAIN,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return not_captures(tmp_path_factory.mktemp("cli") / "bad")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, bad_inputs: dict[str, Path]) -> dict[str, Run]:
    folder = tmp_path_factory.mktemp("captures")
    files = {"rejected": REJECTED, "no-verdict": NO_VERDICT}
    for name, text in files.items():
        (folder / f"{name}.txt").write_text(text)
    calls: dict[str, list[str]] = {
        "accepted": ["--from-file", str(ZONEDOCKER)],
        "rejected": ["--from-file", str(folder / "rejected.txt")],
        "no-verdict": ["--from-file", str(folder / "no-verdict.txt")],
        "json-rejected": ["--json", "--from-file", str(folder / "rejected.txt")],
        "json-no-verdict": ["--json", "--from-file", str(folder / "no-verdict.txt")],
        "diff": ["--diff", str(NOZONE), str(ZONEDOCKER)],
    }
    for name in CLI_BAD:
        calls[f"bad-{name}"] = ["--from-file", str(bad_inputs[name])]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(fwlab, *args) for name, args in calls.items()}
        return {name: future.result() for name, future in futures.items()}


# -- 9. exit codes, JSON, no wrapping ------------------------------------------------------------
def test_accepted_exits_0(runs: dict[str, Run]) -> None:
    run = runs["accepted"]
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert "ACCEPT in inet firewalld filter_FWDI_docker" in run.stdout


@pytest.mark.parametrize(
    ("name", "verdict"),
    [
        ("rejected", "REJECT in inet firewalld filter_FORWARD (reject with icmpx type "),
        ("no-verdict", "no final verdict in this capture: last seen in ip raw PREROUTING"),
    ],
)
def test_blocked_or_undecided_exits_1(runs: dict[str, Run], name: str, verdict: str) -> None:
    run = runs[name]
    assert run.returncode == 1, run.stderr
    assert run.stderr == ""
    assert verdict in run.stdout


def test_json_rejected(runs: dict[str, Run]) -> None:
    run = runs["json-rejected"]
    assert run.returncode == 1
    doc = json.loads(run.stdout)
    (packet,) = doc["packets"]
    assert doc["headline"] == 0
    assert doc["verdict"] == {
        "family": "inet",
        "table": "firewalld",
        "chain": "filter_FORWARD",
        "verdict": "reject",
        "rule": "reject with icmpx type admin-prohibited",
    }
    assert [(h["table"], h["chain"], h["verdict"]) for h in packet["hops"]] == [
        ("filter", "FORWARD", "accept"),
        ("firewalld", "filter_FORWARD", "reject"),
    ]
    assert (packet["decision"], packet["final"]) == (1, True)
    assert packet["verdict"] == doc["verdict"]
    assert packet["hops"][0] == {
        "family": "ip",
        "table": "filter",
        "chain": "FORWARD",
        "verdict": "accept",
        "rule": 'iifname "docker0" oifname != "docker0" counter packets 15 bytes 962 accept',
        "stage": "filter",
        "hook": "forward",
    }
    assert packet["flow"]["src"] == "172.17.0.3" and packet["flow"]["dport"] == "80"
    assert packet["ids"] == ["64925536"]
    assert doc["tools"] == ["nft monitor trace"] and doc["warnings"] == []


def test_json_without_a_final_verdict(runs: dict[str, Run]) -> None:
    run = runs["json-no-verdict"]
    assert run.returncode == 1
    doc = json.loads(run.stdout)
    assert doc["verdict"] is None
    (packet,) = doc["packets"]
    assert packet["final"] is False and packet["verdict"] is None
    assert packet["last_seen"] == "ip raw PREROUTING"
    assert packet["note"].startswith("no final verdict in this capture: last seen in ip raw")


def test_output_through_a_pipe_is_not_wrapped(runs: dict[str, Run]) -> None:
    out = runs["accepted"].stdout.splitlines()
    hop = (
        'ip filter DOCKER-ISOLATION-STAGE-1  jump (iifname "docker0" oifname != "docker0" '
        "counter packets 6 bytes 395 jump DOCKER-ISOLATION-STAGE-2)"
    )
    assert any(line.endswith(hop) for line in out), out
    diagnosis = [line for line in out if line.startswith("Diagnosis:")]
    assert len(diagnosis) == 1 and diagnosis[0].endswith("Docker 20.10's fix is in place.")
    assert max(map(len, out)) > 100


# -- 8. not a capture --------------------------------------------------------------------------
@pytest.mark.parametrize("name", CLI_BAD)
def test_cli_not_a_capture_is_one_line_and_exit_2(runs: dict[str, Run], name: str) -> None:
    run = runs[f"bad-{name}"]
    assert run.returncode == 2
    err = run.stderr.splitlines()
    assert len(err) == 1, run.stderr
    assert err[0].startswith("fwlab: error:")
    assert "Traceback" not in run.stderr
    assert run.stdout == ""


def read_soon(path: Path) -> BaseException | None:
    """read_capture_file(path), which must neither block nor succeed: its exception."""
    caught: list[BaseException] = []

    def target() -> None:
        try:
            read_capture_file(path)
        except Exception as exc:  # handed to the test
            caught.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive(), f"read_capture_file({path}) blocked"
    return caught[0] if caught else None


@pytest.mark.parametrize("name", [*CLI_BAD, "missing"])
def test_read_capture_file_rejects(tmp_path: Path, name: str) -> None:
    path = not_captures(tmp_path / "bad")[name]
    exc = read_soon(path)
    assert isinstance(exc, UsageError), exc
    assert str(path) in str(exc) and "\n" not in str(exc)


def test_read_capture_file_reads_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "capture.txt"
    path.write_text(REJECTED)
    capture = read_capture_file(path)
    assert capture.verdict == Rule("inet", "firewalld", "filter_FORWARD", "reject")
    status = tmp_path / "status.txt"
    status.write_text("cannot receive from nfnetlink socket: No buffer space available\n")
    assert read_capture_file(status).packets == []


# -- 10. --diff --------------------------------------------------------------------------------
def test_cli_diff_names_the_two_zone_chains(runs: dict[str, Run]) -> None:
    run = runs["diff"]
    assert run.returncode != 2 and run.stderr == ""
    out = run.stdout.splitlines()
    parted_a = [line for line in out if line.startswith(f"  {NOZONE}: ")]
    parted_b = [line for line in out if line.startswith(f"  {ZONEDOCKER}: ")]
    assert len(parted_a) == 1 and "inet firewalld filter_FWDI_public" in parted_a[0]
    assert len(parted_b) == 1 and "inet firewalld filter_FWDI_docker (accept)" in parted_b[0]
    assert f"{NOZONE} is decided: REJECT in inet firewalld filter_FORWARD" in out
    assert f"{ZONEDOCKER} is decided: ACCEPT in inet firewalld filter_FWDI_docker" in out


@pytest.mark.parametrize("source", ["traces/nozone.txt", "missing.json#cell", "Capture.TXT"])
def test_diff_of_a_mistyped_path_says_no_such_file(source: str) -> None:
    with pytest.raises(UsageError, match="no such file, and not a lab's name"):
        side(source, "egress-ip", "docker-firewalld", "nspawn")


def headline(path: Path) -> PacketTrace:
    head = analyse(path.read_text()).headline
    assert head is not None
    return head


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (NOZONE, ZONEDOCKER),
        (SHARED / "xt-nozone-egress.txt", SHARED / "xt-zonedocker.txt"),
    ],
    ids=["nft", "xtables-monitor"],
)
def test_diff_parts_at_the_zone_chains(a: Path, b: Path) -> None:
    found = diff(headline(a), headline(b))
    assert found.parted
    assert "filter_FWDI_public" in [h.chain for h in found.only_a]
    assert "filter_FWDI_docker" in [h.chain for h in found.only_b]
    assert "filter_FWDI_docker" not in [h.chain for h in found.only_a]
    assert found.only_a[-1].verdict in ("reject", "drop")
    doc = found.as_dict()  # type: ignore[attr-defined]
    assert "inet firewalld filter_FWDI_public" in doc["only_a"]
    assert "inet firewalld filter_FWDI_docker" in doc["only_b"]


def test_diff_of_a_path_with_itself_does_not_part() -> None:
    head = headline(NOZONE)
    found = diff(head, head)
    assert not found.parted
    assert "the two paths do not part" in found.lines()


def test_diff_where_the_same_chain_decides_differently() -> None:
    found = diff(headline(SHARED / "xt-nozone-egress.txt"), headline(NOZONE))
    assert [(h.chain, h.verdict) for h in found.only_a] == [("filter_FORWARD", "drop")]
    assert [(h.chain, h.verdict) for h in found.only_b] == [("filter_FORWARD", "reject")]
