"""The published-ports lab's scenario: a published container port, a plain listener on
the machine, and (in one cell) firewalld's StrictForwardPorts."""

import shlex

import pytest

HOST_PORT = 9090
HOST_PAGE = "fwlab-host"


@pytest.fixture(scope="session", autouse=True)
def strict_forward_ports(machine, cell):
    """StrictForwardPorts=yes in firewalld.conf, then firewalld and docker restarted."""
    if cell is None or cell.get("strict") != "yes":
        return
    conf = "/etc/firewalld/firewalld.conf"
    for command in (
        f"sed -i 's/^StrictForwardPorts=.*/StrictForwardPorts=yes/' {conf}",
        f"grep -q '^StrictForwardPorts=yes' {conf}",
        "systemctl restart firewalld",
        "systemctl restart docker",
    ):
        out = machine.run(command)
        assert out.rc == 0, f"`{command}` failed: {(out.stderr or out.stdout).strip()}"


@pytest.fixture(scope="session")
def listeners(scaffold, machine, strict_forward_ports):
    """A container on 8080, published on all addresses; a plain listener on 9090."""
    scaffold.server("published", publish="8080:8080")
    script = (
        f"mkdir -p /run/fwlab-host && echo {HOST_PAGE} > /run/fwlab-host/index.html && "
        f"busybox httpd -p {HOST_PORT} -h /run/fwlab-host"
    )
    out = machine.run(f"sh -c {shlex.quote(script)}")
    assert out.rc == 0, f"could not start the host's listener: {out.stderr.strip()}"
    yield scaffold
    machine.run(f"pkill -f 'busybox httpd -p {HOST_PORT}'; rm -rf /run/fwlab-host")
