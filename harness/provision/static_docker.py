"""Real Docker binaries from Docker's static tarball (download.docker.com/linux/static).

Where a machine's package manager has no Docker 19.03 (Debian here), the real 19.03
binaries can still run: `fwlab provision --docker 19.03 --docker-tarball
docker-19.03.15.tgz --docker-sha256 ...`. The cell is then real, not stood in.

The tarball is read on the controller (a local path, or a URL: http, https or file),
checked against its sha256 before anything reaches the machine, checked again after
upload, unpacked to /opt/fwlab/docker-<sha12>, and wired in with systemd drop-ins
for containerd and docker. Its dockerd must report the requested version.
"""

from __future__ import annotations

import hashlib
import io
import re
import shlex
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from harness.provision.base import ProvisionError, Recipe

DOCKER_DROP_INS = "/etc/systemd/system/docker.service.d"
CONTAINERD_DROP_INS = "/etc/systemd/system/containerd.service.d"
DROP_IN_NAME = "fwlab-static.conf"
UPLOAD = "/tmp/fwlab-docker-static.tgz"
#: Binaries Docker's static tarball carries, under a top-level docker/ folder.
REQUIRED = ("dockerd", "docker", "containerd", "runc")


@dataclass(frozen=True)
class StaticDocker:
    data: bytes
    sha256: str
    source: str

    @property
    def dest(self) -> str:
        return f"/opt/fwlab/docker-{self.sha256[:12]}"


def fetch(source: str, sha256: str) -> StaticDocker:
    """Read the tarball on the controller and verify it; nothing else happens on failure."""
    if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise ProvisionError("--docker-sha256 must be 64 hex digits")
    try:
        if re.match(r"^(https?|file)://", source):
            with urllib.request.urlopen(source, timeout=60) as response:  # noqa: S310
                data = response.read()
        else:
            data = Path(source).read_bytes()
    except OSError as exc:
        raise ProvisionError(f"cannot read the Docker tarball {source}: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256.lower():
        raise ProvisionError(f"{source} has sha256 {actual}, expected {sha256.lower()}")
    return StaticDocker(data, actual, source)


def drop_ins(dest: str) -> dict[str, str]:
    """systemd drop-ins that run containerd and dockerd from dest (helpers found via PATH)."""
    path = f"Environment=PATH={dest}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return {
        f"{CONTAINERD_DROP_INS}/{DROP_IN_NAME}": (
            f"# fwlab: containerd from Docker's static tarball\n[Service]\n{path}\n"
            f"ExecStartPre=\nExecStart=\nExecStart={dest}/containerd\n"
        ),
        f"{DOCKER_DROP_INS}/{DROP_IN_NAME}": (
            f"# fwlab: dockerd from Docker's static tarball\n[Service]\n{path}\nExecStart=\n"
            f"ExecStart={dest}/dockerd -H fd:// --containerd=/run/containerd/containerd.sock\n"
        ),
    }


def install(recipe: Recipe, tarball: StaticDocker, version: str) -> bool:
    """Make the tarball's binaries the running Docker. Returns True if anything changed."""
    wanted = drop_ins(tarball.dest)
    if all(_has(recipe, path, text) for path, text in wanted.items()) and recipe.ok(
        f"test -x {tarball.dest}/dockerd"
    ):
        return _ensure_running(recipe)
    recipe.log(f"installing Docker from {tarball.source} into {tarball.dest}")
    recipe.conn.put(io.BytesIO(tarball.data), UPLOAD)
    try:
        uploaded = recipe.sh(f"sha256sum {UPLOAD}").stdout.split()[0]
        if uploaded != tarball.sha256:
            raise ProvisionError(f"upload damaged: sha256 {uploaded} on the machine")
        recipe.sh(f"mkdir -p {tarball.dest}")
        recipe.sh(f"tar -xf {UPLOAD} -C {tarball.dest} --strip-components=1")
    finally:
        recipe.sh(f"rm -f {UPLOAD}", check=False)
    missing = [b for b in REQUIRED if not recipe.ok(f"test -x {tarball.dest}/{b}")]
    reported = recipe.sh(f"{tarball.dest}/dockerd --version", check=False).stdout.strip()
    if missing or not re.search(rf"version {re.escape(version)}[.+~-]", reported):
        recipe.sh(f"rm -rf {tarball.dest}")
        why = f"lacks {', '.join(missing)}" if missing else f"says {reported!r}"
        raise ProvisionError(f"{tarball.source} is not Docker {version}: its dockerd {why}")
    # Another fwlab drop-in (e.g. the 19.03 stand-in's) would change real binaries' behaviour.
    recipe.sh(
        f"find {DOCKER_DROP_INS} -name 'fwlab-*.conf' ! -name {DROP_IN_NAME} -delete", check=False
    )
    for path, text in wanted.items():
        recipe.write_file(path, text)
    recipe.sh("systemctl daemon-reload")
    recipe.sh("systemctl restart containerd")
    recipe.restart_docker()
    return True


def remove(recipe: Recipe) -> bool:
    """Go back to the packaged Docker if static binaries were wired in."""
    paths = [f"{CONTAINERD_DROP_INS}/{DROP_IN_NAME}", f"{DOCKER_DROP_INS}/{DROP_IN_NAME}"]
    if not any(recipe.ok(f"test -f {p}") for p in paths):
        return False
    recipe.log("going back to the packaged Docker")
    recipe.sh(f"rm -f {' '.join(paths)}")
    recipe.sh("systemctl daemon-reload")
    recipe.sh("systemctl restart containerd")
    recipe.restart_docker()
    return True


def _has(recipe: Recipe, path: str, text: str) -> bool:
    current = recipe.sh(f"cat {shlex.quote(path)}", check=False)
    return current.exited == 0 and current.stdout == text


def _ensure_running(recipe: Recipe) -> bool:
    if recipe.ok("systemctl is-active --quiet docker"):
        return False
    recipe.sh("systemctl start containerd docker")
    return True
