"""`xcompass-opt`'s pass options, judged before any input is read: paths quoted for xDSL's spec
lexer, an option given twice or empty, an unknown option, a value of the wrong type or beyond
any option's range, a choice not among its `Literal[...]` values; and `--list-passes`. The
explore command's `--lowering` pipelines go through the same checks."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, get_args, get_type_hints

from xcompass.passes.errors import choice_message, choices
from xcompass.tools.universe import XCOMPASS_UNIVERSE
from xdsl.utils.arg_spec import _convert_arg_to_type, parse_pipeline

from xcompass.errors import XcompassError, shown


class UsageError(XcompassError):
    """A bad flag, pass name or pass option: reported as `xcompass-opt: error: ...`."""


_BARE_VALUE = re.compile(r"=([^,{}\"\s]+)")


def quote_paths(spec: str) -> str:
    """Quote option values xDSL's spec lexer would reject (paths: `report=out/r.json`)."""

    def quote(m: re.Match[str]) -> str:
        value = m.group(1)
        if re.fullmatch(r"[A-Za-z0-9_\-]+|-?\d+(\.\d+)?", value):
            return m.group(0)
        return f'="{value}"'

    return _BARE_VALUE.sub(quote, spec)


def _short(text: str, limit: int = 200) -> str:
    return shown(text, limit)


