"""The matrix as JSON: the machine-readable record of a run.

The document is `MatrixResult.as_dict()` with a `"schema": "fwlab.matrix/1"`
key in front. It is written atomically (temp file in the same directory, then
rename), so a reader never sees half a report and a crash never truncates the
previous one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Union

from harness.models import MatrixResult

SCHEMA = "fwlab.matrix/1"

PathLike = Union[str, "os.PathLike[str]"]


def atomic_write(path: PathLike, data: bytes, mode: int = 0o644) -> Path:
    """Write data to path via a temp file in the same directory and a rename."""
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
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def to_document(result: MatrixResult) -> dict[str, Any]:
    """The JSON document for a result: schema first, then as_dict()."""
    return {"schema": SCHEMA, **result.as_dict()}


def write_json(result: MatrixResult, path: PathLike) -> Path:
    """Write the result as pretty-printed JSON, atomically. Returns the path."""
    text = json.dumps(to_document(result), indent=2, ensure_ascii=False) + "\n"
    return atomic_write(path, text.encode("utf-8"))


def load_json(path: PathLike) -> dict[str, Any]:
    """Read a report written by write_json; ValueError if it is not one."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a fwlab report (top level is {type(doc).__name__})")
    schema = doc.get("schema")
    if schema != SCHEMA:
        raise ValueError(f"{path}: schema {schema!r}, expected {SCHEMA!r}")
    return doc
