"""The probe image: busybox plus just enough of the C library to resolve names, with no
registry.

It is made from the **lab machine's own files** (its OS release's busybox and libraries,
read over the machine's SSH connection), never from the host that runs fwlab: a static
busybox resolves names by loading the NSS modules of the glibc it was built with, and
only the machine's own release is sure to have the matching ones. Built as a
deterministic tar (same files in, same bytes out) and `docker import`ed on the machine.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import tarfile
from pathlib import Path
from typing import Callable

from harness.errors import FwlabError

Reader = Callable[[str], "bytes | None"]  # absolute path on the machine -> its bytes

BUSYBOX = ("/bin/busybox", "/usr/bin/busybox", "/sbin/busybox", "/usr/sbin/busybox")
LIBS = (
    # Debian and Ubuntu (multiarch), before and after the /usr merge
    "/lib64/ld-linux-x86-64.so.2",
    "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib/x86_64-linux-gnu/libm.so.6",
    "/lib/x86_64-linux-gnu/libresolv.so.2",
    "/lib/x86_64-linux-gnu/libnss_dns.so.2",
    "/lib/x86_64-linux-gnu/libnss_files.so.2",
    # CentOS, RHEL and their rebuilds
    "/lib64/libc.so.6",
    "/lib64/libm.so.6",
    "/lib64/libresolv.so.2",
    "/lib64/libnss_dns.so.2",
    "/lib64/libnss_files.so.2",
)
REQUIRED_LIBS = ("libc.so.6",)
APPLETS = ("sh", "wget", "ping", "httpd", "nc", "sleep", "timeout", "nslookup", "cat",
           "echo", "ip", "hostname", "true", "ls")  # fmt: skip
SERVER_PAGE = "fwlab-c2c\n"  # what a c2c probe looks for
#: The user-defined network the checks use. Made at provisioning time, before
#: firewalld's state is applied: in the stopped-no-restart state Docker can no
#: longer create networks (its iptables chains are gone), as on the seed's VM.
PROBE_NETWORK = "fwlab-net"
FILES = {
    "etc/nsswitch.conf": "hosts: files dns\n",
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
    "etc/group": "root:x:0:\n",
    "www/index.html": SERVER_PAGE,
}


class LocalRoot:
    """Files of a machine's root filesystem seen from here (e.g. the nspawn image);
    symlinks are followed inside the root, never into the host's own files."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def __call__(self, path: str) -> bytes | None:
        current = posixpath.normpath("/" + path.lstrip("/"))  # no `..` can climb out
        for _ in range(40):  # symlink hops
            # Parent directories first (/lib -> usr/lib after the /usr merge): once none of
            # them is a link, the host's own lookup of the path cannot leave the root.
            parent = self._resolve_dirs(current)
            if parent != current:
                current = parent
                continue
            host_path = self.root / current.lstrip("/")
            if host_path.is_symlink():
                target = str(host_path.readlink())  # an absolute target replaces the dirname
                current = posixpath.normpath(posixpath.join(posixpath.dirname(current), target))
                continue
            return host_path.read_bytes() if host_path.is_file() else None
        return None

    def _resolve_dirs(self, path: str) -> str:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            prefix = self.root / "/".join(parts[:i])
            if prefix.is_symlink():
                target = str(prefix.readlink())
                base = (
                    target if target.startswith("/") else "/" + "/".join(parts[: i - 1] + [target])
                )
                return posixpath.normpath(posixpath.join(base, *parts[i:]))
        return path


def remote_reader(conn: object) -> Reader:
    """Files of a machine over its SSH connection (a Fabric Connection), via SFTP."""
    sftp = conn.sftp()  # type: ignore[attr-defined]

    def read(path: str) -> bytes | None:
        try:
            with sftp.open(path, "rb") as f:
                return f.read()
        except OSError:
            return None

    return read


def build(read: Reader) -> bytes:
    """A deterministic tar of the probe image, from a machine's own files."""
    busybox = next((data for path in BUSYBOX if (data := read(path)) is not None), None)
    if busybox is None:
        raise FwlabError(
            "the lab machine has no busybox (/bin/busybox): install it there (Debian: "
            "busybox-static; CentOS: busybox from EPEL); the probe image is made from it"
        )
    libs = {path: data for path in LIBS if (data := read(path)) is not None}
    for lib in REQUIRED_LIBS:
        if not any(path.endswith("/" + lib) for path in libs):
            raise FwlabError(f"the lab machine has no {lib}; the probe image needs it")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:

        def add(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))

        dirs = {"bin", "etc", "tmp", "www"}
        for path in libs:
            dirs |= {str(parent) for parent in Path(path.lstrip("/")).parents if str(parent) != "."}
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        add("bin/busybox", busybox, 0o755)
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, "busybox", 0
            tar.addfile(info)
        for path in sorted(libs):
            add(path.lstrip("/"), libs[path], 0o755)
        for name, text in FILES.items():
            add(name, text.encode())
    return buf.getvalue()


def tag_for(data: bytes) -> str:
    return f"fwlab/probe:{hashlib.sha256(data).hexdigest()[:12]}"