def _describe(typ: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    kinds = [names.get(t, getattr(t, "__name__", str(t))) for t in get_args(typ) or (typ,)]
    return " or ".join(k for k in kinds if k != "NoneType")


MAX_OPTION_INT = 2**31 - 1
"""Largest integer any pass option takes (a pass's own check narrows it): every value then
fits the 64-bit IR attributes it may end up in."""
MAX_OPTION_FLOAT = 1e15


def _option_keys(spec_text: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """(pass, [(option, value or None)]) as written in `a{k=v k2="x y"},b`: what xDSL's parser
    folds away (a repeated option keeps the last value)."""
    out: list[tuple[str, list[tuple[str, str | None]]]] = []
    name, i, n = "", 0, len(spec_text)
    while i < n:
        c = spec_text[i]
        if c == "{":
            tokens, buf, quoted, i = [], "", False, i + 1
            while i < n and (quoted or spec_text[i] != "}"):
                ch = spec_text[i]
                if ch == "\\" and quoted and i + 1 < n:
                    buf += spec_text[i : i + 2]
                    i += 2
                    continue
                if ch == '"':
                    quoted = not quoted
                if ch.isspace() and not quoted:
                    tokens.append(buf)
                    buf = ""
                else:
                    buf += ch
                i += 1
            tokens.append(buf)
            pairs = []
            for token in (t for t in tokens if t):
                key, eq, value = token.partition("=")
                pairs.append((key, value if eq else None))
            out.append((name.strip(), pairs))
            name = ""
        elif c == ",":
            name = ""
        else:
            name += c
        i += 1
    return out


def check_option_spelling(spec_text: str) -> None:
    """An option given twice in one pass (`theta=1 theta=2`) or with an empty value
    (`report=`) is an error, not the last value or the default."""
    for pass_name, pairs in _option_keys(spec_text):
        seen: set[str] = set()
        for key, value in pairs:
            shown_key = _short(key.replace("_", "-"), 40)
            norm = key.replace("-", "_")
            if norm in seen:
                raise UsageError(
                    f"{_short(pass_name, 60)}: option '{shown_key}' given twice; give it once"
                )
            seen.add(norm)
            if value is not None and value.strip() in ("", '""'):
                raise UsageError(
                    f"{_short(pass_name, 60)}: option '{shown_key}' has an empty value; give a "
                    "value or leave the option out"
                )


def check_option_types(spec_text: str, available: dict[str, Any]) -> None:
    """Name the option whose value has the wrong type (xDSL's message names only the type);
    refuse repeated and empty options, and numbers beyond any option's range."""
    check_option_spelling(spec_text)
    try:
        specs = list(parse_pipeline(spec_text))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # xDSL reports malformed pipelines itself (ArgSpecParseError)
        return
    for spec in specs:
        if spec.name not in available:
            continue
        cls = available[spec.name]()
        hints = get_type_hints(cls)
        fields = {f.name for f in dataclasses.fields(cls) if f.init and f.name != "name"}
        for key, value in spec.normalize_parameter_names().parameters.items():
            if key not in fields:
                from xcompass.errors import did_you_mean

                valid = sorted(f.replace("_", "-") for f in fields)
                raise UsageError(
                    f"{spec.name}: unknown option '{_short(key.replace('_', '-'), 40)}'"
                    f"{did_you_mean(key.replace('_', '-'), valid)} (valid: {', '.join(valid)}; "
                    "xcompass-opt --list-passes lists them)"
                )
            typ = hints[key]
            option = key.replace("_", "-")  # as the README and --list-passes spell it
            got = _short(" ".join(map(repr, value)) or "nothing", 60)
            valid = choices(typ)
            if valid is not None and (len(value) != 1 or value[0] not in valid):
                shown_value = value[0] if len(value) == 1 else " ".join(map(str, value))
                raise UsageError(choice_message(spec.name, key, shown_value, valid))
            is_int = int in (get_args(typ) or (typ,)) and bool not in (get_args(typ) or (typ,))
            if is_int and any(isinstance(v, bool) for v in value):
                raise UsageError(
                    f"{spec.name}: option '{option}' expects {_describe(typ)}, got {got}"
                )
            try:
                _convert_arg_to_type(value, typ)
            except ValueError:
                raise UsageError(
                    f"{spec.name}: option '{option}' expects {_describe(typ)}, got {got}"
                ) from None
            for v in value:
                if isinstance(v, bool):
                    continue
                if isinstance(v, int) and abs(v) > MAX_OPTION_INT:
                    raise UsageError(
                        f"{spec.name}: option '{option}'={_short(str(v), 30)} is out of range "
                        f"(at most {MAX_OPTION_INT:,})"
                    )
                if isinstance(v, float) and not abs(v) <= MAX_OPTION_FLOAT:
                    raise UsageError(
                        f"{spec.name}: option '{option}'={_short(str(v), 30)} is out of range "
                        f"(a finite number, at most {MAX_OPTION_FLOAT:g})"
                    )


def _type_word(typ: Any) -> str:
    valid = choices(typ)
    if valid is not None:
        return "|".join(v for v in valid if v)
    args = [t for t in get_args(typ) or (typ,) if t is not type(None)]
    if getattr(typ, "__origin__", None) is tuple or (args and args[-1] is Ellipsis):
        return "integers (comma-separated)"
    if bool in args:
        return "true|false"
    if float in args:
        return "number"
    if int in args:
        return "integer"
    return "text"


def list_passes() -> str:
    """`xcompass-opt --list-passes`: every xcompass pass with its options (as the pipeline
    spells them), their types and defaults, and the first line of the pass's docstring."""
    lines = []
    for name, factory in sorted(XCOMPASS_UNIVERSE.all_passes.items()):
        cls = factory()
        first = (cls.__doc__ or "").strip().split("\n\n")[0]
        lines.append(f"{name}: {_short(' '.join(first.split()), 160)}".rstrip())
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if not f.init or f.name == "name":
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = None
            if isinstance(default, bool):
                default = str(default).lower()
            elif isinstance(default, tuple | list):
                default = ",".join(map(str, default))
            if default is None or default == "":
                default = "none"
            typ = _type_word(hints[f.name])
            lines.append(f"  {f.name.replace('_', '-')}={typ}  [default: {default}]")
    lines.append("Options go in braces, space-separated: -p 'llm-partition{strategy=hybrid tp=2}'.")
    return "\n".join(lines) + "\n"
