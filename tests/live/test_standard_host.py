"""Live, slow: fwlab on a standard host. In a Debian 11 VM (glibc 2.31, systemd 247 as PID 1,
a unified cgroup v2 hierarchy), fwlab is installed offline the way the README says and runs
the founding lab's 19.03 x on and 20.10 x on cells, as a CI runner would: from a systemd
service. Both must match all 8 checks with no change to the lab's expectations."""

from __future__ import annotations

import json

import pytest

from tests.live import stdhost

pytestmark = [pytest.mark.live, pytest.mark.slow]
CELLS = ("docker=19.03,firewalld=on", "docker=20.10,firewalld=on")


@pytest.fixture(scope="module")
def vm():  # type: ignore[no-untyped-def]
    machine, work = stdhost.started(print)
    yield machine
    machine.down()
    stdhost.remove_tree(work)


def test_the_vm_is_a_standard_host(vm) -> None:  # type: ignore[no-untyped-def]
    rc, out = vm.sh("ps -p 1 -o comm=; stat -fc %T /sys/fs/cgroup; ldd --version | head -1")
    assert rc == 0, out
    pid1, fs, libc = out.splitlines()[:3]
    assert pid1 == "systemd"
    assert fs == "cgroup2fs"  # unified hierarchy only
    assert libc.endswith("2.31")


def test_the_founding_cells_match_on_the_standard_host(vm) -> None:  # type: ignore[no-untyped-def]
    rc, out = vm.sh(
        "resize2fs /dev/vda >/dev/null && mkdir -p /mnt/payload /var/lib/fwlab/images "
        "&& mount -o ro /dev/vdb /mnt/payload && cp -a /mnt/payload/fwlab /root/fwlab "
        "&& cp -a /mnt/payload/images/. /var/lib/fwlab/images/",
        timeout=900,
    )
    assert rc == 0, out
    rc, out = vm.sh("cd /root/fwlab && FWLAB_WHEELS=/mnt/payload/wheels ./scripts/run setup", 1800)
    assert rc == 0, out[-3000:]
    cells = " ".join(f"--cells {c}" for c in CELLS)
    # As a CI runner starts a job: a transient systemd service, waited for.
    rc, out = vm.sh(
        "systemd-run --quiet --wait --pipe --collect --unit fwlab-ci "
        f"--working-directory=/root/fwlab /root/fwlab/.venv/bin/fwlab matrix {cells} --parallel 1 "
        "--json /root/matrix.json",
        timeout=3600,
    )
    report = vm.sh("cat /root/matrix.json")[1]
    assert rc == 0, out[-4000:] + "\n--- console ---\n" + vm.console_tail()
    matrix = json.loads(report)
    assert [c["label"] for c in matrix["cells"]] == [f"{c},os=bullseye" for c in CELLS]
    for cell in matrix["cells"]:
        assert cell["judgement"] == "match", cell
        assert len(cell["checks"]) == 8 and all(c["judgement"] == "match" for c in cell["checks"])
        assert cell["versions"]["os"] == "debian 11"
    rc, left = vm.sh("ls /var/lib/fwlab/labs; ip netns list")
    assert left.strip() == "", left  # nothing left behind on the standard host either
