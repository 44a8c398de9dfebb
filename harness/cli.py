"""The `fwlab` command line."""

from __future__ import annotations

import signal
import subprocess
import sys

import click
from rich.console import Console

from harness.errors import FwlabError
from harness.providers import DEFAULT_PROVIDER, PROVIDERS, get_provider

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


@cli.command()
@click.option("--name", default=None, help="Lab name (default: lab-<n>).")
@provider_option
def up(name: str | None, provider: str) -> None:
    """Bring up one lab machine."""
    prov = get_provider(provider)
    name = name or _free_name(prov)
    machine = prov.up(name, progress=say)
    out.print(f"lab [bold]{machine.name}[/bold] is up: fwlab ssh {machine.name}")


def _free_name(prov) -> str:  # type: ignore[no-untyped-def]
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

    table = Table("name", "provider", "status", "ssh", "cell")
    for m in get_provider(provider).list():
        table.add_row(m.name, m.provider, m.status, m.details.get("ssh", ""),
                      m.details.get("cell", ""))
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
        console.print(f"fwlab: error: {exc}", markup=False)
        sys.exit(2)
    except SystemExit:
        raise
    sys.exit(0)


if __name__ == "__main__":
    main()
