"""The `fwlab` command line: it parses and prints; the work lives in the modules."""

from __future__ import annotations

import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from harness.errors import FwlabError, UsageError
from harness.providers import DEFAULT_PROVIDER, PROVIDERS, get_provider
from harness.provision.base import DOCKER_VERSIONS, FIREWALLD_STATES

console = Console(stderr=True, highlight=False, soft_wrap=not sys.stderr.isatty())
#: Output that is not a terminal (a pipe, a CI log) is never wrapped.
out = Console(highlight=False, soft_wrap=not sys.stdout.isatty())


def say(msg: str) -> None:
    console.print(f"[dim]·[/dim] {msg}", markup=True)


provider_option = click.option(
    "--provider",
    type=click.Choice(sorted(PROVIDERS)),
    default=DEFAULT_PROVIDER,
    show_default=True,
    help="Where lab machines run.",
)
lab_option = click.option(
    "--lab",
    "lab_name",
    default="docker-firewalld",
    show_default=True,
    help="A lab: its name (a folder under labs/), or the path to a lab folder or file.",
)
markdown_option = click.option(
    "--markdown",
    "markdown_path",
    type=click.Path(dir_okay=False),
    help="Write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY).",
)
os_choice = click.Choice(["bullseye", "bookworm", "trixie", "sid"])


@click.group()
@click.version_option(package_name="fwlab")
@click.option("--debug", is_flag=True, help="Show tracebacks of unexpected errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Reproducible labs for container-networking bugs caused by the host firewall."""
    ctx.obj = {"debug": debug}


# -- images ---------------------------------------------------------------------------
@cli.group()
def image() -> None:
    """The cached base images of the nspawn provider (one per OS release)."""


@image.command("build")
@click.option("--os", "release", type=os_choice, default=None, help="Debian release.")
@click.option("--force", is_flag=True, help="Rebuild even if the cache is good.")
def image_build(release: str | None, force: bool) -> None:
    """Build (or verify) a base image."""
    from harness.providers.nspawn import image as img
    from harness.providers.nspawn.provider import preflight

    preflight()
    recipe = img.ensure(img.ImageRecipe(suite=release or img.DEFAULT_SUITE), say, force=force)
    out.print(f"image ready: {recipe.folder}")


@image.command("key")
@lab_option
@click.option("--cells", "cell_filters", multiple=True, help="Only these cells.")
def image_key(lab_name: str, cell_filters: tuple[str, ...]) -> None:
    """The recipe keys of the base images a lab's cells need (a CI cache key)."""
    from harness import ci, labs

    click.echo(ci.image_keys(labs.load(lab_name), list(cell_filters)))


@cli.group()
def box() -> None:
    """The locally built Vagrant box of the vagrant provider (libvirt)."""


@box.command("build")
@click.option("--os", "release", type=os_choice, default=None, help="Debian release.")
@click.option("--force", is_flag=True, help="Rebuild even if the cached box is good.")
def box_build(release: str | None, force: bool) -> None:
    """Build the box from the nspawn image and add it to fwlab's VAGRANT_HOME."""
    from harness.providers.nspawn import image as img
    from harness.providers.nspawn.provider import preflight
    from harness.providers.vagrant import box as vbox

    preflight()
    name = vbox.ensure(release or img.DEFAULT_SUITE, say, force=force)
    out.print(f"box ready: {name} (VAGRANT_HOME={vbox.vagrant_home()})")


# -- one machine ---------------------------------------------------------------------
def tarball_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--docker-sha256", "tarball_sha256", help="sha256 of --docker-tarball.")(
        func
    )
    return click.option(
        "--docker-tarball",
        "tarball",
        metavar="PATH|URL",
        help="Real binaries: Docker's static tarball (needs --docker-sha256).",
    )(func)


def _tarball(tarball: str | None, sha256: str | None) -> Any:
    """Read and verify the tarball before any machine is touched (bad input: no state)."""
    if tarball is None:
        if sha256:
            raise UsageError("--docker-sha256 goes with --docker-tarball")
        return None
    if not sha256:
        raise UsageError("--docker-tarball needs --docker-sha256")
    from harness.provision.static_docker import fetch

    return fetch(tarball, sha256)


def _say_report(name: str, report: Any) -> None:
    state = "provisioned" if report.changed else "already provisioned, nothing changed"
    versions = ", ".join(f"{k} {v}" for k, v in report.versions.items())
    out.print(f"{name}: {state} ({versions})")
    if not report.docker.real:
        out.print(f"[yellow]STOOD IN:[/yellow] docker: {report.docker.what}")


