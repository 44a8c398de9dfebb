"""The matrix as JSON: the machine-readable record of a run.

The document is `MatrixResult.as_dict()` behind `"format": "fwlab.matrix/2"`; its JSON
Schema is `matrix.schema.json` next to this file. It is written atomically (temp file in
the same directory, then rename), so a reader never sees half a report.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Union

from harness.errors import UsageError
from harness.models import MatrixResult

FORMAT = "fwlab.matrix/2"
SCHEMA_FILE = Path(__file__).with_name("matrix.schema.json")

PathLike = Union[str, "os.PathLike[str]"]


def atomic_write(path: PathLike, data: bytes, mode: int = 0o644) -> Path:
    """Write data to path via a temp file in the same directory and a rename ("-": stdout)."""
    if str(path) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return Path("-")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def to_document(result: MatrixResult) -> dict[str, Any]:
    return {"format": FORMAT, **result.as_dict()}


def write_json(result: MatrixResult, path: PathLike) -> Path:
    text = json.dumps(to_document(result), indent=2, ensure_ascii=False) + "\n"
    # A lone surrogate (undecodable probe output) is written as its JSON escape.
    return atomic_write(path, text.encode("utf-8", "backslashreplace"))


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


def problems(doc: Any) -> list[str]:
    """Where a document breaks the report schema ("path: message"); empty when it holds."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '(top)'}: {err.message[:200]}"
        for err in sorted(validator.iter_errors(doc), key=str)
    ]


def load_json(path: PathLike) -> MatrixResult:
    """A report written by write_json, checked against the schema; UsageError if not one."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a fwlab JSON report ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise UsageError(f"{path}: report format {found!r}, expected {FORMAT!r}")
    found = problems(doc)
    if found:
        raise UsageError(f"{path}: not a valid fwlab report: {found[0]}")
    return MatrixResult.from_dict(doc)
