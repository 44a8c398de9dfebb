"""The nspawn provider's pure parts: subnet slots, the image cache check, names, preflight.

Nothing here creates a namespace, mounts or boots anything; it runs as any user.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from pathlib import Path

import pytest

from harness import internet
from harness.errors import FwlabError, UsageError
from harness.providers.nspawn import image, provider
from harness.providers.nspawn.image import ESSENTIAL, ImageRecipe, is_ready, problems
from harness.providers.nspawn.network import (
    LAB_ADDR,
    MGMT_RANGE,
    WAN_RULES,
    LabNet,
    mgmt_subnet,
    pick_slot,
)
from harness.providers.nspawn.provider import check_name, preflight


def net(cidr: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(cidr)


# -- network: slots and subnets ----------------------------------------------------------
RANGE = "100.127.0.0/16"


def test_pick_slot_takes_the_first_free_slot() -> None:
    assert pick_slot(set(), [], RANGE) == 0
    assert pick_slot({0, 1, 3}, [], RANGE) == 2


def test_pick_slot_skips_slots_under_existing_host_routes() -> None:
    # 100.127.0.0/24 covers slots 0..63 (sixty-four /30s).
    assert pick_slot(set(), [net("100.127.0.0/24")], RANGE) == 64
    assert pick_slot({64}, [net("100.127.0.0/24")], RANGE) == 65
    # A host route to one address knocks out only its own /30.
    assert pick_slot(set(), [net("100.127.0.1/32")], RANGE) == 1
    # Routes elsewhere do not matter.
    assert pick_slot(set(), [net("10.0.0.0/8"), net("192.168.1.0/24")], RANGE) == 0


def test_pick_slot_full_range() -> None:
    with pytest.raises(FwlabError, match=r"no free management subnet in 100\.127\.0\.0/30"):
        pick_slot({0}, [], "100.127.0.0/30")
    assert pick_slot(set(), [], "100.127.0.0/30") == 0
    # A /29 holds two /30s.
    assert pick_slot({0}, [], "100.127.0.0/29") == 1
    with pytest.raises(FwlabError, match=r"no free management subnet in 100\.127\.0\.0/29"):
        pick_slot({0, 1}, [], "100.127.0.0/29")
    with pytest.raises(FwlabError, match="no free management subnet"):
        pick_slot({0}, [net("100.127.0.4/30")], "100.127.0.0/29")


@pytest.mark.parametrize("small", ["100.127.0.0/31", "100.127.0.0/32"])
def test_pick_slot_rejects_a_range_smaller_than_a_30(small: str) -> None:
    with pytest.raises(FwlabError, match="is smaller than a /30"):
        pick_slot(set(), [], small)


def test_mgmt_subnet() -> None:
    assert mgmt_subnet(0, RANGE) == net("100.127.0.0/30")
    assert mgmt_subnet(1, RANGE) == net("100.127.0.4/30")
    assert mgmt_subnet(64, RANGE) == net("100.127.1.0/30")
    assert mgmt_subnet(16383, RANGE) == net("100.127.255.252/30")
    with pytest.raises(FwlabError, match=r"slot 16384 is outside 100\.127\.0\.0/16"):
        mgmt_subnet(16384, RANGE)
    with pytest.raises(FwlabError, match="slot 2 is outside"):
        mgmt_subnet(2, "100.127.0.0/29")


def test_pick_slot_and_mgmt_subnet_agree() -> None:
    slot = pick_slot({0}, [net("100.127.0.0/28")], RANGE)
    subnet = mgmt_subnet(slot, RANGE)
    assert subnet == net("100.127.0.16/30")
    assert not subnet.overlaps(net("100.127.0.0/28"))


def test_labnet_names_and_addresses() -> None:
    lab = LabNet("t1", 5)
    assert lab.lab_ns == "fwlab-t1"
    assert lab.wan_ns == "fwlab-t1-wan"
    assert lab.host_veth == "fwlab5"
    subnet = mgmt_subnet(5)  # the configured range (FWLAB_MGMT_RANGE or 100.127.0.0/16)
    assert lab.subnet == subnet
    assert subnet.prefixlen == 30
    assert lab.host_addr == str(subnet.network_address + 1)
    assert lab.ssh_addr == str(subnet.network_address + 2)
    assert ipaddress.ip_address(lab.ssh_addr) in subnet
    if MGMT_RANGE == RANGE:
        assert (lab.host_addr, lab.ssh_addr) == ("100.127.0.21", "100.127.0.22")


def test_labnet_veth_names_fit_ifnamsiz() -> None:
    last = len(list(ipaddress.ip_network(MGMT_RANGE).subnets(new_prefix=30))) - 1
    assert len(LabNet("x", last).host_veth) <= 15


def test_wan_rules_format_to_nft_text() -> None:
    text = WAN_RULES.format(lab=LAB_ADDR, host="100.127.0.1")
    assert text.startswith("table inet fwlab {\n")
    assert "{{" not in text and "}}" not in text
    assert text.count("{") == text.count("}")
    assert f"dnat ip to {LAB_ADDR}:22" in text
    assert "dnat ip to 10.0.2.15:22" in text
    assert 'oifname "wan0" ip saddr 100.127.0.1 masquerade' in text
    forward = re.search(r"chain forward \{(.*?)\n    \}", text, re.S)
    assert forward is not None
    body = forward.group(1)
    assert "policy drop;" in body
    assert "ct state established,related accept" in body
    assert 'iifname "mgmt0" oifname "wan0" ip daddr 10.0.2.15 tcp dport 22 accept' in body
    assert "counter name escape reject" in body
    # The only accept for new flows is SSH: the reject comes after it.
    assert body.index("tcp dport 22 accept") < body.index("reject")


def test_internet_address_is_a_documentation_address() -> None:
    assert ipaddress.ip_address(internet.ADDR) in net("203.0.113.0/24")


# -- image: the cache key -----------------------------------------------------------------
def test_recipe_key_is_stable() -> None:
    a = ImageRecipe(suite="bullseye")
    b = ImageRecipe(suite="bullseye")
    assert a.key == b.key
    assert re.fullmatch(r"[0-9a-f]{16}", a.key)
    # The key of a fixed recipe never changes: caches built by older fwlab stay valid.
    assert ImageRecipe("bullseye", ("a", "b"), 1).key == "6eb5a35e6bd9a813"


def test_recipe_key_ignores_package_order() -> None:
    assert ImageRecipe("bullseye", ("b", "a")).key == ImageRecipe("bullseye", ("a", "b")).key


def test_recipe_key_changes_with_every_input() -> None:
    base = ImageRecipe(suite="bullseye")
    keys = {
        base.key,
        ImageRecipe(suite="bookworm").key,
        ImageRecipe(suite="bullseye", packages=(*image.PACKAGES, "strace")).key,
        ImageRecipe(suite="bullseye", packages=image.PACKAGES[:-1]).key,
        ImageRecipe(suite="bullseye", customisation=base.customisation + 1).key,
    }
    assert len(keys) == 5


def test_mmdebstrap_takes_a_mirror_whose_release_file_has_expired(tmp_path: Path) -> None:
    # sid's Release expires within a week; a frozen or snapshot mirror must still build.
    cmd = image.bootstrap_command("mmdebstrap", ImageRecipe("sid"), tmp_path)
    assert 'Acquire::Check-Valid-Until "false"' in " ".join(cmd)
    assert cmd[-3:] == ["sid", str(tmp_path), image.MIRROR]
    assert not any(
        "aptopt" in arg
        for arg in image.bootstrap_command("debootstrap", ImageRecipe("sid"), tmp_path)
    )


@pytest.mark.parametrize("suite", ["buster", "stretch", ""])
def test_unknown_suite(suite: str) -> None:
    with pytest.raises(
        UsageError, match=r"unknown OS release .*\(known: bullseye, bookworm, trixie, sid\)"
    ):
        ImageRecipe(suite=suite)


def test_trixie_and_sid_images_carry_docker_cli() -> None:
    assert "docker-cli" in ImageRecipe(suite="trixie").packages
    assert "docker-cli" in ImageRecipe(suite="sid").packages
    assert "docker-cli" not in ImageRecipe(suite="bookworm").packages


# -- image: is the cached image usable? ---------------------------------------------------
@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FWLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FWLAB_IMAGE_CACHE", str(tmp_path / "images"))
    return tmp_path / "images"


def fake_image(recipe: ImageRecipe) -> None:
    """Every essential file (distinct sizes) and a manifest that matches them."""
    files = {}
    for i, rel in enumerate(ESSENTIAL):
        path = recipe.rootfs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * (i + 1))
        files[rel] = i + 1
    manifest = {"key": recipe.key, "suite": recipe.suite, "files": files}
    recipe.manifest_path.write_text(json.dumps(manifest))


def test_image_paths_follow_the_cache(cache: Path) -> None:
    recipe = ImageRecipe(suite="bookworm")
    assert recipe.folder == cache / f"bookworm-{recipe.key}"
    assert recipe.rootfs == recipe.folder / "rootfs"
    assert recipe.manifest_path == recipe.folder / "manifest.json"


def test_image_cache_defaults_under_fwlab_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FWLAB_IMAGE_CACHE", raising=False)
    monkeypatch.setenv("FWLAB_HOME", str(tmp_path))
    assert ImageRecipe(suite="bullseye").folder.parent == tmp_path / "images"


def test_complete_image_is_ready(cache: Path) -> None:
    recipe = ImageRecipe(suite="bullseye")
    fake_image(recipe)
    assert problems(recipe) == []
    assert is_ready(recipe)
    # ensure() uses it as it is: no debootstrap, no lock contention.
    assert image.ensure(recipe) is recipe


def test_no_manifest(cache: Path) -> None:
    recipe = ImageRecipe(suite="bullseye")
    assert problems(recipe) == ["no manifest (never built, or the build was interrupted)"]
    assert not is_ready(recipe)
    fake_image(recipe)
    recipe.manifest_path.unlink()
    assert not is_ready(recipe)


def test_unreadable_manifest(cache: Path) -> None:
    recipe = ImageRecipe(suite="bullseye")
    fake_image(recipe)
    recipe.manifest_path.write_text("{not json")
    [problem] = problems(recipe)
    assert problem.startswith("unreadable manifest: ")


def test_wrong_key(cache: Path) -> None:
    recipe = ImageRecipe(suite="bullseye")
    fake_image(recipe)
    manifest = json.loads(recipe.manifest_path.read_text())
    manifest["key"] = "0123456789abcdef"
    recipe.manifest_path.write_text(json.dumps(manifest))
    assert problems(recipe) == [f"manifest key '0123456789abcdef' is not {recipe.key!r}"]
    assert not is_ready(recipe)


def test_missing_essential_file(cache: Path) -> None:
    recipe = ImageRecipe(suite="bullseye")
    fake_image(recipe)
    (recipe.rootfs / "usr/sbin/dockerd").unlink()
    assert problems(recipe) == ["usr/sbin/dockerd is missing"]
    assert not is_ready(recipe)


def test_essential_path_that_is_a_folder_counts_as_missing(cache: Path) -> None:
    recipe = ImageRecipe(suite="bullseye")
    fake_image(recipe)
    (recipe.rootfs / "usr/sbin/nft").unlink()
    (recipe.rootfs / "usr/sbin/nft").mkdir()
    assert problems(recipe) == ["usr/sbin/nft is missing"]


def test_size_mismatch(cache: Path) -> None:
    recipe = ImageRecipe(suite="bullseye")
    fake_image(recipe)
    index = ESSENTIAL.index("usr/bin/docker")
    (recipe.rootfs / "usr/bin/docker").write_bytes(b"truncated-or-grown" * 10)
    assert problems(recipe) == [f"usr/bin/docker has size 180, expected {index + 1}"]
    assert not is_ready(recipe)


def test_several_problems_are_all_reported(cache: Path) -> None:
    recipe = ImageRecipe(suite="bullseye")
    fake_image(recipe)
    (recipe.rootfs / "usr/sbin/sshd").unlink()
    (recipe.rootfs / "usr/bin/python3").write_bytes(b"")
    found = problems(recipe)
    assert "usr/sbin/sshd is missing" in found
    assert any(p.startswith("usr/bin/python3 has size 0, expected ") for p in found)
    assert len(found) == 2


def test_manifest_that_leaves_out_an_essential_file(cache: Path) -> None:
    recipe = ImageRecipe(suite="bullseye")
    fake_image(recipe)
    manifest = json.loads(recipe.manifest_path.read_text())
    del manifest["files"]["usr/sbin/firewalld"]
    recipe.manifest_path.write_text(json.dumps(manifest))
    assert problems(recipe) == ["manifest does not list the essential files"]


def test_other_recipes_image_is_not_ours(cache: Path) -> None:
    bullseye = ImageRecipe(suite="bullseye")
    fake_image(bullseye)
    assert not is_ready(ImageRecipe(suite="bookworm"))
    assert not is_ready(ImageRecipe(suite="bullseye", customisation=bullseye.customisation + 1))


# -- provider: names and preflight --------------------------------------------------------
@pytest.mark.parametrize("name", ["t1", "lab-3", "a", "x" * 32, "docker-19-03-on"])
def test_check_name_accepts(name: str) -> None:
    check_name(name)


@pytest.mark.parametrize(
    "name", ["1abc", "Bad", "a_b", "x" * 33, "", "-lab", "a.b", "a b", "lab/1", "é"]
)
def test_check_name_rejects(name: str) -> None:
    with pytest.raises(UsageError, match="bad lab name"):
        check_name(name)


def test_check_name_rejects_a_trailing_newline() -> None:
    with pytest.raises(UsageError, match="bad lab name"):
        check_name("t1\n")


def test_preflight_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provider.os, "geteuid", lambda: 1000)
    with pytest.raises(UsageError, match="needs root"):
        preflight()


def test_preflight_names_the_missing_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provider.os, "geteuid", lambda: 0)

    def which(tool: str, *args: object, **kwargs: object) -> str | None:
        return None if tool == "debootstrap" else f"/usr/bin/{tool}"

    monkeypatch.setattr(provider.shutil, "which", which)
    with pytest.raises(UsageError, match=r"^missing debootstrap: run ./scripts/run setup"):
        preflight()


def test_preflight_names_every_missing_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provider.os, "geteuid", lambda: 0)
    monkeypatch.setattr(provider.shutil, "which", lambda tool, *a, **k: None)
    with pytest.raises(UsageError, match=r"^missing systemd-nspawn, debootstrap, dnsmasq, nft,"):
        preflight()


def test_preflight_passes_as_root_with_every_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provider.os, "geteuid", lambda: 0)
    monkeypatch.setattr(provider.shutil, "which", lambda tool, *a, **k: f"/usr/bin/{tool}")
    preflight()


def test_concurrent_ensures_build_the_image_once(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache lock: a second process waits, then finds the image ready."""
    import threading
    import time

    builds: list[str] = []

    def slow_build(recipe: ImageRecipe, say: object) -> None:
        builds.append(recipe.key)
        time.sleep(0.3)
        recipe.folder.mkdir(parents=True)
        fake_image(recipe)

    monkeypatch.setattr(image, "build", slow_build)
    recipe = ImageRecipe(suite="bullseye")
    threads = [threading.Thread(target=image.ensure, args=(recipe,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert builds == [recipe.key] and is_ready(recipe)


def test_stale_image_builds_are_removed_only_when_their_process_is_gone(cache: Path) -> None:
    cache.mkdir(parents=True)
    dead = cache / "bullseye-x.building-999999999"
    alive = cache / f"bullseye-x.building-{os.getpid()}"
    dead.mkdir()
    alive.mkdir()
    assert image.remove_stale_builds() == [f"unfinished image build {dead}"]
    assert not dead.exists() and alive.exists()