@cli.command()
@click.option("--name", default=None, help="Lab name (default: lab-<n>).")
@click.option("--os", "release", type=os_choice, default=None, help="The machine's OS release.")
@click.option("--docker", type=click.Choice(DOCKER_VERSIONS), default=None, help="Docker.")
@click.option("--firewalld", type=click.Choice(FIREWALLD_STATES), default=None, help="firewalld.")
@tarball_options
@provider_option
def up(
    name: str | None,
    release: str | None,
    docker: str | None,
    firewalld: str | None,
    tarball: str | None,
    tarball_sha256: str | None,
    provider: str,
) -> None:
    """Bring up one lab machine (provisioned when --docker/--firewalld are given)."""
    from harness import pipeline

    static = _tarball(tarball, tarball_sha256)
    prov = get_provider(provider)
    name = name or pipeline.free_name(prov)
    if docker or firewalld or static:
        recipe = pipeline.Recipe(
            release or "bullseye", docker or "20.10", firewalld or "on", static
        )
        # Until provisioning is done the lab is this run's alone: `fwlab gc` removes it.
        _machine, report = pipeline.bring_up(prov, name, recipe, say, ephemeral=True)
        prov.keep(name)
        _say_report(name, report)
    else:
        prov.up(name, progress=say, release=release)
    out.print(f"lab [bold]{name}[/bold] is up: fwlab ssh {name}")


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
    from harness.provision import provision

    static = _tarball(tarball, tarball_sha256)
    machine = get_provider(provider).running(name)
    assert machine.ssh is not None
    conn = machine.ssh.fabric()
    try:
        report = provision(conn, docker, firewalld, log=say, tarball=static)
    finally:
        conn.close()
    _say_report(name, report)


def _write_reports(
    result: Any,
    json_path: str | None,
    junit_path: str | None,
    html_path: str | None,
    markdown_path: str | None = None,
) -> None:
    from harness.report import write_html, write_json, write_junit, write_markdown

    for path, writer in (
        (json_path, write_json),
        (junit_path, write_junit),
        (html_path, write_html),
        (markdown_path, write_markdown),
    ):
        if path:
            writer(result, path if path != "-" else "/dev/stdout")
            if path != "-":
                say(f"wrote {path}")


report_options = [
    click.option(
        "--json",
        "json_path",
        type=click.Path(dir_okay=False, allow_dash=True),
        is_flag=False,
        flag_value="-",
        help="Write JSON (to PATH, or stdout).",
    ),
    click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="Write JUnit XML."),
    click.option(
        "--html", "html_path", type=click.Path(dir_okay=False), help="Write an HTML page."
    ),
]


