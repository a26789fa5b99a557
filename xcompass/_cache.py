"""Where numba keeps the compiled engine: a user cache directory keyed on the kernel sources,
never the installed package.

numba's default (`cache=True`) writes `*.nbi`/`*.nbc` into the package's `__pycache__`: an
installed package then holds files pip does not know about (they survive an uninstall and
shadow a later editable install), and a kernel that inlines a helper from another file is not
recompiled when only that file changes. Here numba's documented `NUMBA_CACHE_DIR` setting
points at `<cache>/numba-<key>`, where `<cache>` is `$XDG_CACHE_HOME/xcompass` (default
`~/.cache/xcompass`) and `<key>` hashes every core module that compiles with numba together
with the core modules whose source its kernels can freeze (other kernel modules, whose
functions they inline, and modules they take constants from). Any edit to those files is a
new key, so a stale compiled kernel cannot be loaded; an unchanged tree finds its kernels
compiled by an earlier process (another clone or install with the same sources shares the
directory: numba separates them by source path inside it).

`NUMBA_CACHE_DIR` set by the user is honoured as the root (`$NUMBA_CACHE_DIR/xcompass/
numba-<key>`); worker processes inherit the final directory unchanged. The setting is made
when `xcompass` is imported, before any kernel is compiled; it is process-wide, so other numba
code in the same process caches there too.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
PREFIX = "numba-"
KEEP_UNUSED_S = 30 * 24 * 3600
"""Sibling cache directories (older sources) untouched this long are removed."""

_USES_NUMBA = re.compile(rb"^[ \t]*(?:import numba|from numba[ .])", re.M)
_MODULE = rb"(xcompass(?:\.\w+)*|\.+\w*(?:\.\w+)*)"
_FROM = re.compile(rb"^[ \t]*from[ \t]+" + _MODULE + rb"[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.M)
_IMPORT = re.compile(rb"^[ \t]*import[ \t]+(xcompass(?:\.\w+)+)", re.M)
_CONSTANT = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _module_file(name: str, package: Path) -> Path | None:
    """The file of core module `xcompass.a.b` (None outside the core package)."""
    parts = name.split(".")[1:]
    base = package.joinpath(*parts) if parts else package
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _absolute(name: str, path: Path, package: Path) -> str | None:
    """`.a.b` imported by `path`, as `xcompass.x.a.b` (None if it climbs out)."""
    if not name.startswith("."):
        return name
    dots = len(name) - len(name.lstrip("."))
    rel = path.relative_to(package).parent.parts
    if dots - 1 > len(rel):
        return None
    return ".".join(("xcompass", *rel[: len(rel) - (dots - 1)], *name[dots:].split("."))).rstrip(
        "."
    )


def _names(clause: bytes) -> list[str]:
    """The imported names of `a, B as c, (d, ...)`, comments dropped."""
    text = re.sub(r"#[^\n]*", "", clause.decode()).strip().strip("()")
    return [part.split()[0] for part in text.split(",") if part.strip()]


def _frozen_deps(path: Path, text: bytes, kernels: set[Path], package: Path) -> set[Path]:
    """Core modules whose source a kernel in `path` can freeze: another kernel module (an
    inlined function), a module that `path` takes an UPPER_CASE constant or `*` from, or one
    imported whole. Classes and plain functions cannot enter nopython code; a constant
    re-exported through a second module is not followed."""
    out: set[Path] = set()
    for raw, clause in _FROM.findall(text):
        name = _absolute(raw.decode(), path, package)
        found = _module_file(name, package) if name else None
        if found is None:
            continue
        names = _names(clause)
        if found in kernels or "*" in names or any(_CONSTANT.match(n) for n in names):
            out.add(found)
    for raw in _IMPORT.findall(text):
        found = _module_file(raw.decode(), package)
        if found is not None:
            out.add(found)
    return out


def kernel_sources(package: Path = PACKAGE) -> list[Path]:
    """Every core module that uses numba, and the core modules whose source its compiled
    kernels can depend on (`_frozen_deps`)."""
    texts = {p: p.read_bytes() for p in sorted(package.rglob("*.py"))}
    kernels = {p for p, t in texts.items() if b"numba" in t and _USES_NUMBA.search(t)}
    deps = set(kernels)
    for p in kernels:
        deps |= _frozen_deps(p, texts[p], kernels, package)
    return sorted(deps)


def source_key(package: Path = PACKAGE) -> str:
    """16 hex digits over the kernel sources' relative paths and contents."""
    h = hashlib.sha256()
    for p in kernel_sources(package):
        h.update(p.relative_to(package).as_posix().encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def cache_root(env: dict[str, str] | None = None) -> Path:
    """The directory that holds one `numba-<key>` folder per kernel-source version."""
    env = os.environ if env is None else env
    if env.get("NUMBA_CACHE_DIR"):
        return Path(env["NUMBA_CACHE_DIR"]).absolute() / "xcompass"
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "xcompass"


def _writable(path: Path) -> bool:
    import tempfile

    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            return True
    except OSError:
        return False


def _prune(root: Path, keep: Path) -> None:
    """Drop cache folders of older sources nobody used for `KEEP_UNUSED_S`."""
    import shutil

    now = time.time()
    for old in root.glob(PREFIX + "*"):
        try:
            if old != keep and now - old.stat().st_mtime > KEEP_UNUSED_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass


def numba_cache_dir(env: dict[str, str] | None = None) -> Path:
    """The keyed directory for this source tree (created; a temporary one when the user
    cache is not writable). An inherited `NUMBA_CACHE_DIR` that already is one is kept."""
    env = os.environ if env is None else env
    key = source_key()
    inherited = env.get("NUMBA_CACHE_DIR", "")
    if inherited and Path(inherited).name == PREFIX + key:
        return Path(inherited)
    root = cache_root(env)
    target = root / (PREFIX + key)
    if target.is_dir() and os.access(target, os.W_OK | os.X_OK):
        os.utime(target)  # in use: not pruned
        return target
    if not _writable(target):
        import tempfile

        uid = getattr(os, "getuid", lambda: "user")()
        target = Path(tempfile.gettempdir()) / f"xcompass-{uid}" / (PREFIX + key)
        target.mkdir(parents=True, exist_ok=True)
        return target
    _prune(root, target)  # a new source version: drop the long unused ones
    return target


def configure_numba() -> Path | None:
    """Point numba's cache at `numba_cache_dir()` (before any kernel compiles; numba imported
    already is told through `numba.config`). None if the directory cannot be set up."""
    try:
        target = numba_cache_dir()
    except OSError:
        return None
    os.environ["NUMBA_CACHE_DIR"] = str(target)
    config = sys.modules.get("numba.core.config")
    if config is not None:
        config.CACHE_DIR = str(target)
    return target
