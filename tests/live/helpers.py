"""Shared by the live tests."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def lab_copy(tmp_path: Path, lab: str = "docker-firewalld") -> Path:
    """A copy of a lab folder to change (a new check, another expectation) in a test."""
    folder = tmp_path / lab
    shutil.copytree(REPO / "labs" / lab, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder
