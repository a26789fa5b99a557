"""numba's compiled kernels go to a user cache directory keyed on the kernel sources (issue 14
item 1, issue 17 item 4): never into the package, never stale after an edit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from xcompass import _cache


def _tree(root: Path) -> Path:
    """A fake core package: a kernel module, another kernel module it inlines from, a module
    it takes a constant from, one it takes only a class from, and an unrelated one."""
    pkg = root / "xcompass"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "kern.py").write_text(
        "from numba import njit\n"
        "from xcompass.consts import (  # noqa: F401\n    helper_fn,\n    EPS as eps,\n)\n"
        "from .sub.helpers import f\n"
        "from xcompass.shapes import Shape\n"
    )
    (pkg / "consts.py").write_text("EPS = 1e-9\n")
    (pkg / "sub" / "helpers.py").write_text("from numba import njit\ndef f(): return 1\n")
    (pkg / "shapes.py").write_text("class Shape: pass\n")
    (pkg / "other.py").write_text("X = 1  # mentions numba in a comment only\n")
    return pkg


def test_the_key_covers_what_a_kernel_can_freeze_and_nothing_else(tmp_path):
    pkg = _tree(tmp_path)
    names = {p.relative_to(pkg).as_posix() for p in _cache.kernel_sources(pkg)}
    assert names == {"kern.py", "consts.py", "sub/helpers.py"}
    key = _cache.source_key(pkg)
    for unrelated in ("other.py", "shapes.py"):  # a class cannot enter nopython code
        (pkg / unrelated).write_text("X = 2\n")
        assert _cache.source_key(pkg) == key, unrelated
    (pkg / "consts.py").write_text("EPS = 1e-12\n")  # a constant a kernel freezes
    changed = _cache.source_key(pkg)
    assert changed != key
    (pkg / "sub" / "helpers.py").write_text("from numba import njit\ndef f(): return 2\n")
    assert _cache.source_key(pkg) != changed  # a function a kernel inlines


def test_the_real_kernels_are_keyed():
    # schedule_core holds the physics both kernels inline (issue 17 item 4)
    names = {p.name for p in _cache.kernel_sources()}
    assert {"schedule_jit.py", "schedule_dag.py", "schedule_core.py"} <= names


def test_the_cache_root_follows_the_user_settings(tmp_path):
    assert _cache.cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "xcompass"
    assert _cache.cache_root({"XDG_CACHE_HOME": "relative"}) == Path.home() / ".cache/xcompass"
    got = _cache.cache_root({"NUMBA_CACHE_DIR": str(tmp_path), "XDG_CACHE_HOME": "/elsewhere"})
    assert got == tmp_path / "xcompass"


def test_the_directory_is_keyed_and_outside_the_package(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    got = _cache.numba_cache_dir(env)
    assert got == tmp_path / "xcompass" / f"numba-{_cache.source_key()}"
    assert got.is_dir()
    assert _cache.PACKAGE not in got.parents
    # a worker process inherits the keyed directory and keeps it as it is
    assert _cache.numba_cache_dir({"NUMBA_CACHE_DIR": str(got)}) == got


def test_old_sources_caches_are_pruned_when_unused(tmp_path):
    root = tmp_path / "xcompass"
    stale, recent = root / "numba-0000000000000000", root / "numba-1111111111111111"
    for d in (stale, recent):
        d.mkdir(parents=True)
    old = os.path.getmtime(stale) - _cache.KEEP_UNUSED_S - 60
    os.utime(stale, (old, old))
    _cache.numba_cache_dir({"XDG_CACHE_HOME": str(tmp_path)})
    assert not stale.exists() and recent.exists()


def test_an_unwritable_cache_falls_back_to_a_temporary_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    got = _cache.numba_cache_dir({"XDG_CACHE_HOME": str(blocker)})
    assert got.is_dir() and got.name == f"numba-{_cache.source_key()}"
    assert blocker not in got.parents


def test_importing_xcompass_sends_numba_s_cache_to_the_keyed_directory(tmp_path):
    """A kernel compiled with cache=True after `import xcompass` lands in the keyed user
    directory, and nothing lands beside its source."""
    mod = tmp_path / "src" / "kernel_mod.py"
    mod.parent.mkdir()
    mod.write_text("from numba import njit\n\n@njit(cache=True)\ndef twice(x):\n    return 2 * x\n")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = os.pathsep.join([str(mod.parent), env.get("PYTHONPATH", "")])
    code = "import xcompass, kernel_mod, os; print(kernel_mod.twice(21)); "
    code += "print(os.environ['NUMBA_CACHE_DIR'])"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "42"
    keyed = tmp_path / "cache" / "xcompass" / f"numba-{_cache.source_key()}"
    assert Path(out[1]) == keyed
    assert list(keyed.rglob("*.nbi")), "numba wrote no index into the keyed directory"
    assert not list(mod.parent.rglob("*.nbi")), "numba wrote beside the source"
