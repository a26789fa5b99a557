"""`xcompass-opt`: xDSL's opt driver with xcompass's dialects and passes, one-line diagnostics,
MLIR's `--pass-pipeline='builtin.module(...)'` spelling, and output files written only on success.

Hardening (every entry point finishes or fails within seconds with one `where: error: what`
line, never a traceback):
- flags, pass names and pass options are checked before the input is read: a bad flag or
  option value is named (`llm-partition: option 'tp' expects an integer, got 'two'`); passes
  with a `check_options()` method check their own ranges then;
- `-o` must be writable (not a folder, its folder must exist) before any work; the output and
  every side file a pass writes (`map-cost{report=...}`) are written only after the whole run
  succeeded, and a side file that is the input or the `-o` file is refused;
- `-t` accepts only `mlir`: xDSL's other printers (`x86-asm`, `llvm`, `mps`, ...) cannot
  print xcompass's ops;
- the input must be UTF-8; nesting too deep for the parser is refused; xDSL's string-literal
  lexer is made linear in this process (`xcompass.tools.opt_lexer`; stock `xdsl-opt` is left as
  it is).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import struct
import sys
from collections.abc import Sequence
from io import StringIO
from typing import IO, NoReturn

from xcompass.dialects.diagnostics import OpVerifyError, op_location
from xcompass.tools.opt_lexer import harden_xdsl
from xcompass.tools.opt_options import (
    UsageError,
    check_option_spelling,
    check_option_types,
    list_passes,
    quote_paths,
)
from xcompass.tools.universe import XCOMPASS_UNIVERSE
from xdsl.dialects.builtin import FileLineColLoc, IntAttr, StringAttr, UnknownLoc
from xdsl.ir import Operation
from xdsl.parser import Parser
from xdsl.utils.exceptions import DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from xcompass import fileio
from xcompass.errors import XcompassError, shown

harden_xdsl()

check_option_types = check_option_types  # the name test_fuzz imports
__all__ = ["UsageError", "check_option_spelling", "list_passes", "main"]


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
                out += [arg, quote_paths(next(it, ""))]
                continue
            if arg.startswith(("-p=", "--passes=")):
                key, spec = arg.split("=", 1)
                out.append(f"{key}={quote_paths(spec)}")
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
        out += ["-p", quote_paths(spec)]
    return out


def _short(text: str, limit: int = 200) -> str:
    return shown(text, limit)


def _raise_usage(message: str) -> NoReturn:
    """argparse's `error` prints the usage and a second line; ours is one line."""
    raise UsageError(message)


