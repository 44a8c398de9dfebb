"""Labs are data: `labs/<name>/lab.toml` declares axes, checks and expected outcomes.

Adding a lab means adding a folder. A file is validated against a JSON schema
and cross-checked (known checks, cell values on the axes); every error names
the file and the key.
"""

from __future__ import annotations

import itertools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from harness.checks import CHECKS
from harness.errors import UsageError
from harness.models import Cell

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LABS_DIR = Path(os.environ.get("FWLAB_LABS", Path(__file__).resolve().parent.parent / "labs"))
DEFAULT_LAB = "docker-firewalld"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "checks", "axes", "cell"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9-]+$"},
        "title": {"type": "string"},
        "checks": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "axes": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "array", "items": {"type": "string"}, "minItems": 1
            },
        },
        "cell": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["blocked"],
                "properties": {
                    "blocked": {"type": "array", "items": {"type": "string"}},
                    "why": {"type": "string"},
                },
                "additionalProperties": {"type": "string"},
            },
        },
    },
}  # fmt: skip


@dataclass
class CellSpec:
    cell: Cell
    expected: dict[str, str]  # check -> pass|blocked
    why: str = ""


@dataclass
class Lab:
    name: str
    title: str
    path: Path
    checks: list[str]
    axes: dict[str, list[str]]
    cells: list[CellSpec] = field(default_factory=list)

    def cell(self, cell: Cell) -> CellSpec:
        for spec in self.cells:
            if spec.cell == cell:
                return spec
        raise UsageError(f"{self.path}: no cell {cell.id} (cells: {self.cell_ids()})")

    def cell_ids(self) -> str:
        return ", ".join(spec.cell.id for spec in self.cells)

    def select(self, filters: list[str]) -> list[CellSpec]:
        """Cells matching any filter such as 'docker=19.03,firewalld=on' (or a part)."""
        if not filters:
            return list(self.cells)
        chosen = []
        for text in filters:
            wanted = parse_cell_filter(text, self)
            matches = [s for s in self.cells if all(s.cell.get(k) == v for k, v in wanted.items())]
            if not matches:
                raise UsageError(f"no cell of lab {self.name} matches {text!r} ({self.cell_ids()})")
            chosen += [m for m in matches if m not in chosen]
        return chosen


def parse_cell_filter(text: str, lab: Lab) -> dict[str, str]:
    wanted: dict[str, str] = {}
    for part in filter(None, text.split(",")):
        if "=" not in part:
            raise UsageError(f"bad cell {text!r}: write axis=value[,axis=value]")
        axis, value = (s.strip() for s in part.split("=", 1))
        if axis not in lab.axes:
            raise UsageError(f"unknown axis {axis!r} (axes: {', '.join(lab.axes)})")
        values = _axis_values(lab, axis)
        if value not in values:
            raise UsageError(
                f"unknown value {value!r} for axis {axis} (known: {', '.join(values)})"
            )
        wanted[axis] = value
    return wanted


def _axis_values(lab: Lab, axis: str) -> list[str]:
    values = list(lab.axes[axis])
    for spec in lab.cells:
        if spec.cell.get(axis) not in values:
            values.append(spec.cell.get(axis))
    return values


def available() -> list[str]:
    if not LABS_DIR.is_dir():
        return []
    return sorted(p.name for p in LABS_DIR.iterdir() if (p / "lab.toml").is_file())


def load(name_or_path: str = DEFAULT_LAB) -> Lab:
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "lab.toml"
    if not path.is_file():
        path = LABS_DIR / name_or_path / "lab.toml"
        if not path.is_file():
            raise UsageError(f"unknown lab {name_or_path!r} (known: {', '.join(available())})")
    return parse(read_toml(path), path)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None


def validate(data: dict[str, Any], schema: dict[str, Any], path: Path) -> None:
    """Raise a one-line UsageError naming the file and the key of the first problem."""
    # A misspelt key shows up as both "unexpected" and "missing": name the typo first.
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(data),
        key=lambda e: (e.validator != "additionalProperties", list(e.path)),
    )
    if errors:
        err = errors[0]
        key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise UsageError(f"{path}: key {key}: {err.message}")


def parse(data: dict[str, Any], path: Path) -> Lab:
    validate(data, SCHEMA, path)
    for i, name in enumerate(data["checks"]):
        if name not in CHECKS:
            raise UsageError(
                f"{path}: key checks.{i}: unknown check {name!r} (known: {', '.join(CHECKS)})"
            )
    lab = Lab(data["name"], data.get("title", data["name"]), path, data["checks"], data["axes"])
    for i, raw in enumerate(data["cell"]):
        axes = {k: v for k, v in raw.items() if k not in ("blocked", "why")}
        if set(axes) != set(lab.axes):
            raise UsageError(
                f"{path}: key cell.{i}: gives axes {sorted(axes)}, the lab has {sorted(lab.axes)}"
            )
        for j, name in enumerate(raw["blocked"]):
            if name not in lab.checks:
                raise UsageError(f"{path}: key cell.{i}.blocked.{j}: unknown check {name!r}")
        expected = {c: ("blocked" if c in raw["blocked"] else "pass") for c in lab.checks}
        spec = CellSpec(Cell.of(**axes), expected, raw.get("why", ""))
        if any(s.cell == spec.cell for s in lab.cells):
            raise UsageError(f"{path}: key cell.{i}: {spec.cell.id} is listed twice")
        lab.cells.append(spec)
    # Every combination of the axes must have its expectations written down.
    listed = {s.cell for s in lab.cells}
    for combo in itertools.product(*lab.axes.values()):
        cell = Cell.of(**dict(zip(lab.axes, combo)))
        if cell not in listed:
            raise UsageError(f"{path}: key cell: no expectations for {cell.id}")
    return lab
