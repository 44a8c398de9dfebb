"""Provisioning over SSH with Fabric: pick the recipe by /etc/os-release, set the
cell's Docker version and firewalld state, import the probe image, and report what
the machine really runs.

`provision()` is idempotent: a machine already in the requested cell is only looked
at (one command gathers the facts), and the report says nothing changed.
"""

from __future__ import annotations

import io
import json
import shlex
from dataclasses import dataclass, field
from typing import Any, Callable

from harness.models import Layer
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

FACTS = r"""
# firewalld tells systemd it has started as soon as it holds its D-Bus name, before it has
# flushed iptables and applied its rules: wait (bounded) until its state is RUNNING, so
# nothing below is read halfway through that.
for _ in $(seq 180); do
    case "$(systemctl is-active firewalld 2>/dev/null)" in
        active) busctl get-property org.fedoraproject.FirewallD1 /org/fedoraproject/FirewallD1 \
                    org.fedoraproject.FirewallD1 state 2>/dev/null | grep -q RUNNING && break ;;
        activating|reloading) ;;
        *) break ;;
    esac
    sleep 0.5
done
. /etc/os-release
echo "os_id=$ID"
echo "os_version=$VERSION_ID"
echo "os_codename=$VERSION_CODENAME"
echo "os_name=$PRETTY_NAME"
echo "os_like=$ID_LIKE"
echo "kernel=$(uname -r)"
package() {  # a package's version: Debian's dpkg, else rpm (its "not installed" is no version)
    dpkg-query -W -f='${Version}' "$1" 2>/dev/null \
        || rpm -q --qf '%{VERSION}' "$2" 2>/dev/null | grep -v ' is not installed'
}
echo "firewalld=$(firewall-cmd --version 2>/dev/null || package firewalld firewalld)"
echo "firewalld_backend=$(sed -n 's/^FirewallBackend=//p' /etc/firewalld/firewalld.conf \
    2>/dev/null)"
echo "firewalld_active=$(systemctl is-active firewalld 2>/dev/null)"
echo "nftables=$(nft --version 2>/dev/null | sed -n 's/^nftables v\([^ ]*\).*/\1/p')"
echo "iptables=$(iptables --version 2>/dev/null | sed 's/^iptables v//')"
echo "docker=$(timeout 10 docker version -f '{{.Server.Version}}' 2>/dev/null)"
echo "docker_package=$(package docker.io docker-ce)"
echo "containerd=$(containerd --version 2>/dev/null | awk '{print $3}')"
echo "marker=$(cat /etc/fwlab/cell.json 2>/dev/null)"
echo "probe_network=$(timeout 10 docker network inspect -f '{{.Name}}' fwlab-net 2>/dev/null)"
echo "probe_tags=$(timeout 10 docker images --format '{{.Tag}}' fwlab/probe 2>/dev/null \
    | tr '\n' ' ')"
echo "drop_in=$(test -f /etc/systemd/system/docker.service.d/fwlab-no-firewalld.conf && echo yes)"
echo "docker0_zone=$(busctl call org.fedoraproject.FirewallD1 /org/fedoraproject/FirewallD1 \
    org.fedoraproject.FirewallD1.zone getZoneOfInterface s docker0 2>/dev/null \
    | sed -n 's/^s "\(.*\)"$/\1/p')"
echo "docker_chains=$(iptables -w 5 -t nat -n -L DOCKER >/dev/null 2>&1 \
    && iptables -w 5 -t filter -n -L DOCKER >/dev/null 2>&1 && echo yes)"
"""