def with_reports(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(report_options):
        func = option(func)
    return func


@cli.command()
@click.argument("name")
@lab_option
@click.option("--only", default="", help="Comma-separated checks (default: all of the lab's).")
@click.option(
    "--no-trace", is_flag=True, help="Don't trace the probes (nor judge their deciding rules)."
)
@click.option("--reproduce", is_flag=True, help="Report what happens without judging it.")
@with_reports
@provider_option
def check(
    name: str,
    lab_name: str,
    only: str,
    no_trace: bool,
    reproduce: bool,
    json_path: str | None,
    junit_path: str | None,
    html_path: str | None,
    provider: str,
) -> None:
    """Run a lab's checks on a running machine, judged against the cell it was made as."""
    from harness import labs, pipeline
    from harness.models import MatrixResult
    from harness.report import render_table

    lab = labs.load(lab_name)
    prov = get_provider(provider)
    cell = pipeline.check_running(prov, name, lab, not reproduce, _names(only), not no_trace)
    result = MatrixResult(lab=lab.name, provider=prov.name, cells=[cell], judged=not reproduce)
    render_table(result, out)
    _write_reports(result, json_path, junit_path, html_path)
    sys.exit(result.exit_code)


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


TRACE_HELP = """Show packets' paths through the chains and the rules that decided them.

\b
  fwlab trace --from-file capture.txt    a capture from anywhere (nft monitor trace,
                                         xtables-monitor --trace, kernel log TRACE/LOG)
  fwlab trace NAME --check egress-ip     trace a lab's check on a running lab
  fwlab trace --diff A B                 where the paths of A and B part; A and B are
                                         capture files, running labs, or cells of a
                                         matrix JSON (report.json#CELL)

\b
Exit status: 0 the capture shows the packet accepted; 1 it shows a drop or a reject,
or no final verdict; 2 bad input (not a capture, unknown lab...).
"""


@cli.command(help=TRACE_HELP)
@click.argument("name", required=False)
@click.option("--from-file", "from_file", metavar="FILE", help="Read a saved capture.")
@click.option(
    "--check",
    "check_name",
    default="egress-ip",
    show_default=True,
    help="The check to trace on a running lab (or to compare with --diff).",
)
@click.option("--diff", nargs=2, metavar="A B", help="Compare two packets' paths.")
@click.option(
    "--packet", type=click.IntRange(1), help="Show this packet's path (default: the headline)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the model as JSON.")
@lab_option
@provider_option
def trace(
    name: str | None,
    from_file: str | None,
    check_name: str,
    diff: tuple[str, str] | None,
    packet: int | None,
    as_json: bool,
    lab_name: str,
    provider: str,
) -> None:
    import json

    from harness.trace import sources
    from harness.trace.render import render_capture, render_path

    if diff:
        found = sources.diff(diff[0], diff[1], check_name, lab_name, provider)
        if as_json:
            out.print_json(json.dumps(found.as_dict()))
        else:
            for line in found.lines(diff[0], diff[1]):
                out.print(line, markup=False)
        sys.exit(0 if found.parted else 1)
    if from_file:
        capture = sources.read_capture_file(Path(from_file))
        if as_json:
            out.print_json(json.dumps(capture.as_dict()))
        else:
            render_capture(capture, out, packet)
        head = capture.headline
        sys.exit(0 if head is not None and head.rule and head.rule.verdict == "accept" else 1)
    if not name:
        raise UsageError("give a running lab's NAME, --from-file FILE or --diff A B")
    result = sources.live_check(name, check_name, lab_name, provider)
    if as_json:
        out.print_json(json.dumps(result.as_dict()))
    else:
        out.print(
            f"{result.name}: {result.outcome}"
            + (f" ({result.reason})" if result.reason else "")
            + f": {result.detail}",
            markup=False,
        )
        if result.trace is not None:
            out.print(f"Packet: {result.trace.packet}", markup=False)
            render_path(result.trace, out)
        else:
            out.print("no packet of this check was traced", markup=False)
    verdict = result.trace.rule if result.trace else None
    sys.exit(0 if verdict is not None and verdict.verdict == "accept" else 1)


@cli.command()
@lab_option
@provider_option
@click.option(
    "--cells",
    "cell_filters",
    multiple=True,
    help="Only these cells: a cell id, or axis=value[,axis=value] (repeatable; 'all' "
    "adds the lab's extension cells).",
)
@click.option("--list", "list_cells", is_flag=True, help="List the cells (with --json: as JSON).")
@click.option(
    "--parallel",
    type=click.IntRange(1, 64),
    default=None,
    help="Cells at once (default: from this machine's cores and memory).",
)
@click.option("--keep", is_flag=True, help="Leave the lab machines running.")
@click.option("--reproduce", is_flag=True, help="Report what happens without judging it.")
@with_reports
@markdown_option
def matrix(
    lab_name: str,
    provider: str,
    cell_filters: tuple[str, ...],
    list_cells: bool,
    parallel: int | None,
    keep: bool,
    reproduce: bool,
    json_path: str | None,
    junit_path: str | None,
    html_path: str | None,
    markdown_path: str | None,
) -> None:
    """Every cell of a lab: up, provision, check, down. Exit 0 = all as expected."""
    import json

    from harness import labs
    from harness.matrix import default_parallel, run_matrix
    from harness.progress import CellProgress
    from harness.report import render_table

    lab = labs.load(lab_name)
    cells = lab.select(list(cell_filters))
    if list_cells:
        rows = [{"id": s.cell.id, "label": s.cell.label, "axes": s.cell.as_dict()} for s in cells]
        if json_path:
            _emit(json.dumps({"lab": lab.name, "cells": rows}, indent=2), json_path)
        else:
            for row in rows:
                out.print(f"{row['id']}  {row['label']}", markup=False)
        return
    prov = get_provider(provider)
    if parallel is None:
        parallel = default_parallel(prov, len(cells))
        say(f"running {parallel} cell(s) at once (from this machine's cores and memory)")
    elif parallel > prov.max_parallel:
        say(f"the {prov.name} provider runs {prov.max_parallel} machine(s) at a time here")
        parallel = prov.max_parallel
    with CellProgress(console, [s.cell.label for s in cells]) as progress:
        result = run_matrix(prov, lab, cells, parallel, not reproduce, keep, progress.update)
    render_table(result, out)
    _write_reports(result, json_path, junit_path, html_path, markdown_path)
    sys.exit(result.exit_code)


def _emit(text: str, path: str) -> None:
    if path == "-":
        click.echo(text)
    else:
        Path(path).write_text(text + "\n")


@cli.command()
@click.argument("name")
@provider_option
def down(name: str, provider: str) -> None:
    """Destroy a lab machine and everything it owned."""
    for item in get_provider(provider).down(name, progress=say):
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
    """Open a shell on the lab (OpenSSH, for people), or run COMMAND there (after `--`)."""
    machine = get_provider(provider).running(name)
    assert machine.ssh is not None and machine.ssh_config_path is not None
    sys.exit(
        subprocess.call(["ssh", "-F", str(machine.ssh_config_path), machine.ssh.alias, *command])
    )


@cli.command()
@provider_option
def gc(provider: str) -> None:
    """Remove what interrupted runs left behind."""
    removed = get_provider(provider).gc(progress=say)
    for item in removed:
        out.print(f"removed {item}")
    out.print(f"gc: {len(removed)} item(s) removed")


# -- reports and CI ------------------------------------------------------------------
@cli.group()
def report() -> None:
    """Reports of matrix runs."""


@report.command("merge")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@lab_option
@click.option("--cells", "cell_filters", multiple=True, help="The cells the run selected.")
@markdown_option
def report_merge(
    out_dir: str,
    files: tuple[str, ...],
    lab_name: str,
    cell_filters: tuple[str, ...],
    markdown_path: str | None,
) -> None:
    """Merge per-cell JSON reports into one matrix: OUT_DIR/matrix.json, .xml, .html and
    summary.md. Exit status: the matrix's (2 when a cell is missing)."""
    from harness import labs
    from harness.report import render_table
    from harness.report.merge import merge

    lab = labs.load(lab_name)
    merged, missing = merge([Path(f) for f in files], lab, list(cell_filters))
    render_table(merged, out)
    folder = Path(out_dir)
    _write_reports(
        merged,
        str(folder / "matrix.json"),
        str(folder / "matrix.xml"),
        str(folder / "matrix.html"),
        str(folder / "summary.md"),
    )
    if markdown_path:
        _write_reports(merged, None, None, None, markdown_path)
    if missing:
        raise FwlabError(f"no report for cell(s): {', '.join(missing)}")
    sys.exit(merged.exit_code)


@cli.command("ci")
@click.argument("engine", type=click.Choice(["github", "gitlab"]))
@lab_option
@click.option("--cells", "cell_filters", multiple=True, help="Only these cells.")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), help="Write here (default: stdout)."
)
def ci_cmd(engine: str, lab_name: str, cell_filters: tuple[str, ...], output: str | None) -> None:
    """Write a CI pipeline that runs each cell as a job and merges the reports."""
    from harness import ci, labs

    lab = labs.load(lab_name)
    lab.select(list(cell_filters))  # bad filters fail here, before anything is written
    text = getattr(ci, engine)(lab, list(cell_filters))
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text)
        say(f"wrote {output}")
    else:
        click.echo(text, nl=False)


