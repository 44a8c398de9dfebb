"""harness.provision.probe_image: the busybox probe image, built from the host's files."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest

from harness.errors import FwlabError
from harness.provision import probe_image
from harness.provision.probe_image import APPLETS, FILES, LIBS, build, tag_for

HAVE_INPUTS = any(Path(p).is_file() for p in probe_image.BUSYBOX_CANDIDATES) and all(
    Path(lib).exists() for lib in LIBS
)
needs_inputs = pytest.mark.skipif(
    not HAVE_INPUTS, reason="needs busybox-static and the x86_64 glibc NSS libraries"
)


@pytest.fixture(scope="module")
def image() -> bytes:
    if not HAVE_INPUTS:
        pytest.skip("needs busybox-static and the x86_64 glibc NSS libraries")
    return build()


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def read(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


@needs_inputs
def test_build_is_deterministic(image: bytes) -> None:
    again = build()
    assert again == image
    assert tag_for(again) == tag_for(image)


def test_busybox_and_applets(image: bytes) -> None:
    found = members(image)
    busybox = found["bin/busybox"]
    assert busybox.isfile()
    assert busybox.mode == 0o755
    assert busybox.size > 0
    for applet in ("wget", "ping", "httpd", "timeout", "sh", "nslookup"):
        link = found[f"bin/{applet}"]
        assert link.issym(), applet
        assert link.linkname == "busybox"
    assert set(APPLETS) <= {n.removeprefix("bin/") for n, m in found.items() if m.issym()}


def test_nss_libraries(image: bytes) -> None:
    found = members(image)
    for lib in (
        "lib/x86_64-linux-gnu/libc.so.6",
        "lib/x86_64-linux-gnu/libnss_dns.so.2",
        "lib/x86_64-linux-gnu/libnss_files.so.2",
        "lib/x86_64-linux-gnu/libresolv.so.2",
        "lib64/ld-linux-x86-64.so.2",
    ):
        # Symlinks on the host (ld.so usually is one) go in as the real file.
        assert found[lib].isfile(), lib
        assert found[lib].size > 0
        assert read(image, lib) == Path("/" + lib).resolve().read_bytes()


def test_files(image: bytes) -> None:
    assert read(image, "etc/nsswitch.conf") == b"hosts: files dns\n"
    assert read(image, "www/index.html") == b"fwlab-c2c\n"
    assert read(image, "etc/passwd").startswith(b"root:x:0:0:")
    assert set(FILES) <= set(members(image))


def test_folders_and_reproducible_metadata(image: bytes) -> None:
    found = members(image)
    for folder in ("bin", "etc", "lib", "lib/x86_64-linux-gnu", "lib64", "tmp", "www"):
        assert found[folder].isdir(), folder
    for member in found.values():
        assert member.mtime == 0, member.name
        assert (member.uid, member.gid) == (0, 0), member.name
    # Folders come before what they hold, so `docker import` sees them first.
    names = list(found)
    assert names.index("bin") < names.index("bin/busybox")


def test_tag_for(image: bytes) -> None:
    tag = tag_for(image)
    assert tag.startswith("fwlab/probe:")
    assert re.fullmatch(r"fwlab/probe:[0-9a-f]{12}", tag)


def test_tag_for_follows_the_bytes() -> None:
    assert tag_for(b"a") == tag_for(b"a")
    assert tag_for(b"a") != tag_for(b"b")
    assert tag_for(b"").startswith("fwlab/probe:")


def test_missing_busybox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(probe_image, "BUSYBOX_CANDIDATES", (str(tmp_path / "no-busybox"),))
    with pytest.raises(FwlabError, match="busybox-static is not installed"):
        build()


def test_missing_library(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF fake")
    monkeypatch.setattr(probe_image, "BUSYBOX_CANDIDATES", (str(busybox),))
    missing = str(tmp_path / "libnss_missing.so.2")
    monkeypatch.setattr(probe_image, "LIBS", (missing,))
    with pytest.raises(FwlabError, match="libnss_missing.so.2 is missing on this host"):
        build()


def test_build_from_fake_inputs_is_deterministic(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Runs on any host: fake busybox and libraries, same checks on the result."""
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF busybox")
    lib = tmp_path / "lib" / "x86_64-linux-gnu" / "libc.so.6"
    lib.parent.mkdir(parents=True)
    lib.write_bytes(b"\x7fELF libc")
    monkeypatch.setattr(probe_image, "BUSYBOX_CANDIDATES", (str(tmp_path / "none"), str(busybox)))
    monkeypatch.setattr(probe_image, "LIBS", (str(lib),))
    first = build()
    assert build() == first
    found = members(first)
    assert read(first, "bin/busybox") == b"\x7fELF busybox"
    assert read(first, str(lib).lstrip("/")) == b"\x7fELF libc"
    assert found["bin/wget"].linkname == "busybox"
    assert read(first, "etc/nsswitch.conf") == b"hosts: files dns\n"