@dataclass
class Facts:
    """What a machine runs, read in one command."""

    values: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Facts:
        values = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip()
        return cls(values)

    def get(self, key: str) -> str:
        return self.values.get(key, "")

    @property
    def os_release(self) -> dict[str, str]:
        return {
            "ID": self.get("os_id"),
            "ID_LIKE": self.get("os_like"),
            "VERSION_ID": self.get("os_version"),
            "PRETTY_NAME": self.get("os_name"),
        }

    @property
    def marker(self) -> dict[str, Any]:
        try:
            return json.loads(self.get("marker") or "{}")
        except ValueError:
            return {}

    @property
    def versions(self) -> dict[str, str]:
        """The real versions, as every report shows them."""
        found = {
            "os": f"{self.get('os_id')} {self.get('os_version') or self.os_axis}".strip(),
            "kernel": self.get("kernel"),
            "firewalld": self.get("firewalld"),
            "nftables": self.get("nftables"),
            "iptables": self.get("iptables"),
            "docker": self.get("docker") or self.get("docker_package"),
            "containerd": self.get("containerd"),
        }
        return {k: v for k, v in found.items() if v}

    @property
    def os_axis(self) -> str:
        """The release as the os axis names it: bullseye, bookworm, trixie, sid."""
        if self.get("os_id") != "debian":
            return f"{self.get('os_id')}{self.get('os_version').split('.')[0]}"
        if not self.get("os_version"):  # testing and unstable carry no version number
            return "sid" if "sid" in self.get("os_name") else self.get("os_codename")
        return self.get("os_codename")


def facts(recipe_or_conn: Any) -> Facts:
    """The machine's facts (as root, so `docker version` answers)."""
    conn = getattr(recipe_or_conn, "conn", recipe_or_conn)
    runner = conn.run if conn.user == "root" else conn.sudo
    out = runner(f"sh -c {shlex.quote(FACTS)}", hide=True, warn=True, in_stream=False, timeout=180)
    return Facts.parse(out.stdout)


@dataclass
class ProvisionReport:
    os: str
    recipe: str
    changed: bool
    docker: Layer
    firewalld: Layer
    versions: dict[str, str]
    probe_image: str
    steps: list[str] = field(default_factory=list)

    @property
    def stood_in_reason(self) -> str:
        return "" if self.docker.real else self.docker.what


def pick_recipe(os_release: dict[str, str]) -> type[Recipe]:
    ids = [os_release.get("ID", "")] + os_release.get("ID_LIKE", "").split()
    version = os_release.get("VERSION_ID", "")
    for recipe in RECIPES:
        if any(i in recipe.os_ids for i in ids) and (
            not recipe.version_ids or any(version.startswith(v) for v in recipe.version_ids)
        ):
            return recipe
    name = os_release.get("PRETTY_NAME") or os_release.get("ID") or "unknown"
    raise ProvisionError(f"no provisioning recipe for {name}")


def provision(
    conn: Any,
    docker: str,
    firewalld: str,
    log: Callable[[str], None] | None = None,
    tarball: StaticDocker | None = None,
    axes: dict[str, str] | None = None,
) -> ProvisionReport:
    """Make the machine the cell docker x firewalld; `tarball`: real static binaries.
    `axes` (the whole cell) is recorded on the machine with the recipe."""
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

    before = facts(conn)
    recipe = pick_recipe(before.os_release)(conn, note)
    current = before.marker
    if already(before, docker, firewalld, tarball, axes or {}):
        note("already provisioned: nothing changed")  # one command looked at everything
        return report_of(before, current, type(recipe).__name__, False, steps)
    if tarball:
        changed = static_docker.install(recipe, tarball, docker)
    else:
        changed = static_docker.remove(recipe)
        changed |= recipe.install_docker(docker)
    if not recipe.ok(f"docker network inspect {probe_image.PROBE_NETWORK}"):
        recipe.sh(f"docker network create {probe_image.PROBE_NETWORK}")
        changed = True
    if docker != "19.03" and firewalld in ("on", "stopped-no-restart"):
        changed |= recipe.ensure_docker_sees_firewalld()
    settled = (before.get("firewalld_active") == "active") == (firewalld == "on")
    if current.get("firewalld") != firewalld or changed or not settled:
        changed |= recipe.apply_firewalld(firewalld, force_docker_restart=changed)
    if firewalld != "stopped-no-restart":  # there, losing them is the point
        changed |= recipe.ensure_docker_chains()
    changed |= recipe.ensure_busybox()
    tag, imported = ensure_probe_image(recipe, current.get("probe_image", ""))
    changed |= imported
    after = facts(conn) if changed else before
    stood_in = None if tarball else recipe.stood_in(docker, after.versions.get("docker", ""))
    wanted = {
        "os": after.os_axis,
        "docker": docker,
        "firewalld": firewalld,
        "axes": axes or {},
        "stood_in": stood_in or "",
        "tarball_sha256": tarball.sha256 if tarball else "",
        "docker_source": recipe.docker_source,
        "probe_image": tag,
    }
    if current != wanted:
        recipe.write_file(MARKER, json.dumps(wanted) + "\n")
        changed = True
    if not changed:
        note("already provisioned: nothing changed")
    return report_of(after, wanted, type(recipe).__name__, changed, steps)