# -- the host ------------------------------------------------------------------------
@cli.group()
def host() -> None:
    """The host's limits that labs share (inotify, PIDs, memory)."""


@host.command("check")
@click.option("--labs", type=click.IntRange(1), default=1, show_default=True)
def host_check(labs: int) -> None:
    """How many more labs this host allows, and which limit binds."""
    from harness import hostlimits

    for lim in hostlimits.limits():
        out.print(
            f"{lim.name} = {lim.value}: {lim.used} in use, {lim.per_lab} per lab, "
            f"room for {lim.labs} more",
            markup=False,
        )
    room, binding = hostlimits.capacity()
    out.print(f"this host allows {room} more lab(s) (bound by {binding})", markup=False)
    hostlimits.preflight(get_provider("nspawn"), labs)


@host.command("tune")
@click.option("--labs", type=click.IntRange(1), required=True)
def host_tune(labs: int) -> None:
    """Raise the host's limits for N labs; the old values are recorded."""
    from harness import hostlimits

    if not hostlimits.tune(labs, say):
        out.print(f"nothing to raise: this host already allows {labs} lab(s)")


@host.command("restore")
def host_restore() -> None:
    """Put back every limit `fwlab host tune` raised."""
    from harness import hostlimits

    if not hostlimits.restore(say):
        out.print("nothing to restore")


