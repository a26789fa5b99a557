"""Writing user files safely: all or nothing, never a truncated file after a failure."""

from __future__ import annotations

import os
import stat
import tempfile


def write_atomically(path: str, text: str) -> None:
    """Write via a temporary file in the same folder and rename over `path`.

    The result gets the mode an ordinary `open(path, "w")` would give: the existing file's
    mode when replacing one, else 0666 less the umask.
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".xcompass-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
