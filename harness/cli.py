"""The `fwlab` command line."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import click
from rich.console import Console

from harness.errors import FwlabError, UsageError
from harness.models import Cell
from harness.providers import DEFAULT_PROVIDER, PROVIDERS, Machine, Provider, get_provider
from harness.providers.base import join_reasons
from harness.provision.base import DOCKER_VERSIONS, FIREWALLD_STATES

if TYPE_CHECKING:
    from harness.provision.static_docker import StaticDocker

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def _sigterm_as_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # CI and `timeout` send SIGTERM: clean up as for Ctrl-C


def say(msg: str) -> None:
    console.print(f"[dim]·[/dim] {msg}")


provider_option = click.option(
    "--provider",
    type=click.Choice(sorted(PROVIDERS)),
    default=DEFAULT_PROVIDER,
    show_default=True,
    help="Where lab machines run.",
)


@click.group()
@click.version_option(package_name="fwlab")
def cli() -> None:
    """Reproducible labs for container-networking bugs caused by the host firewall."""


@cli.group()
def image() -> None:
    """The cached base image of the nspawn provider."""


@image.command("build")
@click.option("--suite", default=None, help="Debian suite (bullseye, bookworm).")
@click.option("--force", is_flag=True, help="Rebuild even if the cache is good.")
def image_build(suite: str | None, force: bool) -> None:
    """Build (or verify) the base image."""
    from harness.providers.nspawn import image as img
    from harness.providers.nspawn.provider import preflight

    preflight()
    recipe = img.ImageRecipe(suite=suite or img.DEFAULT_SUITE)
    img.ensure(recipe, say, force=force)
    out.print(f"image ready: {recipe.folder}")


@cli.group()
def box() -> None:
    """The locally built Vagrant box of the vagrant provider (libvirt)."""


@box.command("build")
@click.option("--suite", default=None, help="Debian suite (bullseye, bookworm).")
@click.option("--force", is_flag=True, help="Rebuild even if the cached box is good.")
def box_build(suite: str | None, force: bool) -> None:
    """Build the box from the nspawn image and add it to fwlab's VAGRANT_HOME."""
    from harness.providers.nspawn import image as img
    from harness.providers.nspawn.provider import preflight
    from harness.providers.vagrant import box as vbox

    preflight()
    name = vbox.ensure(suite or img.DEFAULT_SUITE, say, force=force)
    out.print(f"box ready: {name} (VAGRANT_HOME={vbox.vagrant_home()})")


docker_option = click.option(
    "--docker", type=click.Choice(DOCKER_VERSIONS), default=None, help="Docker version."
)
firewalld_option = click.option(
    "--firewalld", type=click.Choice(FIREWALLD_STATES), default=None, help="firewalld state."
)


def tarball_options(func):  # type: ignore[no-untyped-def]
    func = click.option(
        "--docker-sha256", "tarball_sha256", default=None, help="sha256 of --docker-tarball."
    )(func)
    return click.option(
        "--docker-tarball",
        "tarball",
        default=None,
        metavar="PATH|URL",
        help="Real binaries: Docker's static tarball (needs --docker-sha256).",
    )(func)


def _fetch_tarball(tarball: str | None, sha256: str | None) -> StaticDocker | None:
    """Read and verify the tarball before any machine is touched (bad input: no state)."""
    if tarball is None:
        if sha256:
            raise UsageError("--docker-sha256 goes with --docker-tarball")
        return None
    if not sha256:
        raise UsageError("--docker-tarball needs --docker-sha256")
    from harness.provision.static_docker import fetch

    return fetch(tarball, sha256)


@cli.command()
@click.option("--name", default=None, help="Lab name (default: lab-<n>).")
@docker_option
@firewalld_option
@tarball_options
@provider_option
def up(
    name: str | None,
    docker: str | None,
    firewalld: str | None,
    tarball: str | None,
    tarball_sha256: str | None,
    provider: str,
) -> None:
    """Bring up one lab machine (and provision it when --docker/--firewalld are given)."""
    static = _fetch_tarball(tarball, tarball_sha256)
    prov = get_provider(provider)
    name = name or _free_name(prov)
    provisioning = bool(docker or firewalld or static)
    # Until provisioning is done the lab is this run's alone: if the run is killed,
    # `fwlab gc` removes the half-made lab.
    machine = prov.up(name, progress=say, ephemeral=provisioning)
    out.print(f"lab [bold]{machine.name}[/bold] is up: fwlab ssh {machine.name}")
    if provisioning:
        try:
            _provision(prov, machine, docker or "20.10", firewalld or "on", static)
        except BaseException:
            say(f"provisioning did not finish: taking {name} down")
            prov.down(name)
            raise
        prov.keep(name)