# -- workshops ----------------------------------------------------------------------
@cli.group("lab")
def lab_group() -> None:
    """A guided lab, step by step, with live checkpoints (labs/<lab>/guide.md)."""


name_option = click.option(
    "--name", default=None, help="The lab machine (default: the lab's name, e.g. student-2)."
)


@lab_group.command("start")
@click.argument("lab", default="docker-firewalld")
@click.option("--step", default=1, show_default=True, type=int, help="Start at this step.")
@name_option
@provider_option
def lab_start(lab: str, step: int, name: str | None, provider: str) -> None:
    """Bring a lab machine to the starting state of a step."""
    from harness import workshop

    ws = workshop.load(lab)
    name = name or ws.lab
    current = workshop.start(get_provider(provider), ws, step, name, say)
    out.print(f"{name} is at step {step}: {current.title}. Guide: {ws.guide}")
    out.print(f"  fwlab ssh {name}      fwlab lab check {lab} {step} --name {name}")


@lab_group.command("check")
@click.argument("lab")
@click.argument("step", type=int)
@name_option
@provider_option
def lab_check(lab: str, step: int, name: str | None, provider: str) -> None:
    """Has the student done step STEP? Says pass, or exactly what is missing."""
    from harness import workshop

    ws = workshop.load(lab)
    target = workshop.Target.of(get_provider(provider), name or ws.lab, ws)
    missing = workshop.check(target, ws.step(step))
    title = ws.step(step).title
    if not missing:
        out.print(f"step {step} ({title}): [green]pass[/green]")
        sys.exit(0)
    out.print(f"step {step} ({title}): [red]not yet[/red]")
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

    ws = workshop.load(lab)
    target = workshop.Target.of(get_provider(provider), name or ws.lab, ws)
    workshop.solve_and_check(target, ws.step(step))
    out.print(f"step {step} ({ws.step(step).title}): solved, checkpoint passes")


@cli.group("workshop")
def workshop_group() -> None:
    """Room mode: one lab per student on this server."""


@workshop_group.command("up")
@click.option("--students", required=True, type=click.IntRange(1, 500))
@click.option("--lab", default="docker-firewalld", show_default=True)
@click.option(
    "--parallel",
    type=click.IntRange(1, 32),
    default=None,
    help="Labs brought up at once (default: from this machine's cores and memory).",
)
@click.option(
    "--tune-host",
    is_flag=True,
    help="Raise the host's limits for the room first (recorded; `workshop down` puts them back).",
)
@provider_option
def workshop_up(
    students: int, lab: str, parallel: int | None, tune_host: bool, provider: str
) -> None:
    """Bring up one lab per student; write the roster with each one's credentials."""
    from harness import hostlimits, room, workshop

    ws = workshop.load(lab)
    if tune_host:
        hostlimits.tune(students, say)
    roster = room.up(get_provider(provider), ws, students, say, parallel)
    out.print(f"roster: {roster}")


@workshop_group.command("status")
def workshop_status() -> None:
    """Each student's progress: the checkpoints passed."""
    from rich.table import Table

    from harness import room

    table = Table("student", "status", "checkpoints passed", "now at")
    for row in room.status():
        table.add_row(*row)
    out.print(table)


@workshop_group.command("down")
def workshop_down() -> None:
    """Remove every student's lab and the roster."""
    from harness import hostlimits, room

    for item in room.down(say):
        say(f"removed {item}")
    hostlimits.restore(say)
    out.print("workshop is gone")


# -- entry point ---------------------------------------------------------------------
def _sigterm_as_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # CI and `timeout` send SIGTERM: clean up as for Ctrl-C


def _error(message: str, details: list[str] | None = None) -> None:
    first, *rest = message.splitlines() or [""]
    click.echo(f"fwlab: error: {first}", err=True)
    for line in (details or []) + rest:  # e.g. a failed boot's log tail, after the one line
        click.echo(f"  {line}", err=True)


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        console.print("interrupted; cleaned up")
        sys.exit(130)
    except click.ClickException as exc:  # click's own usage errors: one line too
        _error(exc.format_message().replace("\n", " "))
        sys.exit(2)
    except UsageError as exc:  # bad input: one line, nothing else
        _error(" ".join(str(exc).split("\n")[:1]))
        sys.exit(2)
    except FwlabError as exc:
        _error(str(exc))
        sys.exit(2)
    except SystemExit:
        raise
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _error(f"unexpected {type(exc).__name__}: {exc} (fwlab --debug ... shows the traceback)")
        sys.exit(2)
    sys.exit(0)


if __name__ == "__main__":
    main()
