"""Bad input on the command line: one line on stderr, exit status 2, nothing created.
(These need no root: the checks run before anything is made.)"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from harness import cli
from harness.providers.nspawn import provider


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FWLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FWLAB_IMAGE_CACHE", str(tmp_path / "images"))
    return tmp_path


def run_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["fwlab", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    return int(exit_info.value.code or 0)


def assert_one_line(capsys: pytest.CaptureFixture[str], needle: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fwlab: error:") and needle in err[0], err


def test_not_root(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], home: Path):
    monkeypatch.setattr(provider.os, "geteuid", lambda: 1000)
    assert run_main(monkeypatch, "up", "--name", "t1") == 2
    assert_one_line(capsys, "needs root")
    assert not (home / "home").exists() and not (home / "images").exists()


@pytest.mark.parametrize("tool", ["debootstrap", "systemd-nspawn"])
def test_a_missing_tool(
    tool: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    real_which = shutil.which
    monkeypatch.setattr(provider.os, "geteuid", lambda: 0)
    monkeypatch.setattr(
        provider.shutil, "which", lambda name: None if name == tool else real_which(name) or name
    )
    assert run_main(monkeypatch, "up", "--name", "t1") == 2
    assert_one_line(capsys, f"missing {tool}")
    assert not (home / "home").exists() and not (home / "images").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["matrix", "--cells", "docker=18.09"], "unknown value '18.09' for axis docker"),
        (["matrix", "--cells", "kernel=6"], "unknown axis 'kernel'"),
        (["matrix", "--lab", "no-such-lab"], "unknown lab 'no-such-lab'"),
        (["up", "--name", "Bad_Name"], "bad lab name"),
        (["matrix", "--parallel", "0"], "--parallel"),
        (["matrix", "--no-such-option"], "No such option"),
        (["no-such-command"], "No such command"),
        (["up", "--docker", "18.09"], "'18.09' is not one of"),
        (["trace"], "give a running lab's NAME"),
        (["workshop", "status"], "no workshop is running"),
    ],
)
def test_bad_arguments(
    args: list[str],
    needle: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_main(monkeypatch, *args) == 2
    assert_one_line(capsys, needle)


def test_binary_lab_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "lab.toml").write_bytes(b"\x7fELF\x00\x00")
    assert run_main(monkeypatch, "matrix", "--lab", str(tmp_path / "lab")) == 2
    assert_one_line(capsys, "not a text file")


def test_corrupt_roster(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = home / "home" / "workshop" / "roster.json"
    roster.parent.mkdir(parents=True)
    roster.write_text('{"lab": "docker-firewalld", "students": [')
    assert run_main(monkeypatch, "workshop", "status") == 2
    assert_one_line(capsys, "roster.json is damaged")


def test_an_unexpected_error_is_one_line_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness import labs

    def broken(*_args: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(labs, "load", broken)
    assert run_main(monkeypatch, "matrix", "--list") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "KeyError" in err
    assert run_main(monkeypatch, "--debug", "matrix", "--list") == 2
    assert "Traceback" in capsys.readouterr().err


def test_matrix_list_prints_cell_ids(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    assert run_main(monkeypatch, "matrix", "--list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in listed["cells"]][0] == "docker-19.03_firewalld-on_os-bullseye"
    assert len(listed["cells"]) == 5
