"""Workshops: a guided lab (`labs/<lab>/workshop.toml` + `guide.md`) with live checkpoints,
for one student (`fwlab lab ...`) or a room (`fwlab workshop ...`, see room.py).

A checkpoint looks at the live machine and says pass, or exactly what is missing. Its
conditions are data: a shell command whose output must (or must not) match, one of the
lab's own checks that must pass or be blocked, or a saved trace whose deciding rule must
be a given chain and verdict. Passed checkpoints are recorded on the machine itself
(/root/.fwlab-workshop.json), so progress survives and `workshop status` reads it.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness import labs
from harness.errors import FwlabError, UsageError
from harness.labs import Lab, read_toml, validate
from harness.providers import Machine, Provider
from harness.trace import analyse

PROGRESS_FILE = "/root/.fwlab-workshop.json"
FILE_NAME = "workshop.toml"

_CONDITION = {
    "type": "object",
    "required": ["missing"],
    "additionalProperties": False,
    "properties": {
        "missing": {"type": "string"},
        "run": {"type": "string"},
        "match": {"type": "string"},
        "absent": {"type": "boolean"},
        "probe": {"type": "string"},
        "expect": {"enum": ["pass", "blocked"]},
        "trace_file": {"type": "string"},
        "chain": {"type": "string"},
        "verdict": {"type": "string"},
    },
    "oneOf": [
        {"required": ["run", "match"]},
        {"required": ["probe", "expect"]},
        {"required": ["trace_file", "chain", "verdict"]},
    ],
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["lab", "start", "step"],
    "additionalProperties": False,
    "properties": {
        "lab": {"type": "string"},
        "start": {
            "type": "object",
            "required": ["docker", "firewalld"],
            "properties": {
                "docker": {"type": "string"},
                "firewalld": {"type": "string"},
                "os": {"type": "string"},
            },
        },
        "step": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["title", "hint", "solve", "check"],
                "additionalProperties": False,
                "properties": {
                    "title": {"type": "string"},
                    "hint": {"type": "string"},
                    "solve": {"type": "array", "items": {"type": "string"}},
                    "check": {"type": "array", "items": _CONDITION, "minItems": 1},
                },
            },
        },
    },
}


@dataclass
class Step:
    number: int
    title: str
    hint: str
    solve: list[str]
    conditions: list[dict[str, Any]]


@dataclass
class Workshop:
    lab: Lab
    start: dict[str, str]
    steps: list[Step] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.lab.name

    @property
    def guide(self) -> Path:
        return self.lab.folder / "guide.md"

    def step(self, number: int) -> Step:
        if not 1 <= number <= len(self.steps):
            raise UsageError(
                f"no step {number}: the {self.name} workshop has steps 1-{len(self.steps)}"
            )
        return self.steps[number - 1]

    def recipe(self) -> Any:
        from harness.pipeline import Recipe

        release = self.start.get("os") or self.lab.machine["os"]
        return Recipe(release, self.start["docker"], self.start["firewalld"])


def load(lab: str) -> Workshop:
    found = labs.load(lab)
    path = found.folder / FILE_NAME
    if not path.is_file():
        raise UsageError(f"lab {found.name!r} has no workshop ({path} is missing)")
    data = read_toml(path)
    validate(data, SCHEMA, path)
    workshop = Workshop(found, data["start"])
    for i, raw in enumerate(data["step"], start=1):
        workshop.steps.append(Step(i, raw["title"], raw["hint"], raw["solve"], raw["check"]))
    return workshop


@dataclass
class Target:
    """A student's machine: commands through testinfra, probes through the lab's checks."""

    provider: Provider
    machine: Machine
    workshop: Workshop

    @classmethod
    def of(cls, provider: Provider, name: str, workshop: Workshop) -> Target:
        return cls(provider, provider.running(name), workshop)

    @property
    def host(self) -> Any:
        assert self.machine.ssh is not None and self.machine.ssh_config_path is not None
        return self.machine.ssh.host(self.machine.ssh_config_path)

    def probe(self, check: str) -> str:
        """The outcome of one of the lab's checks, observed (not judged) right now."""
        from harness import pipeline

        spec = self.workshop.lab.cells[0]
        results = pipeline.check(self.provider, self.machine, self.workshop.lab, spec,
                                 judged=False, only=[check], trace=False)  # fmt: skip
        found = [r for r in results if r.name == check]
        if not found:
            raise FwlabError(f"the {self.workshop.name} lab has no check {check!r}")
        if found[0].outcome == "error":
            raise FwlabError(f"{check} could not run: {found[0].detail}")
        return found[0].outcome


def start(
    provider: Provider, workshop: Workshop, step: int, name: str, say: Callable[[str], None]
) -> Step:
    """A machine in the starting state of `step`: the workshop's cell, earlier steps solved."""
    from harness import pipeline

    current = workshop.step(step)  # a bad step number fails before anything is made
    pipeline.bring_up(provider, name, workshop.recipe(), say, ephemeral=True)
    try:
        target = Target.of(provider, name, workshop)
        for earlier in workshop.steps[: step - 1]:
            say(f"solving step {earlier.number}: {earlier.title}")
            solve(target, earlier)
            record(target.host, earlier.number)
    except BaseException:
        say(f"could not prepare {name}: taking it down")
        provider.down(name)
        raise
    provider.keep(name)
    return current


# -- on a live machine -------------------------------------------------------------
def check(target: Target, step: Step) -> list[str]:
    """What is still missing for the step's checkpoint; empty when it passes."""
    missing = [c["missing"] for c in step.conditions if not _holds(target, c)]
    if not missing:
        record(target.host, step.number)
    return missing


def _holds(target: Target, condition: dict[str, Any]) -> bool:
    host = target.host
    if "run" in condition:
        res = host.run(condition["run"])
        found = re.search(condition["match"], res.stdout + res.stderr, re.MULTILINE)
        return bool(found) != bool(condition.get("absent", False))
    if "probe" in condition:
        return target.probe(condition["probe"]) == condition["expect"]
    res = host.run(f"cat {shlex.quote(condition['trace_file'])}")
    verdict = analyse(res.stdout).verdict if res.rc == 0 else None
    return bool(
        verdict and verdict.chain == condition["chain"] and verdict.verdict == condition["verdict"]
    )


def solve(target: Target, step: Step) -> None:
    from harness.checks.scaffold import probe_image_tag

    host = target.host
    image = probe_image_tag(host)
    for command in step.solve:
        res = host.run(command.format(image=image))
        if res.rc != 0:
            said = (res.stderr or res.stdout).strip()
            raise FwlabError(f"step {step.number}: `{command}` exited {res.rc}: {said}")


def solve_and_check(target: Target, step: Step) -> None:
    solve(target, step)
    missing = check(target, step)
    if missing:
        raise FwlabError(f"step {step.number} solved, but its checkpoint still fails: {missing[0]}")


def passed(host: Any) -> list[int]:
    res = host.run(f"cat {PROGRESS_FILE}")
    return sorted(json.loads(res.stdout)["passed"]) if res.rc == 0 else []


def record(host: Any, number: int) -> None:
    done = sorted(set(passed(host)) | {number})
    text = json.dumps({"passed": done})
    host.run(f"sh -c {shlex.quote(f'echo {shlex.quote(text)} > {PROGRESS_FILE}')}")


def progress(target: Target) -> list[int]:
    """Checkpoints passed: those recorded, then any further ones that pass now, in order."""
    done = set(passed(target.host))
    for step in target.workshop.steps:
        if step.number not in done:
            if check(target, step):
                break
            done.add(step.number)
    return sorted(done)
