"""harness.labs: the real lab file, bad lab files (file + key in every error), cell filters."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import labs
from harness.errors import UsageError
from harness.labs import Lab, load, parse_cell_filter
from harness.models import Cell

REPO = Path(__file__).resolve().parents[2]
REAL_LABS = REPO / "labs"
REAL_LAB = REAL_LABS / "docker-firewalld" / "lab.toml"

ALL_CHECKS = [
    "egress-name",
    "egress-ip",
    "egress-user-net",
    "c2c-name",
    "c2c-ip",
    "c2c-default-bridge",
    "icmp-c2c",
    "host-network",
]
#: The TCP and DNS checks: what firewalld's filter_FORWARD rejects for 19.03.
TCP_DNS = [c for c in ALL_CHECKS if c not in ("icmp-c2c", "host-network")]


@pytest.fixture(scope="module")
def lab() -> Lab:
    return load(str(REAL_LAB))


def blocked(lab: Lab, **axes: str) -> list[str]:
    spec = lab.cell(Cell.of(**axes))
    return [c for c, outcome in spec.expected.items() if outcome == "blocked"]


# -- the real lab ---------------------------------------------------------------------
def test_real_lab_identity(lab: Lab) -> None:
    assert lab.name == "docker-firewalld"
    assert "19.03" in lab.title and "20.10" in lab.title
    assert lab.path == REAL_LAB
    assert lab.checks == ALL_CHECKS
    assert lab.axes == {"docker": ["19.03", "20.10"], "firewalld": ["on", "off"]}


def test_real_lab_has_five_cells(lab: Lab) -> None:
    assert [s.cell.id for s in lab.cells] == [
        "docker=19.03,firewalld=on",
        "docker=20.10,firewalld=on",
        "docker=19.03,firewalld=off",
        "docker=20.10,firewalld=off",
        "docker=20.10,firewalld=stopped-no-restart",
    ]
    assert lab.cell_ids() == ", ".join(s.cell.id for s in lab.cells)


def test_real_lab_expectations(lab: Lab) -> None:
    assert len(TCP_DNS) == 6
    assert blocked(lab, docker="19.03", firewalld="on") == TCP_DNS
    on_1903 = lab.cell(Cell.of(docker="19.03", firewalld="on")).expected
    assert on_1903["icmp-c2c"] == "pass"
    assert on_1903["host-network"] == "pass"
    assert blocked(lab, docker="20.10", firewalld="on") == []
    assert blocked(lab, docker="19.03", firewalld="off") == []
    assert blocked(lab, docker="20.10", firewalld="off") == []
    assert blocked(lab, docker="20.10", firewalld="stopped-no-restart") == [*TCP_DNS, "icmp-c2c"]


def test_every_cell_expects_every_check_and_says_why(lab: Lab) -> None:
    for spec in lab.cells:
        assert list(spec.expected) == lab.checks
        assert set(spec.expected.values()) <= {"pass", "blocked"}
        assert spec.why


def test_load_by_name_and_by_folder(monkeypatch: pytest.MonkeyPatch, lab: Lab) -> None:
    monkeypatch.setattr(labs, "LABS_DIR", REAL_LABS)
    assert labs.available() == ["docker-firewalld"]
    by_name = load("docker-firewalld")
    by_folder = load(str(REAL_LAB.parent))
    assert by_name.path == by_folder.path == REAL_LAB
    assert [s.cell for s in by_name.cells] == [s.cell for s in lab.cells]


def test_unknown_cell_lookup_lists_the_cells(lab: Lab) -> None:
    with pytest.raises(UsageError, match="no cell docker=18.09,firewalld=on") as err:
        lab.cell(Cell.of(docker="18.09", firewalld="on"))
    assert "docker=20.10,firewalld=stopped-no-restart" in str(err.value)


def test_unknown_lab_names_the_known_labs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(labs, "LABS_DIR", REAL_LABS)
    with pytest.raises(UsageError, match="unknown lab 'no-such-lab'") as err:
        load("no-such-lab")
    assert "docker-firewalld" in str(err.value)

    # Every folder with a lab.toml is a known lab; other folders are not.
    for name in ("beta", "alpha"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "lab.toml").write_text("")
    (tmp_path / "notes").mkdir()
    monkeypatch.setattr(labs, "LABS_DIR", tmp_path)
    with pytest.raises(UsageError, match=r"\(known: alpha, beta\)$"):
        load("no-such-lab")


def test_no_labs_folder_means_no_labs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(labs, "LABS_DIR", tmp_path / "absent")
    assert labs.available() == []


# -- bad lab files ----------------------------------------------------------------------
GOOD = """\
name = "tiny"
checks = ["egress-ip", "c2c-ip"]