class XcompassOptMain(xDSLOptMain):
    def __init__(self, args: Sequence[str] | None = None):
        self._chunk_offset = 0
        super().__init__(description="xcompass modular optimizer driver", args=args)
        if self.args.output_file is not None:
            try:
                fileio.check_writable(self.args.output_file)
            except OSError as exc:
                raise UsageError(
                    f"-o '{_short(self.args.output_file, 100)}': cannot write ({exc.strerror})"
                ) from None

    def register_all_dialects(self) -> None:
        super().register_all_dialects()  # includes ours when installed (xdsl.universe entry)
        for name, factory in XCOMPASS_UNIVERSE.all_dialects.items():
            if name not in self.ctx.registered_dialect_names:
                self.ctx.register_dialect(name, factory)

    def register_all_passes(self) -> None:
        super().register_all_passes()
        for name, factory in XCOMPASS_UNIVERSE.all_passes.items():
            self.available_passes.setdefault(name, factory)

    def register_all_targets(self) -> None:
        # xDSL's other printers (x86-asm, llvm, mps, riscv-asm, ...) cannot print our ops
        super().register_all_targets()
        self.available_targets = {"mlir": self.available_targets["mlir"]}

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        super().register_all_arguments(arg_parser)
        arg_parser.add_argument(
            "--list-passes",
            action="store_true",
            help="list xcompass's passes with their options, types and defaults, and exit",
        )
        arg_parser.error = _raise_usage  # type: ignore[method-assign]

    def register_all_frontends(self) -> None:
        super().register_all_frontends()

        def parse_mlir(io: IO[bytes]):  # noqa: ANN202
            raw = io.read()
            try:
                text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            except UnicodeDecodeError as exc:
                raise XcompassError(
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
                ) from None
            parser = LocatingParser(self.ctx, text, self.get_input_name(), self._chunk_offset)
            try:
                return parser.parse_module(not self.args.no_implicit_module)
            except (ParseError, DiagnosticException, XcompassError, RecursionError, MemoryError):
                raise
            except (struct.error, OverflowError):  # xDSL packs dense arrays unchecked
                parser.raise_error("a number before this point does not fit its integer type")
            except Exception as exc:  # xDSL's parser crashing on other bad input
                detail = " ".join(str(exc).split())[:120]
                parser.raise_error(f"cannot parse this input ({type(exc).__name__}: {detail})")

        self.available_frontends["mlir"] = parse_mlir

    def setup_pipeline(self) -> None:
        check_option_types(self.args.passes, self.available_passes)
        super().setup_pipeline()
        for p in self.pipeline.passes:  # ranges a pass can check without the IR
            check = getattr(p, "check_options", None)
            if check is not None:
                try:
                    check()
                except DiagnosticException as exc:
                    raise UsageError(str(exc)) from None
            report = getattr(p, "report", None)
            if isinstance(report, str) and report:
                self._check_side_file(p.name, report)

    def protected_files(self) -> dict[str, str]:
        """Files no side file may overwrite."""
        out = {}
        if self.args.input_file:
            out[self.args.input_file] = "the input IR file"
        if self.args.output_file:
            out[self.args.output_file] = "the -o output file"
        return out

    def _check_side_file(self, pass_name: str, path: str) -> None:
        """A pass's `report=` file, before any work: writable, and not the input or output."""
        try:
            fileio.refuse_protected(path, self.protected_files())
            fileio.check_writable(path)
        except XcompassError as exc:
            raise UsageError(f"{pass_name}: {exc}") from None
        except OSError as exc:
            raise UsageError(
                f"{pass_name}: cannot write report '{_short(path, 100)}' ({exc.strerror})"
            ) from None

    def parse_chunk(self, chunk: IO[bytes], file_extension: str, start_offset: int = 0):  # noqa: ANN201
        self._chunk_offset = start_offset
        return super().parse_chunk(chunk, file_extension, start_offset)

    def _run_shrink(self) -> None:
        """xDSL's `--shrink` (for shrinkray) prints its verdict on stdout and exits; here the
        verdict is a diagnostic on stderr and the exit status is the same (0: can shrink)."""
        said = StringIO()
        try:
            with contextlib.redirect_stdout(said):
                super().run()
        except SystemExit as exc:
            if exc.code:
                raise UsageError(
                    "--shrink: the pipeline ran without the failure shrinking looks for "
                    '(xDSL: "Failure, can\'t shrink")'
                ) from None
            print("xcompass-opt: --shrink: " + " ".join(said.getvalue().split()), file=sys.stderr)
            raise

    def prepare_output(self) -> IO[str]:
        return self._buffer

    def run(self) -> None:
        self._buffer = _Buffer()
        # --verify-diagnostics prints each chunk's diagnostic where its output would be: into
        # the output, in order (xDSL prints to stdout, ahead of the buffered output)
        in_order = (
            contextlib.redirect_stdout(self._buffer)
            if self.args.verify_diagnostics and not self.args.shrink
            else contextlib.nullcontext()
        )
        with fileio.deferred_writes(self.protected_files()) as side_files:
            if self.args.shrink:
                self._run_shrink()
            else:
                with in_order:
                    super().run()
        text = self._buffer.getvalue()
        if self.args.output_file is None:
            fileio.flush(side_files)
            sys.stdout.write(text)
            sys.stdout.flush()
        else:  # -o and every side file staged first, then renamed: all or none
            fileio.flush([*side_files, (self.args.output_file, text)])


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


_VALUE_FLAGS = {"-o", "--output-file", "-p", "--passes", "-t", "--target", "-f", "--frontend"}


def _input_name(argv: Sequence[str]) -> str:
    """The input file named on the command line (for diagnostics before argparse ran)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in _VALUE_FLAGS or arg == "--pass-pipeline":
            skip = True
            continue
        if not arg.startswith("-") or arg == "-":
            return _short(arg)
    return "<stdin>"


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: every failure is one line on stderr and exit status 1, never a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    input_name = _input_name(argv)
    if "--list-passes" in argv:
        sys.stdout.write(list_passes())
        return
    try:
        XcompassOptMain(args=_normalize_pipeline(argv)).run()
    except UsageError as exc:
        print(f"xcompass-opt: error: {shown(exc, 4000)}", file=sys.stderr)
        sys.exit(1)
    except (XcompassError, DiagnosticException, ParseError, ValueError, KeyError) as exc:
        print(shown(one_line(exc, input_name), 4000), file=sys.stderr)
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(1)
    except OSError as exc:
        name = _short(str(exc.filename)) if exc.filename else input_name
        print(f"{name}: error: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(1)
    except RecursionError:
        print(f"{input_name}: error: input nested too deeply to parse", file=sys.stderr)
        sys.exit(1)
    except MemoryError:
        print(f"{input_name}: error: out of memory", file=sys.stderr)
        sys.exit(1)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        if type(exc).__name__ == "ArgSpecParseError":  # a BaseException in xDSL
            print(f"xcompass-opt: error: {' '.join(str(exc).split())}", file=sys.stderr)
            sys.exit(1)
        if os.environ.get("XCOMPASS_DEBUG"):
            raise
        detail = " ".join(str(exc).split())[:200]
        print(
            f"{input_name}: internal error: {type(exc).__name__}: {detail} "
            "(please report; XCOMPASS_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        sys.exit(70)


if __name__ == "__main__":
    main()
