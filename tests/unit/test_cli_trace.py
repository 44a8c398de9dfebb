"""`fwlab trace --from-file` on every captured fixture (no root needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable


def test_trace_from_file_on_every_fixture(run_fwlab: Callable[..., object]) -> None:
    fixtures = Path(__file__).resolve().parents[1] / "unit" / "data" / "traces"
    files = sorted(fixtures.glob("*/*.txt"))
    assert len(files) == 7
    for path in files:
        res = run_fwlab("trace", "--from-file", str(path))
        text = " ".join(res.stdout.split())  # type: ignore[attr-defined]  (rich wraps lines)
        if "enobufs" in path.name:
            assert "No buffer space available" in text
        elif "zonedocker" in path.name:
            assert "filter_FWDI_docker" in text and res.returncode == 0  # type: ignore[attr-defined]
        else:
            assert "filter_FORWARD" in text and "no firewalld zone" in text
