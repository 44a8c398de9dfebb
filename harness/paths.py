"""Where fwlab keeps things on the host. FWLAB_HOME moves all of it (tests use that)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("FWLAB_HOME", "/var/lib/fwlab"))


def image_cache() -> Path:
    """Base images, one folder per recipe key. Kept across runs: it is the slow part."""
    return Path(os.environ.get("FWLAB_IMAGE_CACHE", str(home() / "images")))


def layer_cache() -> Path:
    """Provisioned layers, one folder per image and cell recipe."""
    return Path(os.environ.get("FWLAB_LAYER_CACHE", str(image_cache() / "layers")))


def labs_dir() -> Path:
    """One folder per lab machine: its state file, keys, overlay and logs."""
    return home() / "labs"


def lab_dir(name: str) -> Path:
    return labs_dir() / name


def locks_dir() -> Path:
    return home() / "locks"
