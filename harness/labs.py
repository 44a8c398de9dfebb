"""A lab is a folder: `labs/<name>/lab.toml` says which machine, which axes and what each
cell is expected to do; the folder's `test_*.py` files are its checks (ordinary
pytest-testinfra tests); an optional `conftest.py` holds its scenario steps.

A lab file is validated against a JSON schema and cross-checked (axis values, every
combination of the axes has its expectations); every error names the file and the key.

An extension file in the same folder (`extends = "lab.toml"`, e.g. `extended.toml`)
adds axis values and cells. Run as a lab of its own, it runs them all; the base lab
still knows its cells, so `--cells` can pick one without the base lab running it by
default.
"""

from __future__ import annotations

import fnmatch
import itertools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from harness.errors import UsageError
from harness.models import Cell, Expectation, Rule

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LABS_DIR = Path(os.environ.get("FWLAB_LABS", Path(__file__).resolve().parent.parent / "labs"))
DEFAULT_LAB = "docker-firewalld"
LAB_FILE = "lab.toml"
#: Axes the harness itself acts on (the rest are the lab's own, for its conftest.py).
MACHINE_AXES = ("os", "docker", "firewalld")

_EXPECTATION = {
    "oneOf": [
        {"type": "string", "pattern": r"^(pass|blocked)(/[a-z0-9-]+)?$"},
        {
            "type": "object",
            "required": ["outcome"],
            "additionalProperties": False,
            "properties": {
                "outcome": {"enum": ["pass", "blocked"]},
                "reason": {"type": "string", "pattern": "^[a-z0-9-]+$"},
                "rule": {"type": "string"},
            },
        },
    ]
}
_EXPECTATIONS = {"type": "object", "additionalProperties": _EXPECTATION}
_VALUE = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9.-]*$"}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9-]+$"},
        "title": {"type": "string"},
        "scenario": {"type": "string"},
        "extends": {"type": "string"},
        "machine": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "os": _VALUE,
                "docker": _VALUE,
                "firewalld": _VALUE,
                "stands_for": {"type": "string"},
            },
        },
        "axes": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": _VALUE, "minItems": 1},
        },
        "expect": _EXPECTATIONS,
        "cell": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"why": {"type": "string"}, "expect": _EXPECTATIONS},
                "additionalProperties": _VALUE,
            },
        },
    },
}


@dataclass
class CellSpec:
    """A cell of a lab, with its expectations (pattern -> Expectation, most specific
    first: the cell's own, then the lab's defaults)."""

    cell: Cell
    expectations: list[tuple[str, Expectation]] = field(default_factory=list)
    why: str = ""

    def expectation(self, check: str) -> Expectation | None:
        """The expectation for a check: an exact name first, then the first pattern
        that matches, in the order written (the cell's own before the lab's)."""
        for pattern, exp in self.expectations:
            if pattern == check:
                return exp
        for pattern, exp in self.expectations:
            if fnmatch.fnmatchcase(check, pattern):
                return exp
        return None

    def unused_patterns(self, checks: list[str]) -> list[str]:
        """Expectation keys that name no check (a typo, or a check that was removed)."""
        return [
            p for p, _ in self.expectations if not any(fnmatch.fnmatchcase(c, p) for c in checks)
        ]