[axes]
docker = ["19.03", "20.10"]
firewalld = ["on"]

[[cell]]
docker = "19.03"
firewalld = "on"
blocked = ["egress-ip"]

[[cell]]
docker = "20.10"
firewalld = "on"
blocked = []
"""


def write_lab(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tiny" / "lab.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def load_error(tmp_path: Path, text: str) -> str:
    """The UsageError message for a lab file with `text`; it always names the file."""
    path = write_lab(tmp_path, text)
    with pytest.raises(UsageError) as err:
        load(str(path))
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    return message


def test_the_good_tiny_lab_loads(tmp_path: Path) -> None:
    lab = load(str(write_lab(tmp_path, GOOD)))
    assert lab.title == "tiny"  # defaults to the name
    assert [s.cell.id for s in lab.cells] == [
        "docker=19.03,firewalld=on",
        "docker=20.10,firewalld=on",
    ]
    assert lab.cells[0].expected == {"egress-ip": "blocked", "c2c-ip": "pass"}
    assert lab.cells[0].why == ""


def test_toml_syntax_error(tmp_path: Path) -> None:
    message = load_error(tmp_path, GOOD.replace('name = "tiny"', 'name = "tiny'))
    assert "not valid TOML" in message
    assert "line 1" in message


def test_typo_in_a_top_level_key(tmp_path: Path) -> None:
    # The typo replaces a required key: the typo itself is named first.
    message = load_error(tmp_path, GOOD.replace("checks =", "chekcs ="))
    assert "key (top level)" in message
    assert "'chekcs' was unexpected" in message


def test_unexpected_top_level_key(tmp_path: Path) -> None:
    message = load_error(tmp_path, 'chekcs = ["egress-ip"]\n' + GOOD)
    assert "key (top level)" in message
    assert "'chekcs' was unexpected" in message


def test_unquoted_version_names_the_cell_key(tmp_path: Path) -> None:
    message = load_error(tmp_path, GOOD.replace('docker = "20.10"', "docker = 20.1"))
    assert "key cell.1.docker: 20.1 is not of type 'string'" in message


def test_unquoted_axis_value_names_the_axis_key(tmp_path: Path) -> None:
    message = load_error(tmp_path, GOOD.replace('["19.03", "20.10"]', '["19.03", 20.1]'))
    assert "key axes.docker.1: 20.1 is not of type 'string'" in message


def test_unknown_check_in_checks(tmp_path: Path) -> None:
    message = load_error(tmp_path, GOOD.replace('"c2c-ip"]', '"c2c-ipp"]', 1))
    assert "key checks.1: unknown check 'c2c-ipp'" in message
    assert "(known: egress-name, " in message


def test_unknown_check_in_a_cells_blocked(tmp_path: Path) -> None:
    message = load_error(
        tmp_path, GOOD.replace('blocked = ["egress-ip"]', 'blocked = ["egres-ip"]')
    )
    assert "key cell.0.blocked.0: unknown check 'egres-ip'" in message


def test_blocked_check_that_the_lab_does_not_run(tmp_path: Path) -> None:
    # icmp-c2c is a real check, but not one of this lab's.
    message = load_error(tmp_path, GOOD.replace("blocked = []", 'blocked = ["c2c-ip", "icmp-c2c"]'))
    assert "key cell.1.blocked.1: unknown check 'icmp-c2c'" in message


def test_cell_missing_an_axis(tmp_path: Path) -> None:
    message = load_error(
        tmp_path, GOOD.replace('docker = "20.10"\nfirewalld = "on"\n', 'docker = "20.10"\n')
    )
    assert "key cell.1: gives axes ['docker'], the lab has ['docker', 'firewalld']" in message


def test_cell_with_an_extra_axis(tmp_path: Path) -> None:
    message = load_error(
        tmp_path, GOOD.replace('docker = "20.10"\n', 'docker = "20.10"\nkernel = "5.10"\n')
    )
    assert "key cell.1: gives axes ['docker', 'firewalld', 'kernel']" in message


def test_duplicate_cell(tmp_path: Path) -> None:
    message = load_error(
        tmp_path, GOOD.replace('docker = "20.10"\nfirewalld', 'docker = "19.03"\nfirewalld')
    )
    assert "key cell.1: docker=19.03,firewalld=on is listed twice" in message


def test_axis_combination_without_expectations(tmp_path: Path) -> None:
    message = load_error(tmp_path, GOOD.replace('firewalld = ["on"]', 'firewalld = ["on", "off"]'))
    assert "key cell: no expectations for docker=19.03,firewalld=off" in message


def test_cell_without_blocked(tmp_path: Path) -> None:
    message = load_error(tmp_path, GOOD.replace("blocked = []\n", ""))
    assert "key cell.1: 'blocked' is a required property" in message


def test_bad_lab_name(tmp_path: Path) -> None:
    message = load_error(tmp_path, GOOD.replace('name = "tiny"', 'name = "Tiny Lab"'))
    assert "key name: " in message


# -- selecting cells ---------------------------------------------------------------------
def ids(specs: list[labs.CellSpec]) -> list[str]:
    return [s.cell.id for s in specs]


def test_select_nothing_means_every_cell(lab: Lab) -> None:
    assert ids(lab.select([])) == ids(lab.cells)


def test_select_one_cell(lab: Lab) -> None:
    assert ids(lab.select(["docker=19.03,firewalld=on"])) == ["docker=19.03,firewalld=on"]
    # Order of the parts and spaces around them do not matter.
    assert ids(lab.select([" firewalld = on , docker=19.03"])) == ["docker=19.03,firewalld=on"]


def test_select_part_of_a_cell(lab: Lab) -> None:
    assert ids(lab.select(["firewalld=off"])) == [
        "docker=19.03,firewalld=off",
        "docker=20.10,firewalld=off",
    ]
    assert len(lab.select(["docker=20.10"])) == 3


def test_select_value_only_found_in_cells(lab: Lab) -> None:
    # stopped-no-restart is not on the firewalld axis, but a cell uses it.
    assert ids(lab.select(["firewalld=stopped-no-restart"])) == [
        "docker=20.10,firewalld=stopped-no-restart"
    ]


def test_select_several_filters_without_duplicates(lab: Lab) -> None:
    assert ids(lab.select(["docker=20.10", "firewalld=on"])) == [
        "docker=20.10,firewalld=on",
        "docker=20.10,firewalld=off",
        "docker=20.10,firewalld=stopped-no-restart",
        "docker=19.03,firewalld=on",
    ]


def test_select_unknown_axis(lab: Lab) -> None:
    with pytest.raises(UsageError, match=r"unknown axis 'kernel' \(axes: docker, firewalld\)"):
        lab.select(["kernel=5.10"])


def test_select_unknown_value_lists_known_values(lab: Lab) -> None:
    with pytest.raises(UsageError, match=r"unknown value '18.09' for axis docker") as err:
        lab.select(["docker=18.09"])
    assert "(known: 19.03, 20.10)" in str(err.value)
    with pytest.raises(UsageError, match=r"\(known: on, off, stopped-no-restart\)"):
        lab.select(["firewalld=maybe"])


@pytest.mark.parametrize("text", ["docker", "docker:19.03", "docker=19.03,firewalld"])
def test_select_malformed_filter(lab: Lab, text: str) -> None:
    with pytest.raises(UsageError, match=r"bad cell .*write axis=value\[,axis=value\]"):
        lab.select([text])


def test_select_with_no_matching_cell(lab: Lab) -> None:
    with pytest.raises(UsageError, match="no cell of lab docker-firewalld matches"):
        lab.select(["docker=19.03,firewalld=stopped-no-restart"])


def test_parse_cell_filter(lab: Lab) -> None:
    assert parse_cell_filter("docker=19.03,firewalld=on", lab) == {
        "docker": "19.03",
        "firewalld": "on",
    }
    assert parse_cell_filter("firewalld=off,", lab) == {"firewalld": "off"}
