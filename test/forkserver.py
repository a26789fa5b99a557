"""A fork server for lit: runs `xcompass`, `xcompass-opt` and `filecheck` without a fresh
interpreter each.

lit starts ~330 `xcompass`/`xcompass-opt` processes; each spent ~0.3 s of CPU importing xDSL,
numpy and xcompass before doing ~10 ms of work, which was most of lit's time (and ~280
`filecheck` runs, ~0.06 s each). `lit.cfg` starts this server once (it imports everything
once), and puts small client scripts first
on the tests' PATH. A client (Python without `site`, ~10 ms) hands the server its argv, working
directory, environment and its stdin/stdout/stderr file descriptors; the server forks, the
child runs the tool's console entry point on those descriptors exactly as the installed script
would (`sys.exit(main())`), and the client exits with the child's status. What a test sees (the
bytes on stdout and stderr, the exit status, the files written) is what the installed tool
gives; only the interpreter start-up is shared.

A client that cannot reach the server runs the installed tool itself, so a test never depends
on the server. `XCOMPASS_LIT_FORKSERVER=0` turns it off for a whole lit run.
"""

from __future__ import annotations

import atexit
import importlib
import io
import json
import os
import signal
import socket
import struct
import sys
import traceback

TOOLS = {
    "xcompass": "xcompass.tools.cli:main",
    "xcompass-opt": "xcompass.tools.opt:main",
    "filecheck": "filecheck.main:main",
}
"""The tools served, by console-script name (pyproject.toml's [project.scripts]; filecheck's
own), with the entry point each script calls."""

IDLE_S = 600
"""The server leaves after this long without a request, or as soon as lit has gone."""

CLIENT = r"""#!{python} -S
# lit's {tool}: runs in test/forkserver.py's server; without it, the installed tool
import json, os, socket, struct, sys
real = {real!r}
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect({sock!r})
except OSError:
    os.execv(real, [real, *sys.argv[1:]])
body = json.dumps({{"tool": {tool!r}, "argv": [real, *sys.argv[1:]], "cwd": os.getcwd(),
                   "env": dict(os.environ)}}).encode()
socket.send_fds(s, [struct.pack("!I", len(body)) + body], [0, 1, 2])
got = b""
while len(got) < 4:
    more = s.recv(4 - len(got))
    if not more:
        sys.exit(70)  # the child died without a status (a crash)
    got += more
os._exit(struct.unpack("!i", got)[0])
"""


def install_clients(bin_dir: str, real_bin: str, sock: str) -> None:
    """Write one client script per tool into `bin_dir` (put it first on the tests' PATH)."""
    for tool in TOOLS:
        path = os.path.join(bin_dir, tool)
        real = os.path.join(real_bin, tool)
        with open(path, "w") as f:
            f.write(CLIENT.format(python=sys.executable, tool=tool, real=real, sock=sock))
        os.chmod(path, 0o755)


def _entry(tool: str):  # noqa: ANN202
    module, name = TOOLS[tool].split(":")
    return getattr(importlib.import_module(module), name)


def _status(code: object) -> int:
    """The exit status `sys.exit(code)` gives, printing a message as the interpreter does."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    (size,) = struct.unpack("!I", data[:4])
    body = data[4:]
    while len(body) < size:
        more = conn.recv(size - len(body))
        if not more:
            raise ConnectionError("client went away")
        body += more
    return json.loads(body), fds


def _fresh_stdio() -> None:
    """New sys.stdin/stdout/stderr over fds 0-2, made as the interpreter makes them at start-up
    (the server's own were made for its /dev/null: seekable, block-buffered)."""

    def make(fd: int, old: io.TextIOWrapper, line: bool) -> io.TextIOWrapper:
        raw = io.FileIO(fd, "rb" if fd == 0 else "wb", closefd=False)
        buf = io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw)
        return io.TextIOWrapper(
            buf, encoding=old.encoding, errors=old.errors, newline="\n", line_buffering=line
        )

    sys.stdin = sys.__stdin__ = make(0, sys.__stdin__, False)
    sys.stdout = sys.__stdout__ = make(1, sys.__stdout__, os.isatty(1))
    sys.stderr = sys.__stderr__ = make(2, sys.__stderr__, True)


def _child(conn: socket.socket) -> None:
    """Run one request in this forked process; never returns."""
    code = 70
    try:
        request, fds = _recv_request(conn)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        _fresh_stdio()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = list(request["argv"])
        try:
            code = _status(_entry(request["tool"])())
        except SystemExit as exc:
            code = _status(exc.code)
        except BaseException:  # what the interpreter does with an uncaught exception
            traceback.print_exc()
            code = 1
        try:
            atexit._run_exitfuncs()
        except BaseException:
            traceback.print_exc()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                code = code or 120  # as the interpreter, when flushing stdout fails
        conn.sendall(struct.pack("!i", code))
    finally:
        os._exit(code)


def serve(sock_path: str) -> None:
    """Import every tool once, then fork a child per connection (single-threaded, so the
    fork is safe)."""
    for tool in TOOLS:
        _entry(tool)
    import numba  # noqa: F401  (map-cost, map-autotune and explore load it)

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    parent = os.getppid()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path + ".tmp")
    server.listen(64)
    os.rename(sock_path + ".tmp", sock_path)  # clients connect only once it listens
    server.settimeout(2.0)
    idle = 0.0
    while idle < IDLE_S and os.getppid() == parent:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            idle += 2.0
            continue
        idle = 0.0
        conn.settimeout(None)
        if os.fork() == 0:
            server.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _child(conn)
        conn.close()
    server.close()
    os.unlink(sock_path)


if __name__ == "__main__":
    # the tools' children see the sys.path an installed console script gets: its own folder
    # (the environment's bin) first, not test/
    sys.path[0] = os.path.dirname(sys.executable)
    serve(sys.argv[1])
