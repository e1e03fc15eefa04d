"""The Python side installs from requirements.lock (scripts/lock): every package pinned, with hashes.

These checks fail when pyproject.toml gains or changes a pin without re-running scripts/lock, when an
entry lacks hashes (pip's --require-hashes would refuse the whole file), when the virtualenv drifted
from the lock, or when scripts/lib.sh stops reinstalling on a lock change.
"""

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _lock_entries() -> dict[str, tuple[str, str | None, int]]:
    """name -> (version, marker or None, number of hashes), one per requirement line of the lock."""
    text = (ROOT / "requirements.lock").read_text()
    entries: dict[str, tuple[str, str | None, int]] = {}
    # An entry is "name==version [; marker] \" followed by its "--hash=" continuation lines.
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = block.split("\\", 1)[0].strip()
        if not head or head.startswith("#"):
            continue
        req = Requirement(head)
        (spec,) = req.specifier
        assert spec.operator == "==", head
        marker = str(req.marker) if req.marker else None
        entries[f"{canonicalize_name(req.name)}|{marker}"] = (spec.version, marker, block.count("--hash=sha256:"))
    return entries


def _pyproject_pins() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]


def test_every_top_level_pin_is_locked_at_the_same_version():
    locked: dict[str, set[str]] = {}
    for key, (version, _marker, _n) in _lock_entries().items():
        locked.setdefault(key.split("|")[0], set()).add(version)
    for req in _pyproject_pins():
        (spec,) = req.specifier
        name = canonicalize_name(req.name)
        assert name in locked, f"{req.name} is in pyproject.toml but not in requirements.lock: run scripts/lock"
        assert spec.version in locked[name], f"{req.name}=={spec.version} but the lock has {locked[name]}: run scripts/lock"


def test_every_locked_package_has_hashes():
    entries = _lock_entries()
    assert len(entries) > 50  # the transitive closure, not only the top level
    unhashed = [key for key, (_v, _m, n) in entries.items() if n == 0]
    assert not unhashed


def test_the_virtualenv_holds_exactly_the_locked_versions():
    drift = []
    for key, (version, marker, _n) in _lock_entries().items():
        if marker and not Marker(marker).evaluate():
            continue
        name = key.split("|")[0]
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            drift.append(f"{name}: not installed")
            continue
        if installed != version:
            drift.append(f"{name}: {installed} installed, {version} locked")
    assert not drift, drift


def test_the_install_step_uses_the_lock_and_reinstalls_when_it_changes():
    lib = (ROOT / "scripts/lib.sh").read_text()
    want = next(line for line in lib.splitlines() if "local want;" in line)
    assert "requirements.lock" in want
    assert re.search(r"pip install -q --require-hashes -r \"\$ROOT/requirements\.lock\"", lib)
    assert "--no-deps -e" in lib