@dataclass
class Lab:
    name: str
    title: str
    folder: Path
    path: Path  # the lab file that was loaded
    machine: dict[str, str]
    axes: dict[str, list[str]]
    cells: list[CellSpec] = field(default_factory=list)  # the default run
    extra: list[CellSpec] = field(default_factory=list)  # known (extension files), not run
    scenario: str = ""

    @property
    def argument(self) -> str:
        """How --lab names this lab again: its name when it is labs/<name>/lab.toml, else
        its path (relative to the working directory when it is below it)."""
        if self.path == (LABS_DIR / self.folder.name / LAB_FILE).resolve():
            return self.folder.name
        try:
            return str(self.path.relative_to(Path.cwd()))
        except ValueError:
            return str(self.path)

    @property
    def known(self) -> list[CellSpec]:
        return self.cells + self.extra

    @property
    def stands_for(self) -> str:
        """The machine the lab reproduces (what a stand-in stands in for)."""
        return self.machine.get("stands_for") or f"a Debian {self.machine['os']} machine"

    def recipe(self, cell: Cell) -> dict[str, str]:
        """os, docker and firewalld for a cell: its axes, else the lab's machine."""
        return {axis: cell.get(axis) or self.machine.get(axis, "") for axis in MACHINE_AXES}

    def spec(self, cell: Cell) -> CellSpec:
        for spec in self.known:
            if spec.cell == cell:
                return spec
        raise UsageError(f"{self.path}: no cell {cell.label} (cells: {self.cell_labels()})")

    def cell_labels(self) -> str:
        return ", ".join(spec.cell.label for spec in self.known)

    def select(self, filters: list[str] | tuple[str, ...]) -> list[CellSpec]:
        """The default run, or the known cells matching any filter: a cell id
        ('docker-19.03_firewalld-on_os-bullseye'), 'axis=value[,axis=value]' (or a part:
        the default run's cells that fit, else the extension files' cells), or 'all'."""
        if not filters:
            return list(self.cells)
        chosen: list[CellSpec] = []
        for text in filters:
            if text == "all":
                matches = self.known
            else:
                by_id = [s for s in self.known if s.cell.id == text]
                wanted = {} if by_id else self.parse_filter(text)

                def fits(specs: list[CellSpec], wanted: dict[str, str] = wanted) -> list[CellSpec]:
                    return [s for s in specs if all(s.cell.get(k) == v for k, v in wanted.items())]

                # The default run's cells first; extension cells when none of those fit.
                matches = by_id or fits(self.cells) or fits(self.extra)
            if not matches:
                raise UsageError(
                    f"no cell of lab {self.name} matches {text!r} (cells: {self.cell_labels()})"
                )
            chosen += [m for m in matches if m not in chosen]
        return chosen

    def parse_filter(self, text: str) -> dict[str, str]:
        wanted: dict[str, str] = {}
        for part in filter(None, text.split(",")):
            if "=" not in part:
                raise UsageError(
                    f"bad cell {text!r}: give a cell id or axis=value[,axis=value] "
                    f"(fwlab matrix --list shows them)"
                )
            axis, value = (s.strip() for s in part.split("=", 1))
            known = self.values(axis)
            if not known:
                raise UsageError(f"unknown axis {axis!r} (axes: {', '.join(self.all_axes())})")
            if value not in known:
                raise UsageError(
                    f"unknown value {value!r} for axis {axis} (known: {', '.join(known)})"
                )
            wanted[axis] = value
        return wanted

    def all_axes(self) -> list[str]:
        return list(dict.fromkeys(a for spec in self.known for a, _ in spec.cell.axes))

    def values(self, axis: str) -> list[str]:
        return list(dict.fromkeys(s.cell.get(axis) for s in self.known if s.cell.get(axis)))


def available() -> list[str]:
    if not LABS_DIR.is_dir():
        return []
    return sorted(p.name for p in LABS_DIR.iterdir() if (p / LAB_FILE).is_file())


def resolve(name_or_path: str) -> Path:
    """A lab's name (a folder under labs/), a lab folder anywhere, or a lab file."""
    path = Path(name_or_path)
    if path.is_dir():
        path = path / LAB_FILE
    if path.is_file():
        return path.resolve()
    named = LABS_DIR / name_or_path / LAB_FILE
    if "/" not in name_or_path and named.is_file():
        return named.resolve()
    raise UsageError(
        f"unknown lab {name_or_path!r}: not a folder under {LABS_DIR} and not a lab folder "
        f"or file (known: {', '.join(available()) or 'none'})"
    )


def load(name_or_path: str = DEFAULT_LAB) -> Lab:
    path = resolve(name_or_path)
    data = read_toml(path)
    base = data.get("extends")
    if base:
        parent_path = (path.parent / base).resolve()
        if not parent_path.is_file():
            raise UsageError(f"{path}: key extends: {parent_path} does not exist")
        parent = read_toml(parent_path)
        validate(parent, SCHEMA, parent_path)
        data = _merge(parent, data)
    lab = parse(data, path)
    if not base:
        lab.extra = _extension_cells(lab)
    return lab


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    merged = {**parent, **{k: v for k, v in child.items() if k not in ("axes", "cell", "expect")}}
    merged["axes"] = {**parent.get("axes", {}), **child.get("axes", {})}
    merged["expect"] = {**parent.get("expect", {}), **child.get("expect", {})}
    merged["cell"] = parent.get("cell", []) + child.get("cell", [])
    merged.pop("extends", None)
    return merged


