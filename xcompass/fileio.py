"""Reading and writing user files safely: regular files only, bounded reads, all-or-nothing
writes, never a truncated file after a failure.

Reading (`read_regular`, `open_regular`): only a regular file is read (a FIFO would block for
ever, `/dev/zero` never ends), opened without blocking, and never more than a stated limit.

Writing, three guarantees:
- `write_atomically` writes through a temporary file in the same folder and renames it over the
  destination, so a failure never leaves a half-written file; an error names the destination,
  never the temporary file. Destinations that are not regular files (`/dev/null`, a FIFO) are
  written in place, never replaced; a FIFO nobody reads is refused, not waited for (when
  staged, so nothing else has been written yet).
- `write_all` writes several files as one step: every text goes to a temporary file first,
  and only when all were written are they renamed into place.
- Inside `deferred_writes()` (xcompass-opt wraps its whole run in it), writes are queued instead
  of done: a pass's side file (`map-cost{report=...}`) appears only once the whole pipeline has
  succeeded, and a side file that would overwrite a protected path (the input IR file, the `-o`
  file) is refused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from xcompass.errors import XcompassError

KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words (for "not a regular file: a FIFO")."""
    return KINDS.get(stat.S_IFMT(mode), "not a plain file")


class NotRegularFile(OSError):
    """A path that names a FIFO, a device, a socket or a folder where a file is read."""


class TooLarge(OSError):
    """A file larger than what the reader accepts."""


def open_regular(path: str | os.PathLike[str], limit: int | None = None) -> int:
    """An fd open for reading on a regular file, never blocking on a FIFO; raises
    NotRegularFile / TooLarge / OSError naming `path`."""
    name = os.fspath(path)
    if not name:
        raise FileNotFoundError(errno.ENOENT, "empty file name", name)
    if "\0" in name:
        raise OSError(errno.EINVAL, "file name contains a NUL byte", name)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise NotRegularFile(exc.errno, "not a regular file: a folder", name) from None
        raise OSError(exc.errno, exc.strerror, name) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(errno.EINVAL, f"not a regular file: {kind_of(st.st_mode)}", name)
        if limit is not None and st.st_size > limit:
            raise TooLarge(
                errno.EFBIG, f"{st.st_size:,} bytes, larger than the {limit:,} accepted", name
            )
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """A regular file's bytes, at most `limit` of them (a file that grows past it while being
    read is refused too). Raises OSError subclasses naming `path`."""
    fd = open_regular(path, limit)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(errno.EFBIG, f"larger than the {limit:,} bytes accepted", os.fspath(path))
    return data


def check_readable(path: str) -> None:
    """Raise OSError when `path` is not a readable regular file (cheap; before any work)."""
    os.close(open_regular(path))


def check_writable(path: str) -> None:
    """Raise OSError (naming `path`) when `path` cannot be written: a folder, a name ending in
    `/`, a missing parent folder, a folder without write permission, a name too long for the
    OS, a FIFO, socket or device other than the null and terminal ones. Cheap; used to refuse
    bad outputs before any work."""
    if not path:
        raise FileNotFoundError(errno.ENOENT, "empty file name", path)
    if "\0" in path:
        raise OSError(errno.EINVAL, "file name contains a NUL byte", path)
    if path.endswith(("/", os.sep)):
        raise IsADirectoryError(errno.EISDIR, "names a folder (ends in /)", path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, path) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    if st is not None and not stat.S_ISREG(st.st_mode) and not _writable_device(st):
        raise NotRegularFile(errno.EINVAL, f"not a regular file: {kind_of(st.st_mode)}", path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    regular = st is None or stat.S_ISREG(st.st_mode)
    if regular and not os.access(folder, os.W_OK | os.X_OK):  # a temporary file goes there
        raise PermissionError(errno.EACCES, "no write permission in its folder", path)
    if not regular and not os.access(path, os.W_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
    if st is None and len(os.path.basename(path).encode(errors="replace")) > 255:
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), path)


def _writable_device(st: os.stat_result) -> bool:
    """A FIFO or a character device (`/dev/null`, a terminal): written in place, never
    replaced; a FIFO without a reader is refused when written (never waited for)."""
    return stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode)


def _open_in_place(path: str) -> int:
    """An fd to write a FIFO or device, opened without blocking on a FIFO nobody reads (that
    is an error now, before anything else is written)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OSError(exc.errno, "a FIFO no process reads", path) from None
        raise OSError(exc.errno, exc.strerror, path) from None
    os.set_blocking(fd, True)
    return fd


def _write_now(path: str, text: str) -> None:
    _commit(_stage(path, text))


@dataclass
class _Staged:
    path: str  # where it goes (a link resolved)
    text: str
    tmp: str | None  # the written temporary file; None: written in place at commit
    fd: int | None = None  # a FIFO or device, already open for writing


def _stage(path: str, text: str) -> _Staged:
    """Write `text` to a temporary file beside `path` (nothing of the user's changes yet)."""
    check_writable(path)
    if os.path.islink(path):  # replace the file the link points to, as open(path, "w") would
        path = os.path.realpath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):  # /dev/null, /dev/stdout, a FIFO
        return _Staged(path, text, None, _open_in_place(path))
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
    except OSError as exc:
        _discard(tmp)
        # name the file the user asked for, never the temporary one
        raise OSError(exc.errno, exc.strerror, path) from None
    except BaseException:
        _discard(tmp)
        raise
    return _Staged(path, text, tmp)


def _discard(tmp: str | None, fd: int | None = None) -> None:
    if tmp is not None and os.path.exists(tmp):
        os.unlink(tmp)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def _commit(staged: _Staged) -> None:
    if staged.fd is not None:
        fd, staged.fd = staged.fd, None
        with os.fdopen(fd, "w") as handle:
            handle.write(staged.text)
        return
    try:
        os.replace(staged.tmp, staged.path)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, staged.path) from None
    finally:
        _discard(staged.tmp)


def write_all(files: list[tuple[str, str]]) -> None:
    """Write several files as one step: all are staged (written to temporary files) before
    any is renamed into place, so a failure to write one leaves every destination as it was.
    The last text given for a path wins. FIFOs and devices are written last, in place."""
    last = {path: text for path, text in files}
    staged: list[_Staged] = []
    try:
        for path, text in last.items():
            staged.append(_stage(path, text))
    except BaseException:
        for s in staged:
            _discard(s.tmp, s.fd)
        raise
    try:
        for s in sorted(staged, key=lambda s: s.tmp is None):
            _commit(s)
    finally:
        for s in staged:
            _discard(s.tmp, s.fd)


@dataclass
class _Deferred:
    protected: dict[str, str]  # real path -> what it is ("the input IR file")
    queue: list[tuple[str, str]] = field(default_factory=list)


_deferred: _Deferred | None = None


def same_file(a: str, b: str) -> bool:
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def refuse_protected(path: str, protected: dict[str, str]) -> None:
    """XcompassError when `path` is one of the `protected` files (path -> what it is)."""
    for other, what in protected.items():
        if same_file(path, other):
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
    """Write queued files as one step (`write_all`; the last write to a path wins)."""
    write_all(queue)