def already(
    found: Facts, docker: str, firewalld: str, tarball: StaticDocker | None, axes: dict[str, str]
) -> bool:
    """Is the machine already exactly this cell? (Then provisioning need not touch it.)"""
    marker = found.marker
    recorded = (marker.get("docker"), marker.get("firewalld"), marker.get("axes") or {})
    tag = marker.get("probe_image", "").rpartition(":")[2]
    return (
        recorded == (docker, firewalld, axes)
        and marker.get("tarball_sha256", "") == (tarball.sha256 if tarball else "")
        and bool(found.get("docker"))  # the daemon answers
        and (found.get("firewalld_active") == "active") == (firewalld == "on")
        and found.get("probe_network") == probe_image.PROBE_NETWORK
        and bool(tag)
        and tag in found.get("probe_tags").split()
        and (found.get("drop_in") == "yes") == bool(marker.get("stood_in"))
        # Docker with firewalld integration has put docker0 in its zone (sid's dockerd
        # may have started before firewalld did).
        and (docker == "19.03" or firewalld != "on" or found.get("docker0_zone") == "docker")
        # firewalld flushed Docker's chains as it started (see Recipe.ensure_docker_chains).
        and (firewalld == "stopped-no-restart" or found.get("docker_chains") == "yes")
    )


def inspect(conn: Any) -> tuple[ProvisionReport, dict[str, Any]]:
    """What a machine is now, changing nothing: its report, and the cell it was
    provisioned as (empty if it never was)."""
    found = facts(conn)
    return report_of(found, found.marker, "", False, []), found.marker


def report_of(
    found: Facts, marker: dict[str, Any], recipe: str, changed: bool, steps: list[str]
) -> ProvisionReport:
    real = found.versions.get("docker", "")
    if marker.get("stood_in"):
        docker = Layer(real=False, what=marker["stood_in"])
    elif marker.get("tarball_sha256"):
        docker = Layer(
            True, f"Docker {real} (static binaries, sha256 {marker['tarball_sha256'][:12]})"
        )
    else:
        source = marker.get("docker_source") or "packaged"
        docker = Layer(True, f"Docker {real} ({source})" if real else "Docker is not running")
    return ProvisionReport(
        os=found.get("os_name"),
        recipe=recipe,
        changed=changed,
        docker=docker,
        firewalld=firewalld_layer(found),
        versions=found.versions,
        probe_image=marker.get("probe_image", ""),
        steps=steps,
    )


def firewalld_layer(f: Facts) -> Layer:
    version = f.get("firewalld")
    if not version:
        return Layer(real=True, what="firewalld is not installed")
    backend = f.get("firewalld_backend") or "default"
    state = "running" if f.get("firewalld_active") == "active" else "stopped"
    return Layer(real=True, what=f"firewalld {version} ({backend} backend), {state}")


def ensure_probe_image(recipe: Recipe, known: str = "") -> tuple[str, bool]:
    """The probe image, made from the machine's own busybox and libraries."""
    if known and recipe.ok(f"docker image inspect {shlex.quote(known)}"):
        return known, False
    data = probe_image.build(probe_image.remote_reader(recipe.conn))
    tag = probe_image.tag_for(data)
    if recipe.ok(f"docker image inspect {shlex.quote(tag)}"):
        return tag, False
    recipe.log(f"importing probe image {tag} (from the machine's own busybox and libraries)")
    remote = "/tmp/fwlab-probe.tar"
    recipe.conn.put(io.BytesIO(data), remote)
    recipe.sh(f"docker import {remote} {tag}")
    recipe.sh(f"rm -f {remote}")
    return tag, True


__all__ = [
    "MARKER", "ProvisionError", "ProvisionReport", "facts", "inspect", "pick_recipe", "provision",
]  # fmt: skip
