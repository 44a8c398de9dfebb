"""Does dockerd start, and where is docker0?"""

import shlex

WAIT = 30  # seconds: systemd restarts a failing dockerd every 2 s


def test_docker_starts(machine, observe, zone_scenario):
    """dockerd is running after the restart (its own error read from the journal if not)."""
    journal = f"journalctl -u docker --no-pager -o cat --since @{zone_scenario}"
    script = (
        f"for i in $(seq {WAIT * 2}); do systemctl is-active -q docker && exit 0; "
        f"{journal} | grep -q ZONE_CONFLICT && exit 3; sleep 0.5; done; exit 1"
    )
    waited = machine.run(f"sh -c {shlex.quote(script)}")
    if waited.rc == 0 and machine.service("docker").is_running:
        observe.passed("dockerd is running")
        return
    said = machine.run(f"{journal} | grep -E 'failed to start daemon|ZONE_CONFLICT' | tail -1")
    error = (
        said.stdout.strip()
        or f"dockerd is {machine.run('systemctl is-active docker').stdout.strip()}"
    )
    observe.blocked("zone-conflict" if "ZONE_CONFLICT" in error else "daemon-failed", error)


def test_docker0_in_docker_zone(machine):
    """docker0 sits in the zone Docker made for it, `docker`."""
    zone = machine.run("firewall-cmd --get-zone-of-interface=docker0").stdout.strip()
    assert zone == "docker", f"docker0 is in zone {zone or '(none)'}"
