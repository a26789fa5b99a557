"""Writing user files safely: all or nothing, never a truncated file after a failure.

Two guarantees:
- `write_atomically` writes through a temporary file in the same folder and renames it over the
  destination, so a failure never leaves a half-written file; an error names the destination,
  never the temporary file. Destinations that are not regular files (`/dev/null`, a FIFO) are
  written in place, never replaced.
- Inside `deferred_writes()` (xcompass-opt wraps its whole run in it), writes are queued instead
  of done: a pass's side file (`map-cost{report=...}`) appears only once the whole pipeline has
  succeeded, and a side file that would overwrite a protected path (the input IR file, the `-o`
  file) is refused.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from xcompass.errors import XcompassError


def check_writable(path: str) -> None:
    """Raise OSError (naming `path`) when `path` cannot be written: a folder, a missing parent
    folder, a name too long for the OS. Cheap; used to refuse bad outputs before any work."""
    if not path:
        raise FileNotFoundError(errno.ENOENT, "empty file name", path)
    if "\0" in path:
        raise OSError(errno.EINVAL, "file name contains a NUL byte", path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, path) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    if st is None and len(os.path.basename(path).encode(errors="replace")) > 255:
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), path)


def _write_now(path: str, text: str) -> None:
    check_writable(path)
    if os.path.islink(path):  # replace the file the link points to, as open(path, "w") would
        path = os.path.realpath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):  # /dev/null, /dev/stdout, a FIFO
        with open(path, "w") as handle:
            handle.write(text)
        return
    folder = os.path.dirname(os.path.abspath(path))
    if st is not None:
        mode = stat.S_IMODE(st.st_mode)
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".xcompass-", suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        # name the file the user asked for, never the temporary one
        raise OSError(exc.errno, exc.strerror, path) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


@dataclass
class _Deferred:
    protected: dict[str, str]  # real path -> what it is ("the input IR file")
    queue: list[tuple[str, str]] = field(default_factory=list)


_deferred: _Deferred | None = None


def _same_file(a: str, b: str) -> bool:
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def refuse_protected(path: str, protected: dict[str, str]) -> None:
    """XcompassError when `path` is one of the `protected` files (path -> what it is)."""
    for other, what in protected.items():
        if _same_file(path, other):
            raise XcompassError(
                f"refusing to write side file '{path}': it is {what} (give it another path)"
            )


def write_atomically(path: str, text: str) -> None:
    """Write `text` to `path` all at once (see the module docstring); queued, not written,
    inside `deferred_writes()`.

    The result gets the mode an ordinary `open(path, "w")` would give: the existing file's
    mode when replacing one, else 0666 less the umask."""
    if _deferred is None:
        _write_now(path, text)
        return
    refuse_protected(path, _deferred.protected)
    check_writable(path)
    _deferred.queue.append((path, text))


write_side_file = write_atomically
"""The name passes use for files they write beside the IR (reports)."""


@contextmanager
def deferred_writes(protected: dict[str, str] | None = None) -> Iterator[list[tuple[str, str]]]:
    """Queue every write in the block; yields the queue (path, text) for `flush`. The queue is
    dropped when the block fails, so nothing is written."""
    global _deferred
    previous = _deferred
    _deferred = _Deferred(dict(protected or {}))
    try:
        yield _deferred.queue
    finally:
        _deferred = previous


def flush(queue: list[tuple[str, str]]) -> None:
    """Write queued files (the last write to a path wins)."""
    last = {path: text for path, text in queue}
    for path, text in last.items():
        _write_now(path, text)
