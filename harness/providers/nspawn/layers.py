"""Provisioned layers: a cell's provisioned state, cached once per recipe, so bringing up a
provisioned lab costs a boot.

A layer is what provisioning changed on a lab made from the base image: the overlay's
upper directory (Docker's and firewalld's configuration, units enabled or disabled, the
stand-in's drop-in) and Docker's and containerd's state (the probe image, the probe
network). It is made on a lab of its own, which is then shut down cleanly; what belongs
to one machine only (host keys, authorized keys, machine-id, logs) is left out. A new lab
stacks it between the image and its own upper directory, and gets a copy of Docker's
state (Docker's overlay2 cannot live on overlayfs).

The folder is named by the base image's key and the recipe's key; a manifest, written
last, lists its parts and sizes and is checked before every use: an incomplete or stale
layer is rebuilt, never used. Nothing about results is cached: every run probes afresh.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness import paths
from harness.errors import FwlabError
from harness.providers.nspawn.image import ImageRecipe, load_manifest
from harness.util import file_lock, kill_all, processes_using, remove_tree

#: Bump when what a layer holds changes: it is part of every layer's key.
LAYER_VERSION = 1
PARTS = ("upper", "docker", "containerd")
#: One machine's own files: never shared between labs.
PRIVATE = (
    "etc/ssh/ssh_host_ed25519_key",
    "etc/ssh/ssh_host_ed25519_key.pub",
    "root/.ssh/authorized_keys",
    "etc/machine-id",
    "etc/hostname",
    "var/log/journal",
    "var/lib/systemd/random-seed",
    "tmp",
)


def cache() -> Path:
    return paths.layer_cache()


@dataclass(frozen=True)
class Layer:
    image: ImageRecipe
    recipe_key: str

    @property
    def key(self) -> str:
        return f"{self.image.key}-{self.recipe_key}-v{LAYER_VERSION}"

    @property
    def folder(self) -> Path:
        return cache() / f"{self.image.suite}-{self.key}"

    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    def part(self, name: str) -> Path:
        return self.folder / name


def problems(layer: Layer) -> list[str]:
    """Why a cached layer can't be used; empty when it can."""
    manifest, unusable = load_manifest(layer.manifest_path)
    if unusable:
        return [unusable]
    if manifest.get("key") != layer.key:
        return [f"manifest key {manifest.get('key')!r} is not {layer.key!r} (stale)"]
    found = []
    for part, size in manifest.get("sizes", {}).items():
        if not layer.part(part).is_dir():
            found.append(f"{part} is missing")
        elif _size(layer.part(part)) != size:
            found.append(f"{part} has changed since it was built")
    if set(manifest.get("sizes", {})) != set(PARTS):
        found.append("manifest does not list every part")
    return found


def _size(folder: Path) -> int:
    """Files and their sizes under folder, summed (cheap: a few hundred files)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size + 1
            except OSError:
                continue
    return total


def ensure(layer: Layer, build: Callable[[Path], None], say: Callable[[str], None]) -> Layer:
    """A ready layer, built with `build(staging)` under a lock if missing or stale.
    `build` fills staging/upper, staging/docker and staging/containerd."""
    if not problems(layer):
        return layer
    cache().mkdir(parents=True, exist_ok=True)
    with file_lock(cache() / f".{layer.folder.name}.lock"):
        found = problems(layer)
        if not found:
            return layer  # another process built it while we waited
        if layer.folder.exists():
            say(f"discarding provisioned layer: {'; '.join(found)}")
            remove_tree(layer.folder)
        staging = layer.folder.with_name(layer.folder.name + f".building-{os.getpid()}")
        remove_tree(staging) if staging.exists() else None
        staging.mkdir(parents=True)
        started = time.monotonic()
        try:
            build(staging)
            for private in PRIVATE:
                target = staging / "upper" / private
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                elif target.exists() or target.is_symlink():
                    target.unlink()
            manifest = {
                "key": layer.key,
                "image": layer.image.key,
                "recipe": layer.recipe_key,
                "sizes": {part: _size(staging / part) for part in PARTS},
                "build_seconds": round(time.monotonic() - started, 1),
            }
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
            staging.rename(layer.folder)
        finally:
            if staging.exists():
                kill_all(processes_using(staging))
                remove_tree(staging)
        say(f"provisioned layer {layer.folder.name} ready in {time.monotonic() - started:.0f} s")
    return layer


def copy_state(layer: Layer, lab_dir: Path) -> None:
    """A lab's own copy of Docker's and containerd's state from the layer."""
    for part in ("docker", "containerd"):
        target = lab_dir / part
        if target.exists():
            shutil.rmtree(target)
        res = subprocess.run(
            ["cp", "-a", "--reflink=auto", str(layer.part(part)), str(target)],
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            raise FwlabError(f"could not copy the layer's {part} state: {res.stderr.strip()}")


def remove_stale() -> list[str]:
    """Unfinished layer builds whose process is gone, and layers of images no longer cached."""
    removed = []
    if not cache().is_dir():
        return removed
    images = {p.name.rsplit("-", 1)[-1] for p in paths.image_cache().iterdir() if p.is_dir()}
    for folder in cache().iterdir():
        if ".building-" in folder.name:
            pid = folder.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                kill_all(processes_using(folder))
                remove_tree(folder)
                removed.append(f"unfinished provisioned layer {folder}")
        elif folder.is_dir() and folder.name.split("-", 2)[1] not in images:
            remove_tree(folder)
            removed.append(f"provisioned layer of a removed image {folder}")
    return removed
