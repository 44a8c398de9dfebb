"""Debian: Debian's own docker.io, and the 19.03 stand-in.

- `distro`: whatever docker.io the release ships (20.10 on bullseye and bookworm, 26.1
  on trixie, 28.5 on sid), the real thing.
- `20.10`: the same, on the releases that ship 20.10.
- `19.03`: stood in. No Docker 19.03 exists for Debian here. What made 19.03 break on
  CentOS 8 is that it never told firewalld about its bridges; 20.10 puts them in a zone
  named `docker` (moby/libnetwork#2548). So "19.03" is the release's docker.io with its
  firewalld integration cut off: dockerd is started with a D-Bus address where no bus
  exists, never sees firewalld, and its bridges stay in no zone across docker restarts.
  That is 19.03's network behaviour, not the 19.03 binary, and every report says so.
"""

from __future__ import annotations

import re
from typing import ClassVar

from harness.provision.base import ProvisionError, Recipe

DROP_IN = "/etc/systemd/system/docker.service.d/fwlab-no-firewalld.conf"
DROP_IN_TEXT = """\
# fwlab: stand in for Docker 19.03's network behaviour. dockerd cannot reach
# D-Bus, so it never puts its bridges into firewalld's `docker` zone.
[Service]
Environment=DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/fwlab-no-dbus
"""
DOCKER_ZONE_FILE = "/etc/firewalld/zones/docker.xml"


def stood_in_19_03(real: str) -> str:
    return (
        f"Debian's docker.io {real or '(version unknown)'} stands in for Docker 19.03: its "
        "firewalld integration is cut off (dockerd cannot reach D-Bus), so its bridges stay "
        "in no firewalld zone, as 19.03's did. It reproduces 19.03's network behaviour, not "
        "the 19.03 binary; unlike 19.03, after `firewall-cmd --reload` its rules stay gone "
        "until docker restarts (on firewalld before 2.0)."
    )


class DebianRecipe(Recipe):
    os_ids: ClassVar[tuple[str, ...]] = ("debian",)
    docker_source: ClassVar[str] = "Debian's docker.io"

    def stood_in(self, version: str, real: str) -> str | None:
        return stood_in_19_03(real) if version == "19.03" else None

    def install_docker(self, version: str) -> bool:
        if version not in ("19.03", "20.10", "distro"):
            raise ProvisionError(
                f"unknown docker version {version!r} (Debian: 19.03, 20.10, distro)"
            )
        changed = self.ensure_docker_packages()
        real = self.sh("dpkg-query -W -f='${Version}' docker.io").stdout.strip()
        if version == "20.10" and not re.match(r"^20\.10[.+~-]", real):
            raise ProvisionError(
                f"this Debian's docker.io is {real}, not 20.10 (20.10 ships with bullseye and "
                "bookworm); use docker=distro for the version it ships"
            )
        if version == "19.03":
            changed |= self.cut_firewalld_integration()
        else:
            changed |= self.restore_firewalld_integration()
        if not self.ok("systemctl is-active --quiet docker"):
            self.log("starting docker")
            self.sh("systemctl enable --now docker")
            changed = True
        return changed

    def ensure_docker_packages(self) -> bool:
        """docker.io, and (from trixie on) the separate docker-cli package.

        docker-cli is installed only once docker.io is there and no CLI came with it:
        before trixie docker.io itself carries the CLI and there is no docker-cli package.
        """
        changed = False
        status = self.sh("dpkg-query -W -f='${Status}' docker.io", check=False).stdout
        if "install ok installed" not in status:
            self.log("installing docker.io")
            self.sh("apt-get install -y docker.io", timeout=900)
            changed = True
        if not self.ok("test -x /usr/bin/docker"):
            self.log("installing docker-cli (from trixie on, docker.io has no CLI)")
            self.sh("apt-get install -y docker-cli", timeout=900)
            changed = True
        return changed

    def ensure_busybox(self) -> bool:
        if self.ok("test -x /bin/busybox"):
            return False
        self.log("installing busybox-static (the probe image is made from it)")
        self.sh("apt-get install -y busybox-static", timeout=900)
        return True

    def cut_firewalld_integration(self) -> bool:
        has_drop_in = self.ok(f"test -f {DROP_IN}")
        has_zone = self.ok(f"test -f {DOCKER_ZONE_FILE}")
        if has_drop_in and not has_zone:
            return False
        self.log("19.03 stand-in: cutting dockerd off from firewalld")
        self.write_file(DROP_IN, DROP_IN_TEXT)
        self.sh("systemctl daemon-reload")
        # Docker must be down while the zone goes, or 20.10 re-adds it on reload.
        self.sh("systemctl stop docker docker.socket")
        self.sh(f"rm -f {DOCKER_ZONE_FILE}")
        if self.firewalld_active():
            self.sh("firewall-cmd --reload")
        self.sh("systemctl start docker")
        return True

    def restore_firewalld_integration(self) -> bool:
        if not self.ok(f"test -f {DROP_IN}"):
            return False
        self.log("giving dockerd back its firewalld integration")
        self.sh(f"rm -f {DROP_IN}")
        self.sh("systemctl daemon-reload")
        self.restart_docker()
        return True
