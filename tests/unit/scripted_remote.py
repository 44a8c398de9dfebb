"""Run a recipe against Fabric's mocked SSH remote (fabric.testing), scripted command by command.

Shared by the recipe tests: each scripts the remote with fabric.testing.base.Command
objects in the order the recipe must send them; MockRemote hands one mocked channel
per command, and the commands actually executed are compared with the script.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, TypeVar

import pytest
from fabric import Config, Connection
from fabric.testing.base import Command, MockRemote, Session

from harness.provision.base import Recipe

#: How Fabric renders Connection.sudo("cmd") with the default sudo config.
SUDO = "sudo -S -p '[sudo] password: ' "

R = TypeVar("R", bound=Recipe)


@dataclass
class Ran:
    result: object
    sent: list[str]  # the commands executed, in order
    stdin: list[bytes]  # what each command was fed


def run_recipe(
    script: list[Command],
    recipe_cls: type[R],
    action: Callable[[R], object],
    user: str = "root",
) -> Ran:
    """Run action(recipe) against a remote that expects exactly `script`, in order."""
    if user != "root":
        script = [Command(SUDO + c.cmd, out=c.out, err=c.err, exit=c.exit) for c in script]
    expected = [c.cmd for c in script]
    with MockRemote() as remote:
        # No script: Session's own placeholder command, which MockRemote does not check.
        channels = remote.expect_sessions(Session(host="lab", user=user, commands=script or None))
        conn = Connection("lab", user=user, config=Config(overrides={"load_ssh_configs": False}))

        def sent() -> list[str]:
            return [c.exec_command.call_args.args[0] for c in channels if c.exec_command.called]

        try:
            result = action(recipe_cls(conn))
        except StopIteration:  # MockRemote has no channel left for an unscripted command
            pytest.fail(f"more commands than scripted; sent so far: {sent()}")
        assert sent() == expected
        if not script:
            channels[0].exec_command.assert_not_called()
        stdin = [c._stdin.getvalue() for c in channels if c.exec_command.called]
    return Ran(result, sent(), stdin)
