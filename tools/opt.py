"""`xcompass-opt`: xDSL's opt driver with xcompass's dialects and passes, one-line diagnostics,
MLIR's `--pass-pipeline='builtin.module(...)'` spelling, and output files written only on success.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from io import StringIO
from typing import IO

from xcompass.dialects.diagnostics import OpVerifyError, op_location
from xcompass.tools.universe import XCOMPASS_UNIVERSE
from xdsl.dialects.builtin import FileLineColLoc, IntAttr, StringAttr, UnknownLoc
from xdsl.ir import Operation
from xdsl.parser import Parser
from xdsl.utils.exceptions import DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from xcompass.errors import XcompassError
from xcompass.fileio import write_atomically


class LocatingParser(Parser):
    """Attaches `file:line:col` to every op it parses, so verifier errors can say where."""

    def __init__(self, ctx, text, name: str, line_offset: int = 0):  # noqa: ANN001
        super().__init__(ctx, text, name)
        self._file = name
        self._line_offset = line_offset

    def parse_operation(self) -> Operation:
        span = self._current_token.span
        op = super().parse_operation()
        if isinstance(op.location, UnknownLoc):
            loc = span.get_location()
            op.location = FileLineColLoc(
                StringAttr(self._file), IntAttr(loc.line + self._line_offset), IntAttr(loc.col)
            )
        return op


class _Buffer(StringIO):
    """Output kept in memory until the whole run succeeded (the driver closes it early)."""

    def close(self) -> None:  # the base driver closes the stream; keep the text
        pass


_BARE_VALUE = re.compile(r"=([^,{}\"\s]+)")


def _quote_paths(spec: str) -> str:
    """Quote option values xDSL's spec lexer would reject (paths: `report=out/r.json`)."""

    def quote(m: re.Match[str]) -> str:
        value = m.group(1)
        if re.fullmatch(r"[A-Za-z0-9_\-]+|-?\d+(\.\d+)?", value):
            return m.group(0)
        return f'="{value}"'

    return _BARE_VALUE.sub(quote, spec)


def _normalize_pipeline(argv: list[str]) -> list[str]:
    """Turn `--pass-pipeline='builtin.module(a,b)'` into xDSL's `-p 'a,b'`."""
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        value = None
        if arg == "--pass-pipeline":
            value = next(it, "")
        elif arg.startswith("--pass-pipeline="):
            value = arg.split("=", 1)[1]
        if value is None:
            if arg in ("-p", "--passes"):
                out += [arg, _quote_paths(next(it, ""))]
                continue
            if arg.startswith(("-p=", "--passes=")):
                key, spec = arg.split("=", 1)
                out.append(f"{key}={_quote_paths(spec)}")
                continue
            out.append(arg)
            continue
        spec = value.strip()
        if spec.startswith("builtin.module(") and spec.endswith(")"):
            spec = spec[len("builtin.module(") : -1]
        elif spec.startswith(("builtin.module", "func.func(", "any(")):
            raise XcompassError(
                f"--pass-pipeline '{value}': expected 'builtin.module(pass,pass{{opt=val}})'"
            )
        out += ["-p", _quote_paths(spec)]
    return out


class XcompassOptMain(xDSLOptMain):
    def __init__(self, args: Sequence[str] | None = None):
        self._chunk_offset = 0
        super().__init__(description="xcompass modular optimizer driver", args=args)

    def register_all_dialects(self) -> None:
        super().register_all_dialects()  # includes ours when installed (xdsl.universe entry)
        for name, factory in XCOMPASS_UNIVERSE.all_dialects.items():
            if name not in self.ctx.registered_dialect_names:
                self.ctx.register_dialect(name, factory)

    def register_all_passes(self) -> None:
        super().register_all_passes()
        for name, factory in XCOMPASS_UNIVERSE.all_passes.items():
            self.available_passes.setdefault(name, factory)

    def register_all_frontends(self) -> None:
        super().register_all_frontends()

        def parse_mlir(io: IO[bytes]):  # noqa: ANN202
            return LocatingParser(
                self.ctx, io.read(), self.get_input_name(), self._chunk_offset
            ).parse_module(not self.args.no_implicit_module)

        self.available_frontends["mlir"] = parse_mlir

    def parse_chunk(self, chunk: IO[bytes], file_extension: str, start_offset: int = 0):  # noqa: ANN201
        self._chunk_offset = start_offset
        return super().parse_chunk(chunk, file_extension, start_offset)

    def prepare_output(self) -> IO[str]:
        self._buffer = _Buffer()
        return self._buffer

    def run(self) -> None:
        super().run()
        text = self._buffer.getvalue()
        if self.args.output_file is None:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            write_atomically(self.args.output_file, text)


def one_line(exc: BaseException, input_name: str) -> str:
    """A `where: error: what` line for any failure the driver can meet."""
    if isinstance(exc, ParseError):
        return f"{exc.span.get_location()}: error: {exc.msg}"
    if isinstance(exc, OpVerifyError):
        where = op_location(exc.op) or input_name
        return f"{where}: error: {exc.args[0]}"
    text = str(exc.args[0]) if exc.args else str(exc)
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return f"{input_name}: error: {text}"


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    input_name = next((a for a in argv if not a.startswith("-") and a.endswith(".mlir")), "<stdin>")
    try:
        XcompassOptMain(args=_normalize_pipeline(argv)).run()
    except (XcompassError, DiagnosticException, ParseError, ValueError, KeyError) as exc:
        print(one_line(exc, input_name), file=sys.stderr)
        sys.exit(1)
    except OSError as exc:
        print(f"{exc.filename or input_name}: error: {exc.strerror}", file=sys.stderr)
        sys.exit(1)
    except BaseException as exc:
        if type(exc).__name__ == "ArgSpecParseError":  # a BaseException in xDSL
            print(f"xcompass-opt: error: {' '.join(str(exc).split())}", file=sys.stderr)
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
