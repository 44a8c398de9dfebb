"""One cell pipeline, for every command: up -> provision (or a state the provider kept)
-> check -> down.

`fwlab up`, `check`, `matrix`, `lab start` and `workshop up` all go through these
functions; what differs between providers (a cached layer, a snapshot) is the
provider's business, behind `Provider.up(..., provisioned=...)`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from harness.checks.runner import CheckRun, run_checks
from harness.errors import FwlabError, UsageError
from harness.labs import CellSpec, Lab
from harness.models import CellResult, CheckResult, Layer
from harness.providers import Machine, Provider
from harness.providers.base import Provisioning
from harness.provision import ProvisionReport, inspect, provision
from harness.provision.static_docker import StaticDocker

Say = Callable[[str], None]
#: Bump when what provisioning leaves on a machine changes: kept states are keyed by it.
PROVISION_VERSION = 1
#: firewalld states that are made live from another one (kept states hold that one).
LIVE_STATES = {"stopped-no-restart": "on"}

#: Set on Ctrl-C: cells still running skip to teardown at their next phase.
cancelled = threading.Event()


@dataclass(frozen=True)
class Recipe:
    """What a machine is provisioned into."""

    os: str
    docker: str
    firewalld: str
    tarball: StaticDocker | None = None
    axes: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def of(cls, lab: Lab, spec: CellSpec, tarball: StaticDocker | None = None) -> Recipe:
        r = lab.recipe(spec.cell)
        return cls(r["os"], r["docker"], r["firewalld"], tarball, spec.cell.as_dict())

    @property
    def key(self) -> str:
        """The state a provider may keep: a live state is kept as the one it is made from."""
        blob = {
            "os": self.os,
            "docker": self.docker,
            "firewalld": LIVE_STATES.get(self.firewalld, self.firewalld),
            "tarball": self.tarball.sha256 if self.tarball else "",
            "v": PROVISION_VERSION,
        }
        digest = hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.os}-{self.docker}-{blob['firewalld']}-{digest}"


def _provision(
    machine: Machine, recipe: Recipe, firewalld: str, say: Say | None
) -> ProvisionReport:
    assert machine.ssh is not None
    conn = machine.ssh.fabric()
    try:
        return provision(conn, recipe.docker, firewalld, log=say, tarball=recipe.tarball,
                         axes=recipe.axes)  # fmt: skip
    finally:
        conn.close()


def bring_up(
    provider: Provider,
    name: str,
    recipe: Recipe,
    say: Say | None = None,
    ephemeral: bool = True,
) -> tuple[Machine, ProvisionReport]:
    """A machine in the recipe's state. The provider may start from a state it kept for
    the recipe; provisioning then only looks (and makes a live state live). On failure
    the machine is taken down."""
    kept = Provisioning(
        recipe.key,
        lambda m: _provision(m, recipe, LIVE_STATES.get(recipe.firewalld, recipe.firewalld), say),
    )
    machine = provider.up(name, progress=say, ephemeral=ephemeral, release=recipe.os,
                          provisioned=kept)  # fmt: skip
    try:
        report = _provision(machine, recipe, recipe.firewalld, say)
    except BaseException:
        if say:
            say(f"provisioning did not finish: taking {name} down")
        provider.down(name)
        raise
    return machine, report


def fidelity(
    provider: Provider, name: str, lab: Lab | None, report: ProvisionReport
) -> dict[str, Layer]:
    stands_for = lab.stands_for if lab else "a lab machine"
    return {
        "machine": provider.machine_layer(name, stands_for),
        "firewalld": report.firewalld,
        "docker": report.docker,
    }


def check(
    provider: Provider,
    machine: Machine,
    lab: Lab,
    spec: CellSpec,
    judged: bool = True,
    only: list[str] | None = None,
    trace: bool = True,
    keep_scaffold: bool = False,
) -> list[CheckResult]:
    """Run the lab's tests against the machine, judged against the cell's expectations.
    keep_scaffold: leave the probe servers and clients running (the machine is kept, and
    the next run reuses them; or it is thrown away anyway)."""
    assert machine.ssh is not None and machine.ssh_config_path is not None
    run = CheckRun(
        lab=lab,
        cell=spec.cell,
        ssh_config=machine.ssh_config_path,
        alias=machine.ssh.alias,
        sudo=machine.ssh.user != "root",
        judged=judged,
        time_scale=provider.time_scale,
        outside=provider.outside(machine.name),
        trace=trace,
        only=only or [],
        keep_scaffold=keep_scaffold,
    )
    return run_checks(run)


@contextmanager
def _phase(result: CellResult, phase: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        result.timings[phase] = result.timings.get(phase, 0.0) + time.monotonic() - started


def run_cell(
    provider: Provider,
    lab: Lab,
    spec: CellSpec,
    name: str,
    judged: bool = True,
    keep: bool = False,
    update: Callable[[str, str], None] | None = None,
) -> CellResult:
    """One cell, start to end. Whatever goes wrong becomes this cell's error; the machine
    goes down in every case (Ctrl-C included) unless kept."""
    say = update or (lambda _cid, _msg: None)
    cid = spec.cell.label
    result = CellResult(cell=spec.cell, provider=provider.name, why=spec.why)
    made = False
    try:
        if cancelled.is_set():
            raise KeyboardInterrupt
        say(cid, f"up ({name})")
        with _phase(result, "up"):
            machine, report = bring_up(provider, name, Recipe.of(lab, spec))
        made = True
        result.fidelity = fidelity(provider, name, lab, report)
        result.versions = report.versions
        result.notes.append(
            f"{report.os}; recipe {report.recipe}; probe image {report.probe_image}"
        )
        if cancelled.is_set():
            raise KeyboardInterrupt
        say(cid, "checks")
        with _phase(result, "check"):
            result.checks = check(provider, machine, lab, spec, judged, keep_scaffold=True)
    except Exception as exc:  # any failure inside a cell is that cell's error
        result.error = _message(exc)
    finally:
        if made and not keep:
            say(cid, "down")
            with _phase(result, "down"):
                try:
                    provider.down(name)
                except Exception as exc:
                    result.error = result.error or f"teardown failed: {_message(exc)}"
        elif not made and provider.status(name).status != "absent":
            provider.down(name)
        say(cid, result.judgement)
    return result


def check_running(
    provider: Provider,
    name: str,
    lab: Lab,
    judged: bool = True,
    only: list[str] | None = None,
    trace: bool = True,
) -> CellResult:
    """The checks on a machine that is already up (`fwlab check`), judged against the cell
    it was provisioned as."""
    machine = provider.running(name)
    assert machine.ssh is not None
    conn = machine.ssh.fabric()
    try:
        report, marker = inspect(conn)
    finally:
        conn.close()
    if not marker:
        raise UsageError(f"lab {name} is not provisioned yet (fwlab provision {name})")
    spec = _spec_of(lab, marker)
    result = CellResult(cell=spec.cell, provider=provider.name, why=spec.why)
    result.fidelity = fidelity(provider, name, lab, report)
    result.versions = report.versions
    with _phase(result, "check"):
        result.checks = check(provider, machine, lab, spec, judged, only, trace, keep_scaffold=True)
    if not trace:
        result.notes.append("deciding rules not judged: the probes were not traced")
    return result


def _spec_of(lab: Lab, marker: dict) -> CellSpec:
    axes = {a: marker[a] for a in ("os", "docker", "firewalld") if marker.get(a)}
    axes.update(marker.get("axes") or {})
    known = set(lab.all_axes())
    text = ",".join(f"{k}={v}" for k, v in axes.items() if k in known)
    chosen = lab.select([text])
    default = [s for s in chosen if s in lab.cells]
    chosen = default or chosen
    if len(chosen) != 1:
        raise UsageError(
            f"the machine is {text}, which fits {len(chosen)} cells of {lab.name}; "
            "provision it through the lab (fwlab lab start, fwlab matrix --keep)"
        )
    return chosen[0]


def _message(exc: BaseException) -> str:
    if isinstance(exc, FwlabError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def free_name(provider: Provider) -> str:
    used = {m.name for m in provider.list()}
    n = 1
    while f"lab-{n}" in used:
        n += 1
    return f"lab-{n}"