@cli.command("provision")
@click.argument("name")
@click.option("--docker", type=click.Choice(DOCKER_VERSIONS), default="20.10", show_default=True)
@click.option("--firewalld", type=click.Choice(FIREWALLD_STATES), default="on", show_default=True)
@tarball_options
@provider_option
def provision_cmd(
    name: str,
    docker: str,
    firewalld: str,
    tarball: str | None,
    tarball_sha256: str | None,
    provider: str,
) -> None:
    """Provision a running lab: Docker version and firewalld state (idempotent)."""
    static = _fetch_tarball(tarball, tarball_sha256)
    _provision(get_provider(provider), _running(provider, name), docker, firewalld, static)


def _running(provider: str, name: str) -> Machine:
    machine = get_provider(provider).status(name)
    if machine.ssh is None or machine.ssh_config_path is None:
        raise FwlabError(f"lab {name!r} is not running (fwlab ls)")
    return machine


def _provision(
    prov: Provider,
    machine: Machine,
    docker: str,
    firewalld: str,
    tarball: StaticDocker | None = None,
) -> None:
    from harness.provision import provision

    assert machine.ssh is not None and machine.ssh_config_path is not None
    # A provider with snapshots (vagrant) returns to this cell's snapshot instead of
    # provisioning again: seconds instead of minutes on a slow VM.
    tag = f"fwlab-{docker}-{firewalld}" + (f"-{tarball.sha256[:12]}" if tarball else "")
    if prov.has_snapshots and prov.snapshot_restore(machine.name, tag):
        out.print(f"{machine.name}: restored snapshot {tag}: provisioning skipped")
        return
    conn = machine.ssh.fabric(machine.ssh_config_path)
    try:
        report = provision(conn, docker, firewalld, log=say, tarball=tarball)
    finally:
        conn.close()
    state = "provisioned" if report.changed else "already provisioned, nothing changed"
    out.print(f"{machine.name}: docker={docker} firewalld={firewalld}: {state}")
    if prov.has_snapshots:
        prov.snapshot_save(machine.name, tag)
        out.print(f"{machine.name}: saved snapshot {tag} (a re-run restores it)")
    if report.stood_in_reason:
        out.print(f"[yellow]STOOD IN:[/yellow] {report.stood_in_reason}")


@cli.command()
@click.argument("name")
@click.option("--lab", "lab_name", default="docker-firewalld", show_default=True)
@click.option("--only", default="", help="Comma-separated checks (default: the lab's).")
@click.option("--no-trace", is_flag=True, help="Don't trace blocked checks.")
@click.option("--reproduce", is_flag=True, help="Report what happens without judging it.")
@provider_option
def check(
    name: str, lab_name: str, only: str, no_trace: bool, reproduce: bool, provider: str
) -> None:
    """Run the checks on a running lab; compare with the lab's expectations for its cell."""
    from harness import labs
    from harness.checks.runner import run_checks
    from harness.matrix import cell_trace
    from harness.models import CellResult, MatrixResult
    from harness.report import render_table

    machine = _running(provider, name)
    assert machine.ssh is not None and machine.ssh_config_path is not None
    lab = labs.load(lab_name)
    prov = get_provider(provider)
    cell, recipe_reason = _cell_of(machine)
    reason = join_reasons(recipe_reason, prov.stood_in_reason())
    spec = lab.cell(cell)
    checks = [c for c in only.split(",") if c] or lab.checks
    results = run_checks(
        machine.ssh_config_path, machine.ssh.alias, checks,
        None if reproduce else spec.expected, trace=not no_trace, time_scale=prov.time_scale,
    )  # fmt: skip
    cell_result = CellResult(
        cell=cell, provider=provider, stood_in=bool(reason), stood_in_reason=reason,
        checks=results,
    )  # fmt: skip
    cell_result.trace = cell_trace(cell_result)
    result = MatrixResult(
        lab=lab.name, provider=provider, cells=[cell_result], judged=not reproduce
    )
    render_table(result, out)
    sys.exit(0 if result.matches else 1)


