"""harness.provision.probe_image: the busybox probe image, built from the LAB MACHINE's files.

Every test here builds from fake machine root folders (fake busybox and C library
bytes), so it runs on any host, needs no root, and never looks at the host's /lib.
"""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest

from harness.errors import FwlabError
from harness.provision.probe_image import (
    APPLETS,
    FILES,
    LocalRoot,
    build,
    remote_reader,
    tag_for,
)
from tests.unit.scripted_remote import FakeSFTP

#: The lab OS's own files (what a Debian machine has), as fake bytes.
BUSYBOX = b"\x7fELF busybox 1.35.0 (Debian 1:1.35.0-4+b3)"
LIBC = b"\x7fELF glibc 2.36 libc.so.6"
LD_SO = b"\x7fELF glibc 2.36 ld-linux-x86-64.so.2"
LIBM = b"\x7fELF glibc 2.36 libm.so.6"
LIBRESOLV = b"\x7fELF glibc 2.36 libresolv.so.2"
NSS_DNS = b"\x7fELF glibc 2.36 libnss_dns.so.2"
NSS_FILES = b"\x7fELF glibc 2.36 libnss_files.so.2"
MULTIARCH = {
    "libc.so.6": LIBC,
    "ld-linux-x86-64.so.2": LD_SO,
    "libm.so.6": LIBM,
    "libresolv.so.2": LIBRESOLV,
    "libnss_dns.so.2": NSS_DNS,
    "libnss_files.so.2": NSS_FILES,
}
#: Where the lab machine's libc may live on the HOST that runs the tests.
HOST_LIBCS = ("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6",
              "/lib64/libc.so.6")  # fmt: skip


