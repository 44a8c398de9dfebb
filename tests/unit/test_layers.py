"""Provisioned layers in a temporary cache, with a stand-in build: a layer is built once per
recipe; a stale, incomplete or changed one is rebuilt, never used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import pipeline
from harness.providers.nspawn import layers
from harness.providers.nspawn.image import ImageRecipe


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FWLAB_LAYER_CACHE", str(tmp_path / "layers"))
    return tmp_path / "layers"


class Builds:
    """A stand-in for provisioning a lab: writes each part, counts the builds."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, staging: Path) -> None:
        self.count += 1
        for part in layers.PARTS:
            (staging / part).mkdir()
            (staging / part / "state").write_text(f"build {self.count}\n")
        (staging / "upper" / "etc").mkdir()
        (staging / "upper" / "etc" / "machine-id").write_text("one machine's own\n")


def layer_of(recipe: pipeline.Recipe) -> layers.Layer:
    return layers.Layer(ImageRecipe("bullseye"), recipe.key)


BUG = pipeline.Recipe("bullseye", "19.03", "on")


def test_a_layer_is_built_once_and_then_used() -> None:
    build = Builds()
    layer = layers.ensure(layer_of(BUG), build, lambda _m: None)
    assert layers.problems(layer) == []
    layers.ensure(layer_of(BUG), build, lambda _m: None)
    assert build.count == 1
    assert not (layer.part("upper") / "etc" / "machine-id").exists()  # never shared


def test_another_recipe_is_another_layer_never_the_old_one() -> None:
    build = Builds()
    old = layers.ensure(layer_of(BUG), build, lambda _m: None)
    changed = pipeline.Recipe("bullseye", "20.10", "on")
    new = layers.ensure(layer_of(changed), build, lambda _m: None)
    assert build.count == 2 and new.folder != old.folder
    assert (new.part("docker") / "state").read_text() == "build 2\n"


def test_the_live_state_is_kept_as_the_state_it_comes_from() -> None:
    trap = pipeline.Recipe("bullseye", "20.10", "stopped-no-restart")
    assert trap.key == pipeline.Recipe("bullseye", "20.10", "on").key


@pytest.mark.parametrize(
    ("spoil", "why"),
    [
        (lambda layer: layer.manifest_path.unlink(), "no manifest"),
        (lambda layer: layer.manifest_path.write_text("{"), "unreadable manifest"),
        (
            lambda layer: layer.manifest_path.write_text(
                json.dumps({**json.loads(layer.manifest_path.read_text()), "key": "older"})
            ),
            "(stale)",
        ),
        (
            lambda layer: (layer.part("docker") / "state").write_text("edited by hand\n"),
            "has changed",
        ),
        (lambda layer: (layer.part("containerd") / "state").unlink(), "has changed"),
    ],
    ids=["interrupted", "unreadable", "stale", "changed", "incomplete"],
)
def test_a_spoilt_layer_is_discarded_and_rebuilt(spoil, why: str) -> None:  # type: ignore[no-untyped-def]
    build = Builds()
    layer = layers.ensure(layer_of(BUG), build, lambda _m: None)
    spoil(layer)
    assert any(why in problem for problem in layers.problems(layer))
    said: list[str] = []
    layers.ensure(layer, build, said.append)
    assert build.count == 2 and layers.problems(layer) == []
    assert said[0].startswith("discarding provisioned layer") and why in said[0]
    assert (layer.part("docker") / "state").read_text() == "build 2\n"


def test_a_failed_build_leaves_no_layer_and_no_staging(cache: Path) -> None:
    def broken(staging: Path) -> None:
        (staging / "upper").mkdir()
        raise RuntimeError("provisioning failed")

    with pytest.raises(RuntimeError):
        layers.ensure(layer_of(BUG), broken, lambda _m: None)
    assert [p.name for p in cache.iterdir() if not p.name.startswith(".")] == []
