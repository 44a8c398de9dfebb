"""harness.labs: a lab is a folder. The real lab, lab names and paths, extension files,
cell selection, expectations, and bad lab files (file and key in every error)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness import labs
from harness.errors import UsageError
from harness.labs import Lab, load
from harness.models import Cell, Rule

REPO = Path(__file__).resolve().parents[2]
FOUNDING = REPO / "labs" / "docker-firewalld"
REJECT = Rule("inet", "firewalld", "filter_FORWARD", "reject")


@pytest.fixture(scope="module")
def lab() -> Lab:
    return load("docker-firewalld")


def write_lab(folder: Path, text: str, name: str = "lab.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


MINIMAL = """
name = "mini"
[machine]
os = "bookworm"
[axes]
zone = ["none", "trusted"]
[expect]
"*" = "pass"
[[cell]]
zone = "none"
[[cell]]
zone = "trusted"
[cell.expect]
"docker-*" = { outcome = "blocked", reason = "zone-conflict" }
"""


# -- the founding lab -----------------------------------------------------------------
def test_founding_lab_identity(lab: Lab) -> None:
    assert lab.name == "docker-firewalld"
    assert lab.folder == FOUNDING
    assert lab.machine["os"] == "bullseye"
    assert "CentOS 8" in lab.stands_for


def test_founding_lab_default_run_is_five_bullseye_cells(lab: Lab) -> None:
    assert [s.cell.label for s in lab.cells] == [
        "docker=19.03,firewalld=on,os=bullseye",
        "docker=20.10,firewalld=on,os=bullseye",
        "docker=19.03,firewalld=off,os=bullseye",
        "docker=20.10,firewalld=off,os=bullseye",
        "docker=20.10,firewalld=stopped-no-restart,os=bullseye",
    ]


def test_founding_expectations_judge_why(lab: Lab) -> None:
    bug = lab.spec(Cell.of(docker="19.03", firewalld="on", os="bullseye"))
    for check in ("egress-ip", "c2c-name", "c2c-ip", "c2c-default-bridge"):
        exp = bug.expectation(check)
        assert exp is not None and (exp.outcome, exp.reason, exp.rule) == (
            "blocked",
            "rejected",
            REJECT,
        )
    assert bug.expectation("egress-name").reason == "dns"  # type: ignore[union-attr]
    assert bug.expectation("host-network").outcome == "pass"  # type: ignore[union-attr]
    trap = lab.spec(Cell.of(docker="20.10", firewalld="stopped-no-restart", os="bullseye"))
    exp = trap.expectation("egress-ip")
    assert exp is not None and exp.reason == "timeout"
    assert exp.rule == Rule("ip", "filter", "FORWARD", "drop")
    fixed = lab.spec(Cell.of(docker="20.10", firewalld="on", os="bullseye"))
    assert str(fixed.expectation("c2c-ip").rule) == "inet firewalld filter_FWDI_docker accept"  # type: ignore[union-attr]


def test_recipe_takes_machine_defaults_for_missing_axes(lab: Lab) -> None:
    cell = lab.cells[0].cell
    assert lab.recipe(cell) == {"os": "bullseye", "docker": "19.03", "firewalld": "on"}


# -- names, folders and files ---------------------------------------------------------
def test_a_lab_is_found_by_name_by_folder_and_by_file(tmp_path: Path) -> None:
    folder = write_lab(tmp_path / "anywhere" / "mini", MINIMAL)
    assert load(str(folder)).name == "mini"
    assert load(str(folder / "lab.toml")).name == "mini"
    assert load("docker-firewalld").name == "docker-firewalld"


def test_unknown_lab_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown lab 'no-such-lab'") as exc:
        load("no-such-lab")
    assert "\n" not in str(exc.value)
    with pytest.raises(UsageError, match="unknown lab"):
        load(str(tmp_path / "missing"))


def test_lab_without_axes_is_one_cell_on_its_machine(tmp_path: Path) -> None:
    folder = write_lab(tmp_path / "one", 'name = "one"\n[machine]\nos = "trixie"\n')
    found = load(str(folder))
    assert [s.cell.label for s in found.cells] == ["os=trixie"]
    assert found.recipe(found.cells[0].cell)["os"] == "trixie"


# -- extension files ------------------------------------------------------------------
def test_extension_file_adds_cells_known_to_the_base_lab(tmp_path: Path) -> None:
    folder = write_lab(tmp_path / "mini", MINIMAL)
    (folder / "extended.toml").write_text(
        'extends = "lab.toml"\n[[cell]]\nzone = "none"\nos = "trixie"\n'
    )
    (folder / "workshop.toml").write_text("lab = 'mini'\n")  # not an extension: ignored
    base = load(str(folder))
    assert [s.cell.label for s in base.cells] == [
        "os=bookworm,zone=none",
        "os=bookworm,zone=trusted",
    ]
    assert [s.cell.label for s in base.extra] == ["os=trixie,zone=none"]
    assert [s.cell.label for s in base.select(["os=trixie"])] == ["os=trixie,zone=none"]
    extended = load(str(folder / "extended.toml"))
    assert len(extended.cells) == 3 and extended.name == "mini"


def test_founding_lab_selects_its_extension_cells(lab: Lab) -> None:
    found = lab.select(["os=bookworm,docker=20.10,firewalld=on"])
    assert [s.cell.label for s in found] == ["docker=20.10,firewalld=on,os=bookworm"]
    assert found[0] not in lab.cells
    assert len(lab.select(["all"])) > len(lab.cells)


# -- selecting cells --------------------------------------------------------------------
def test_select_by_id_by_filter_and_part(lab: Lab) -> None:
    first = lab.cells[0]
    assert lab.select([first.cell.id]) == [first]
    assert lab.select(["docker=19.03,firewalld=on"])[0] == first
    assert len(lab.select(["firewalld=on"])) >= 2
    assert lab.select([]) == lab.cells


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kernel=6", "unknown axis 'kernel'"),
        ("docker=18.09", "unknown value '18.09' for axis docker"),
        ("docker", "give a cell id or axis=value"),
    ],
)
def test_bad_cell_filters_are_one_line(lab: Lab, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as exc:
        lab.select([text])
    assert "\n" not in str(exc.value)


# -- expectations ---------------------------------------------------------------------
def test_exact_name_beats_glob_and_cell_beats_lab(tmp_path: Path) -> None:
    folder = write_lab(
        tmp_path / "m",
        MINIMAL.replace(
            '"docker-*" = { outcome = "blocked", reason = "zone-conflict" }',
            '"docker-*" = "blocked/zone-conflict"\n"docker-starts" = "pass"',
        ),
    )
    spec = load(str(folder)).cells[1]
    assert spec.expectation("docker-starts").outcome == "pass"  # type: ignore[union-attr]
    restarts = spec.expectation("docker-restarts")
    assert restarts is not None and (restarts.outcome, restarts.reason) == (
        "blocked",
        "zone-conflict",
    )
    assert spec.expectation("other").outcome == "pass"  # type: ignore[union-attr]  # lab [expect]
    assert spec.unused_patterns(["other"]) == ["docker-*", "docker-starts"]


def test_no_expectation_means_not_judged(tmp_path: Path) -> None:
    folder = write_lab(tmp_path / "m", 'name = "m"\n[machine]\nos = "bookworm"\n')
    assert load(str(folder)).cells[0].expectation("anything") is None


# -- bad lab files: the file and the key, in one line ---------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = [", "not valid TOML"),
        ('name = "x"\nnmae = "y"\n', r"key \(top level\).*nmae"),
        ('name = "x"\n[axes]\ndocker = []\n', "key axes.docker"),
        (
            'name = "x"\n[axes]\ndocker = ["a", "b"]\n[[cell]]\ndocker = "a"\n',
            "no \\[\\[cell\\]\\] for",
        ),
        ('name = "x"\n[axes]\nd = ["a"]\n[[cell]]\nd = "a"\n[[cell]]\nd = "a"\n', "listed twice"),
        ('name = "x"\n[axes]\nd = ["a"]\n[[cell]]\ne = "a"\n', "'e' is not an axis"),
        ('name = "x"\n[expect]\n"*" = "maybe"\n', "key expect.\\*"),
        (
            'name = "x"\n[expect]\n"*" = { outcome = "blocked", rule = "inet filter" }\n',
            "family table chain verdict",
        ),
        ('title = "x"\n', "key name: missing"),
    ],
)
def test_bad_lab_file_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    folder = write_lab(tmp_path / "bad", text)
    with pytest.raises(UsageError, match=message) as exc:
        load(str(folder))
    assert str(folder / "lab.toml") in str(exc.value)
    assert "\n" not in str(exc.value)


def test_binary_and_non_utf8_lab_files_are_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "lab.toml").write_bytes(b"\x00\x01ELF\x00")
    with pytest.raises(UsageError, match="not a text file"):
        load(str(folder))
    (folder / "lab.toml").write_bytes("name = 'caf\u00e9'".encode("latin-1"))
    with pytest.raises(UsageError, match="not UTF-8"):
        load(str(folder))


def test_copy_of_the_founding_lab_loads_anywhere(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(FOUNDING, copy)
    assert [s.cell for s in load(str(copy)).cells] == [
        s.cell for s in load("docker-firewalld").cells
    ]


def test_available_lists_folders_with_a_lab_file() -> None:
    assert "docker-firewalld" in labs.available()