def _cell_of(machine: Machine) -> tuple[Cell, str]:
    """The cell a machine was provisioned as, and why it is stood in if it is
    (both recorded by provisioning in the machine's /etc/fwlab/cell.json)."""
    import json

    from harness.provision import MARKER

    assert machine.ssh is not None and machine.ssh_config_path is not None
    res = subprocess.run(
        ["ssh", "-F", str(machine.ssh_config_path), machine.ssh.alias, f"cat {MARKER}"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if res.returncode != 0:
        raise FwlabError(
            f"lab {machine.name} is not provisioned yet (fwlab provision {machine.name})"
        )
    marker = json.loads(res.stdout)
    return Cell.of(docker=marker["docker"], firewalld=marker["firewalld"]), marker["stood_in"]


@cli.command()
@click.argument("name", required=False)
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Parse a saved capture (xtables-monitor --trace or nft monitor trace).",
)
@click.option(
    "--check",
    "check_name",
    default="egress-ip",
    show_default=True,
    help="Which probe to trace on a live lab.",
)
@provider_option
def trace(name: str | None, from_file: str | None, check_name: str, provider: str) -> None:
    """Show a packet's path through the chains and the rule that decided it."""
    from harness.trace import analyse, render_analysis

    if from_file:
        analysis = analyse(open(from_file, errors="replace").read())
        render_analysis(analysis, out)
        sys.exit(0 if analysis.verdict else 1)
    if not name:
        raise UsageError("give a lab NAME, or --from-file FILE")

    from harness.checks.probes import CHECKS, probe_image_tag, setup_scaffold, teardown_scaffold
    from harness.trace.capture import capture

    if check_name not in CHECKS or not CHECKS[check_name].traceable:
        traceable = [c.name for c in CHECKS.values() if c.traceable]
        raise UsageError(f"cannot trace {check_name!r} (traceable: {', '.join(traceable)})")
    machine = _running(provider, name)
    assert machine.ssh is not None and machine.ssh_config_path is not None
    host = machine.ssh.testinfra(machine.ssh_config_path)
    scaffold = setup_scaffold(host, probe_image_tag(host), get_provider(provider).time_scale)
    try:
        chk = CHECKS[check_name]
        cap = capture(
            host, chk.command(scaffold), scaffold.subnet_of(chk), scaffold.monitor_seconds
        )
    finally:
        teardown_scaffold(host)
    for label, analysis in (
        ("xtables-monitor --trace", cap.xtables),
        ("nft monitor trace", cap.nft),
    ):
        out.rule(label)
        render_analysis(analysis, out)
    sys.exit(0 if cap.verdict else 1)


@cli.command()
@click.option(
    "--lab",
    "lab_name",
    default="docker-firewalld",
    show_default=True,
    help="Lab name, or a folder / lab.toml path.",
)
@provider_option
@click.option(
    "--cells",
    "cell_filters",
    multiple=True,
    help="Only these cells, e.g. docker=19.03,firewalld=on (repeatable).",
)
@click.option("--parallel", default=2, show_default=True, type=click.IntRange(1, 8))
@click.option("--keep", is_flag=True, help="Leave the lab machines running.")
@click.option("--reproduce", is_flag=True, help="Report what happens without judging it.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write a JSON report.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="Write JUnit XML.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write an HTML page.")
def matrix(
    lab_name: str,
    provider: str,
    cell_filters: tuple[str, ...],
    parallel: int,
    keep: bool,
    reproduce: bool,
    json_path: str | None,
    junit_path: str | None,
    html_path: str | None,
) -> None:
    """Every cell of a lab: up, provision, check, trace, down. Exit 0 = all as expected."""
    from harness import labs
    from harness.matrix import run_matrix
    from harness.progress import CellProgress
    from harness.report import render_table, write_html, write_json, write_junit

    lab = labs.load(lab_name)
    cells = lab.select(list(cell_filters))
    prov = get_provider(provider)
    if parallel > prov.max_parallel:
        say(f"the {prov.name} provider runs {prov.max_parallel} machine(s) at a time here")
        parallel = prov.max_parallel
    with CellProgress(console, [s.cell.id for s in cells]) as progress:
        result = run_matrix(prov, lab, cells, parallel, not reproduce, keep, progress.update)
    render_table(result, out)
    for path, writer in (
        (json_path, write_json),
        (junit_path, write_junit),
        (html_path, write_html),
    ):
        if path:
            writer(result, path)
            say(f"wrote {path}")
    if any(c.error for c in result.cells):
        sys.exit(2)
    sys.exit(0 if result.matches else 1)


def _free_name(prov: Provider) -> str:
    used = {m.name for m in prov.list()}
    n = 1
    while f"lab-{n}" in used:
        n += 1
    return f"lab-{n}"


@cli.command()
@click.argument("name")
@provider_option
def down(name: str, provider: str) -> None:
    """Destroy a lab machine and everything it owned."""
    removed = get_provider(provider).down(name, progress=say)
    for item in removed:
        say(f"removed {item}")
    out.print(f"lab {name} is gone")


@cli.command("ls")
@provider_option
def ls(provider: str) -> None:
    """List lab machines."""
    from rich.table import Table

    table = Table("name", "provider", "status", "ssh")
    for m in get_provider(provider).list():
        table.add_row(m.name, m.provider, m.status, m.details.get("ssh", ""))
    out.print(table)


@cli.command("ssh-config")
@click.argument("name")
@provider_option
def ssh_config(name: str, provider: str) -> None:
    """Print the lab's ssh_config entry (like `vagrant ssh-config`)."""
    click.echo(get_provider(provider).ssh_config(name), nl=False)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@provider_option
def ssh(name: str, command: tuple[str, ...], provider: str) -> None:
    """Open a shell on the lab, or run COMMAND there (after `--`)."""
    machine = get_provider(provider).status(name)
    if machine.ssh is None or machine.ssh_config_path is None:
        raise FwlabError(f"lab {name!r} is not running")
    argv = ["ssh", "-F", str(machine.ssh_config_path), machine.ssh.alias, *command]
    sys.exit(subprocess.call(argv))


@cli.command()
@provider_option
def gc(provider: str) -> None:
    """Remove what interrupted runs left behind."""
    removed = get_provider(provider).gc(progress=say)
    for item in removed:
        out.print(f"removed {item}")
    out.print(f"gc: {len(removed)} item(s) removed")


# -- workshops ---------------------------------------------------------------------
@cli.group("lab")
def lab_group() -> None:
    """A guided lab, step by step, with live checkpoints (labs/<lab>/guide.md)."""


name_option = click.option(
    "--name", default=None, help="The lab machine (default: the lab's name, e.g. student-2)."
)


def _workshop_host(lab: str, name: str | None, provider: str):  # type: ignore[no-untyped-def]
    from harness import workshop

    machine = _running(provider, name or lab)
    assert machine.ssh is not None and machine.ssh_config_path is not None
    return workshop.load(lab), machine.ssh.testinfra(machine.ssh_config_path)


@lab_group.command("start")
@click.argument("lab", default="docker-firewalld")
@click.option("--step", default=1, show_default=True, type=int, help="Start at this step.")
@name_option
@provider_option
def lab_start(lab: str, step: int, name: str | None, provider: str) -> None:
    """Bring a lab machine to the starting state of a step."""
    from harness import workshop

    ws = workshop.load(lab)
    ws.step(step)  # a bad step number fails before anything is made
    prov = get_provider(provider)
    name = name or lab
    machine = prov.up(name, progress=say, ephemeral=True)
    try:
        _provision(prov, machine, ws.start["docker"], ws.start["firewalld"])
        assert machine.ssh is not None and machine.ssh_config_path is not None
        host = machine.ssh.testinfra(machine.ssh_config_path)
        for earlier in ws.steps[: step - 1]:
            say(f"solving step {earlier.number}: {earlier.title}")
            workshop.solve(host, earlier)
            workshop.record(host, earlier.number)
    except BaseException:
        say(f"could not prepare {name}: taking it down")
        prov.down(name)
        raise
    prov.keep(name)
    current = ws.step(step)
    out.print(f"{name} is at step {step}: {current.title}. Guide: {workshop.guide_path(lab)}")
    out.print(f"  fwlab ssh {name}      fwlab lab check {lab} {step} --name {name}")


@lab_group.command("check")
@click.argument("lab")
@click.argument("step", type=int)
@name_option
@provider_option
def lab_check(lab: str, step: int, name: str | None, provider: str) -> None:
    """Has the student done step STEP? Says pass, or exactly what is missing."""
    from harness import workshop

    ws, host = _workshop_host(lab, name, provider)
    missing = workshop.check(host, ws.step(step))
    if not missing:
        out.print(f"step {step} ({ws.step(step).title}): [green]pass[/green]")
        sys.exit(0)
    out.print(f"step {step} ({ws.step(step).title}): [red]not yet[/red]")
    for item in missing:
        out.print(f"  - {item}", markup=False)
    sys.exit(1)


@lab_group.command("hint")
@click.argument("step", type=int)
@click.option("--lab", default="docker-firewalld", show_default=True)
def lab_hint(step: int, lab: str) -> None:
    """A hint for step STEP."""
    from harness import workshop

    current = workshop.load(lab).step(step)
    out.print(f"step {step} ({current.title}): {current.hint}", markup=False)


@lab_group.command("solve")
@click.argument("step", type=int)
@click.option("--lab", default="docker-firewalld", show_default=True)
@name_option
@provider_option
def lab_solve(step: int, lab: str, name: str | None, provider: str) -> None:
    """For the instructor: apply step STEP's solution, then check it."""
    from harness import workshop

    ws, host = _workshop_host(lab, name, provider)
    workshop.solve(host, ws.step(step))
    missing = workshop.check(host, ws.step(step))
    if missing:
        raise FwlabError(f"step {step} solved, but its checkpoint still fails: {missing[0]}")
    out.print(f"step {step} ({ws.step(step).title}): solved, checkpoint passes")


@cli.group("workshop")
def workshop_group() -> None:
    """Room mode: one lab per student on this server."""


@workshop_group.command("up")
@click.option("--students", required=True, type=click.IntRange(1, 200))
@click.option("--lab", default="docker-firewalld", show_default=True)
@click.option("--parallel", default=2, show_default=True, type=click.IntRange(1, 8))
@provider_option
def workshop_up(students: int, lab: str, parallel: int, provider: str) -> None:
    """Bring up one lab per student; write the roster with each one's credentials."""
    from harness import room, workshop

    roster = room.up(get_provider(provider), workshop.load(lab), students, say, parallel)
    out.print(f"roster: {roster}")


@workshop_group.command("status")
def workshop_status() -> None:
    """Each student's progress: the checkpoints passed."""
    from rich.table import Table

    from harness import room, workshop

    lab, provider, students = room.load_roster()
    ws = workshop.load(lab)
    table = Table("student", "status", "checkpoints passed", "now at")
    for student in students:
        machine = get_provider(provider).status(student.name)
        if machine.ssh is None or machine.ssh_config_path is None:
            table.add_row(student.name, machine.status, "-", "-")
            continue
        done = workshop.progress(machine.ssh.testinfra(machine.ssh_config_path), ws)
        nxt = next((s for s in ws.steps if s.number not in done), None)
        table.add_row(
            student.name,
            machine.status,
            f"{len(done)}/{len(ws.steps)} {done}",
            f"{nxt.number}. {nxt.title}" if nxt else "finished",
        )
    out.print(table)


@workshop_group.command("down")
def workshop_down() -> None:
    """Remove every student's lab and the roster."""
    from harness import room

    _lab, provider, _students = room.load_roster()
    for item in room.down(get_provider(provider), say):
        say(f"removed {item}")
    out.print("workshop is gone")


def main() -> None:
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        console.print("interrupted")
        sys.exit(130)
    except KeyboardInterrupt:
        console.print("interrupted; cleaned up")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except FwlabError as exc:
        # One line, never wrapped: scripts and CI read it.
        first, *rest = str(exc).splitlines() or [""]
        click.echo(f"fwlab: error: {first}", err=True)
        for line in rest:  # e.g. a failed boot's log tail, after the one-line error
            click.echo(f"  {line}", err=True)
        sys.exit(2)
    except SystemExit:
        raise
    sys.exit(0)


if __name__ == "__main__":
    main()
