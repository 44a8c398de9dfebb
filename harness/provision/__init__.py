"""Provisioning over SSH with Fabric: pick the recipe by /etc/os-release, set the
cell's Docker version and firewalld state, import the probe image.

`provision()` is idempotent: a machine already in the requested cell is only
looked at, and the report says nothing changed.
"""

from __future__ import annotations

import io
import json
import shlex
from dataclasses import dataclass, field
from typing import Any, Callable

from harness.provision import probe_image, static_docker
from harness.provision.base import (
    DOCKER_VERSIONS,
    FIREWALLD_STATES,
    ProvisionError,
    Recipe,
)
from harness.provision.centos8 import CentOS8Recipe
from harness.provision.debian import DebianRecipe
from harness.provision.static_docker import StaticDocker

RECIPES: tuple[type[Recipe], ...] = (DebianRecipe, CentOS8Recipe)
MARKER = "/etc/fwlab/cell.json"


@dataclass
class ProvisionReport:
    os: str
    recipe: str
    changed: bool
    stood_in_reason: str | None
    probe_image: str
    steps: list[str] = field(default_factory=list)


def parse_os_release(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            fields[key] = value.strip().strip('"')
    return fields


def pick_recipe(os_release: dict[str, str]) -> type[Recipe]:
    ids = [os_release.get("ID", "")] + os_release.get("ID_LIKE", "").split()
    version = os_release.get("VERSION_ID", "")
    for recipe in RECIPES:
        if any(i in recipe.os_ids for i in ids) and (
            not recipe.version_ids or any(version.startswith(v) for v in recipe.version_ids)
        ):
            return recipe
    name = os_release.get("PRETTY_NAME", os_release.get("ID", "unknown"))
    raise ProvisionError(f"no provisioning recipe for {name}")


def provision(
    conn: Any,
    docker: str,
    firewalld: str,
    log: Callable[[str], None] | None = None,
    tarball: StaticDocker | None = None,
) -> ProvisionReport:
    """Make the machine the cell docker x firewalld; `tarball`: real static binaries."""
    if docker not in DOCKER_VERSIONS:
        raise ProvisionError(f"unknown docker version {docker!r} ({', '.join(DOCKER_VERSIONS)})")
    if firewalld not in FIREWALLD_STATES:
        raise ProvisionError(
            f"unknown firewalld state {firewalld!r} ({', '.join(FIREWALLD_STATES)})"
        )
    steps: list[str] = []

    def note(msg: str) -> None:
        steps.append(msg)
        if log:
            log(msg)

    release = conn.run("cat /etc/os-release", hide=True, in_stream=False).stdout
    os_release = parse_os_release(release)
    recipe = pick_recipe(os_release)(conn, note)
    stood_in = None if tarball else recipe.stood_in(docker)
    # The machine records what it was made into, stand-in reason included, so a later
    # `fwlab check` needs nothing but the machine itself.
    wanted = {
        "docker": docker,
        "firewalld": firewalld,
        "stood_in": stood_in or "",
        "tarball_sha256": tarball.sha256 if tarball else "",
    }
    marker = recipe.sh(f"cat {MARKER}", check=False)
    current = json.loads(marker.stdout) if marker.exited == 0 else {}

    if tarball:
        changed = static_docker.install(recipe, tarball, docker)
    else:
        changed = static_docker.remove(recipe)
        changed |= recipe.install_docker(docker)
    if not recipe.ok(f"docker network inspect {probe_image.PROBE_NETWORK}"):
        recipe.sh(f"docker network create {probe_image.PROBE_NETWORK}")
        changed = True
    if (
        current.get("firewalld") != firewalld
        or changed
        or not _firewalld_settled(recipe, firewalld)
    ):
        changed |= recipe.apply_firewalld(firewalld, force_docker_restart=changed)
    tag, imported = ensure_probe_image(recipe)
    changed |= imported
    if current != wanted:
        recipe.write_file(MARKER, json.dumps(wanted) + "\n")
        changed = True
    if not changed:
        note("already provisioned: nothing changed")
    return ProvisionReport(
        os=os_release.get("PRETTY_NAME", ""),
        recipe=type(recipe).__name__,
        changed=changed,
        stood_in_reason=stood_in,
        probe_image=tag,
        steps=steps,
    )


def _firewalld_settled(recipe: Recipe, state: str) -> bool:
    return recipe.firewalld_active() == (state == "on")


def ensure_probe_image(recipe: Recipe) -> tuple[str, bool]:
    data = probe_image.build()
    tag = probe_image.tag_for(data)
    if recipe.ok(f"docker image inspect {shlex.quote(tag)}"):
        return tag, False
    recipe.log(f"importing probe image {tag}")
    remote = "/tmp/fwlab-probe.tar"
    recipe.conn.put(io.BytesIO(data), remote)
    recipe.sh(f"docker import {remote} {tag}")
    recipe.sh(f"rm -f {remote}")
    return tag, True


__all__ = ["ProvisionError", "ProvisionReport", "pick_recipe", "provision", "RECIPES"]