def put(root: Path, name: str, data: bytes) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def link(root: Path, name: str, target: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def merged_root(root: Path, libc: bytes = LIBC) -> Path:
    """A Debian root after the /usr merge: /bin, /lib, /lib64 are links into /usr, and
    /lib64's ld.so is an ABSOLUTE link (as Debian ships it), meant inside the root."""
    for top in ("bin", "sbin", "lib", "lib64"):
        link(root, top, f"usr/{top}")
    put(root, "usr/bin/busybox", BUSYBOX)
    for name, data in {**MULTIARCH, "libc.so.6": libc}.items():
        put(root, f"usr/lib/x86_64-linux-gnu/{name}", data)
    link(root, "usr/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    return root


def split_root(root: Path) -> Path:
    """The same lab-OS files laid out the old way: real /bin and /lib folders, versioned
    library files behind relative links, and /lib64's ld.so an absolute link."""
    put(root, "bin/busybox", BUSYBOX)
    for name, data in MULTIARCH.items():
        versioned = re.sub(r"\.so\.\d+$", "-2.36.so", name).replace("ld-linux-x86-64", "ld")
        put(root, f"lib/x86_64-linux-gnu/{versioned}", data)
        link(root, f"lib/x86_64-linux-gnu/{name}", versioned)
    link(root, "lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-2.36.so")
    return root


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return build(LocalRoot(merged_root(tmp_path_factory.mktemp("bookworm"))))


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def read(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


# -- the image's content ------------------------------------------------------------
def test_busybox_and_applets(image: bytes) -> None:
    found = members(image)
    busybox = found["bin/busybox"]
    assert busybox.isfile()
    assert busybox.mode == 0o755
    assert read(image, "bin/busybox") == BUSYBOX
    for applet in ("wget", "ping", "httpd", "timeout", "sh", "nslookup"):
        link_ = found[f"bin/{applet}"]
        assert link_.issym(), applet
        assert link_.linkname == "busybox"
    assert set(APPLETS) <= {n.removeprefix("bin/") for n, m in found.items() if m.issym()}


def test_nss_libraries_come_from_the_machine(image: bytes) -> None:
    found = members(image)
    expected = {f"lib/x86_64-linux-gnu/{name}": data for name, data in MULTIARCH.items()}
    expected["lib64/ld-linux-x86-64.so.2"] = LD_SO
    for lib, data in expected.items():
        # Links on the machine (ld.so always is one) go in as the real file.
        assert found[lib].isfile(), lib
        assert read(image, lib) == data, lib
    # The CentOS paths do not exist on this machine and are left out.
    assert "lib64/libc.so.6" not in found


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
    assert names.index("lib/x86_64-linux-gnu") < names.index("lib/x86_64-linux-gnu/libc.so.6")


def test_centos_layout(tmp_path: Path) -> None:
    """CentOS 8: busybox from EPEL in /usr/sbin (/sbin a link to it), libraries in /lib64."""
    link(tmp_path, "sbin", "usr/sbin")
    link(tmp_path, "lib64", "usr/lib64")
    put(tmp_path, "usr/sbin/busybox", BUSYBOX)
    for name in ("libc.so.6", "libm.so.6", "libresolv.so.2", "libnss_dns.so.2"):
        put(tmp_path, f"usr/lib64/{name}", MULTIARCH[name])
    put(tmp_path, "usr/lib64/ld-2.28.so", LD_SO)
    link(tmp_path, "usr/lib64/ld-linux-x86-64.so.2", "ld-2.28.so")
    data = build(LocalRoot(tmp_path))
    found = members(data)
    assert read(data, "bin/busybox") == BUSYBOX
    assert read(data, "lib64/libc.so.6") == LIBC
    assert read(data, "lib64/ld-linux-x86-64.so.2") == LD_SO
    assert not any(name.startswith("lib/") for name in found)


# -- the proof: the image depends on the lab machine's files only --------------------
def test_image_depends_only_on_the_lab_machines_files_never_the_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe image does not depend on the host's libraries.

    Two DIFFERENT root folders holding the same lab-OS files (one after the /usr merge,
    one with real /lib and versioned files behind links) give byte-identical images and
    the same tag; a third root whose links all point at absolute paths that exist on
    the host too (`/usr/lib/x86_64-linux-gnu/libc.so.6`, `/usr/lib64`) still gives the
    same image: every link is resolved INSIDE the root. Every file actually read is
    recorded and lies inside its root, and the host's own libc bytes are nowhere in
    the image. A root with another libc gives another image and another tag.
    """
    reads: list[Path] = []
    real_read_bytes = Path.read_bytes

    def spy(self: Path) -> bytes:
        reads.append(self)
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", spy)

    merged = merged_root(tmp_path / "merged")
    split = split_root(tmp_path / "split")
    # Links aimed at the host's own library paths, absolute as Debian writes them.
    host_aimed = tmp_path / "host-aimed"
    link(host_aimed, "lib64", "/usr/lib64")
    link(host_aimed, "lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6")
    for name, data in MULTIARCH.items():
        put(host_aimed, f"usr/lib/x86_64-linux-gnu/{name}", data)
        if name != "libc.so.6":
            link(host_aimed, f"lib/x86_64-linux-gnu/{name}", f"/usr/lib/x86_64-linux-gnu/{name}")
    link(host_aimed, "usr/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    put(host_aimed, "usr/bin/busybox", BUSYBOX)
    link(host_aimed, "bin", "/usr/bin")

    images = {}
    for root in (merged, split, host_aimed):
        reads.clear()
        images[root.name] = build(LocalRoot(root))
        assert reads, root.name
        for path in reads:
            assert path.resolve().is_relative_to(root.resolve()), (root.name, path)

    assert images["merged"] == images["split"] == images["host-aimed"]
    assert len({tag_for(data) for data in images.values()}) == 1
    assert read(images["host-aimed"], "lib/x86_64-linux-gnu/libc.so.6") == LIBC
    for host_libc in map(Path, HOST_LIBCS):
        if host_libc.is_file():
            assert real_read_bytes(host_libc) not in images["host-aimed"], host_libc

    other = build(LocalRoot(merged_root(tmp_path / "other-libc", libc=b"\x7fELF glibc 2.41")))
    assert other != images["merged"]
    assert tag_for(other) != tag_for(images["merged"])
    assert read(other, "lib/x86_64-linux-gnu/libc.so.6") == b"\x7fELF glibc 2.41"


def test_a_folder_link_that_climbs_out_of_the_root_stays_inside(tmp_path: Path) -> None:
    """`lib -> ../outside/lib` would take the host's own lookup out of the root, where
    a decoy link waits: inside the root it means /outside/lib, and the decoy is never
    consulted. (Host-independent: the "outside" is a folder of our own.)"""
    root = tmp_path / "root"
    link(tmp_path, "outside/lib/x86_64-linux-gnu/libc.so.6", "/decoy/libc.so.6")
    put(root, "bin/busybox", BUSYBOX)
    link(root, "lib", "../outside/lib")
    put(root, "outside/lib/x86_64-linux-gnu/libc.so.6", LIBC)
    put(root, "decoy/libc.so.6", b"decoy libc")
    reader = LocalRoot(root)
    assert reader("/lib/x86_64-linux-gnu/libc.so.6") == LIBC
    assert read(build(reader), "lib/x86_64-linux-gnu/libc.so.6") == LIBC


def test_local_root_answers_none_for_what_is_not_a_file(tmp_path: Path) -> None:
    root = merged_root(tmp_path)
    link(root, "loop/a", "b")
    link(root, "loop/b", "a")
    reader = LocalRoot(root)
    assert reader("/lib/x86_64-linux-gnu/libnss_mdns.so.2") is None  # missing
    assert reader("/lib/x86_64-linux-gnu") is None  # a folder
    assert reader("/loop/a") is None  # a link loop
    assert reader("/../../lib/x86_64-linux-gnu/libc.so.6") == LIBC  # `..` stops at /
    assert reader("lib64/ld-linux-x86-64.so.2") == LD_SO  # relative means from /


def test_remote_reader_reads_over_sftp(tmp_path: Path) -> None:
    put(tmp_path, "bin/busybox", BUSYBOX)
    sftp = FakeSFTP(tmp_path)

    class Conn:
        def sftp(self) -> FakeSFTP:
            return sftp

    reader = remote_reader(Conn())
    assert reader("/bin/busybox") == BUSYBOX
    assert reader("/usr/bin/busybox") is None  # the SFTP error means: not there
    assert sftp.opened == ["/bin/busybox", "/usr/bin/busybox"]


# -- a machine without what the image needs ------------------------------------------
def test_missing_busybox(tmp_path: Path) -> None:
    root = merged_root(tmp_path)
    (root / "usr/bin/busybox").unlink()
    with pytest.raises(FwlabError, match=r"the lab machine has no busybox \(/bin/busybox\)"):
        build(LocalRoot(root))


def test_missing_libc(tmp_path: Path) -> None:
    root = merged_root(tmp_path)
    (root / "usr/lib/x86_64-linux-gnu/libc.so.6").unlink()
    with pytest.raises(FwlabError, match=r"the lab machine has no libc\.so\.6"):
        build(LocalRoot(root))


def test_an_empty_root_misses_busybox_first(tmp_path: Path) -> None:
    with pytest.raises(FwlabError, match="busybox"):
        build(LocalRoot(tmp_path))


# -- determinism and the tag ------------------------------------------------------------
def test_build_is_deterministic(image: bytes, tmp_path: Path) -> None:
    again = build(LocalRoot(merged_root(tmp_path)))
    assert again == image
    assert tag_for(again) == tag_for(image)


def test_build_from_any_reader(image: bytes) -> None:
    """A reader is any callable: absolute path on the machine -> bytes, or None."""
    files = {"/bin/busybox": BUSYBOX, "/lib64/ld-linux-x86-64.so.2": LD_SO}
    files |= {f"/lib/x86_64-linux-gnu/{name}": data for name, data in MULTIARCH.items()}
    assert build(files.get) == image


def test_tag_for(image: bytes) -> None:
    assert re.fullmatch(r"fwlab/probe:[0-9a-f]{12}", tag_for(image))


def test_tag_for_follows_the_bytes() -> None:
    assert tag_for(b"a") == tag_for(b"a")
    assert tag_for(b"a") != tag_for(b"b")
    assert tag_for(b"").startswith("fwlab/probe:")