def _extension_cells(lab: Lab) -> list[CellSpec]:
    """Cells that extension files in the lab's folder add (selectable, not run by default)."""
    extra: list[CellSpec] = []
    seen = {s.cell for s in lab.cells}
    for other in sorted(lab.folder.glob("*.toml")):
        if other.name == LAB_FILE or other.resolve() == lab.path:
            continue
        try:
            data = tomllib.loads(other.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
            continue  # not an extension file (e.g. workshop.toml); loading it says why
        if data.get("extends") != LAB_FILE:
            continue
        for spec in load(str(other)).cells:
            if spec.cell not in seen:
                seen.add(spec.cell)
                extra.append(spec)
    return extra


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file, or one line saying why it can't be read (binary, not UTF-8, bad TOML)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file (not UTF-8)") from None
    if "\x00" in text:
        raise UsageError(f"{path}: not a text file (it holds NUL bytes)")
    try:
        return tomllib.loads(text)
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
        message = err.message.replace("\n", " ")
        if len(message) > 200:
            message = message[:200] + "..."
        raise UsageError(f"{path}: key {key}: {message}")


def parse_expectation(value: Any, where: str, key: str) -> Expectation:
    if isinstance(value, str):
        outcome, _, reason = value.partition("/")
        return Expectation(outcome, reason or None, None, where)  # type: ignore[arg-type]
    rule = None
    if "rule" in value:
        try:
            rule = Rule.parse(value["rule"])
        except ValueError as exc:
            raise UsageError(f"{key}.rule: {exc}") from None
    return Expectation(value["outcome"], value.get("reason"), rule, where)


def _expectations(
    table: dict[str, Any], path: Path, key: str, where: str
) -> list[tuple[str, Expectation]]:
    return [
        (pattern, parse_expectation(value, f"{where}, {pattern!r}", f"{path}: key {key}.{pattern}"))
        for pattern, value in table.items()
    ]


def parse(data: dict[str, Any], path: Path) -> Lab:
    validate(data, SCHEMA, path)
    if "name" not in data:
        raise UsageError(f"{path}: key name: missing")
    machine = {"os": "bullseye", "docker": "20.10", "firewalld": "on", **data.get("machine", {})}
    axes = dict(data.get("axes", {}))
    defaults = _expectations(data.get("expect", {}), path, "expect", f"{path.name} [expect]")
    lab = Lab(
        name=data["name"],
        title=data.get("title", data["name"]),
        folder=path.parent,
        path=path,
        machine=machine,
        axes=axes,
        scenario=data.get("scenario", ""),
    )
    listed = data.get("cell", [])
    for i, raw in enumerate(listed):
        values = {k: v for k, v in raw.items() if k not in ("why", "expect")}
        unknown = sorted(set(values) - set(axes) - set(MACHINE_AXES))
        if unknown:
            raise UsageError(f"{path}: key cell.{i}: {unknown[0]!r} is not an axis of the lab")
        missing = sorted(set(axes) - set(values))
        if missing:
            raise UsageError(f"{path}: key cell.{i}: no value for axis {missing[0]!r}")
        values.setdefault("os", machine["os"])
        own = _expectations(
            raw.get("expect", {}), path, f"cell.{i}.expect", f"{path.name} cell {i + 1}"
        )
        spec = CellSpec(Cell.of(**values), own + defaults, raw.get("why", ""))
        if any(s.cell == spec.cell for s in lab.cells):
            raise UsageError(f"{path}: key cell.{i}: {spec.cell.label} is listed twice")
        lab.cells.append(spec)
    if not lab.cells:
        # A lab with no axes is one cell on its machine.
        lab.cells.append(CellSpec(Cell.of(os=machine["os"]), defaults))
    # Every combination of the axes must have its expectations written down.
    product_axes = {**axes}
    product_axes.setdefault("os", [machine["os"]])
    listed_cells = {s.cell for s in lab.cells}
    for combo in itertools.product(*product_axes.values()):
        cell = Cell.of(**dict(zip(product_axes, combo)))
        if cell not in listed_cells:
            raise UsageError(f"{path}: key cell: no [[cell]] for {cell.label}")
    return lab
