"""The probe image: busybox plus just enough glibc to resolve names, with no registry.

It is built on the controller from the host's static busybox and NSS libraries
(the same Debian release, so they agree), then uploaded and `docker import`ed
on the lab machine: one path for every kind of machine.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

from harness.errors import FwlabError

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
LIBS = (
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib/x86_64-linux-gnu/libnss_dns.so.2",
    "/lib/x86_64-linux-gnu/libnss_files.so.2",
    "/lib/x86_64-linux-gnu/libresolv.so.2",
    "/lib64/ld-linux-x86-64.so.2",
)
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


def _busybox() -> Path:
    for candidate in BUSYBOX_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise FwlabError("busybox-static is not installed on this host (run ./scripts/run setup)")


def build() -> bytes:
    """A deterministic tar of the probe image (same inputs, same bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:

        def add(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))

        def add_dir(name: str) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)

        for d in ("bin", "etc", "lib", "lib/x86_64-linux-gnu", "lib64", "tmp", "www"):
            add_dir(d)
        add("bin/busybox", _busybox().read_bytes(), 0o755)
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, "busybox", 0
            tar.addfile(info)
        for lib in LIBS:
            path = Path(lib)
            if not path.exists():
                raise FwlabError(f"{lib} is missing on this host; the probe image needs it")
            add(lib.lstrip("/"), path.resolve().read_bytes(), 0o755)
        for name, text in FILES.items():
            add(name, text.encode())
    return buf.getvalue()


def tag_for(data: bytes) -> str:
    return f"fwlab/probe:{hashlib.sha256(data).hexdigest()[:12]}"
