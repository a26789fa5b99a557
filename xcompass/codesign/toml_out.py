"""Target data back to TOML (the standard library reads TOML but does not write it): tables,
arrays of tables, and the scalars and lists a target holds."""

from __future__ import annotations

import json
from typing import Any


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # TOML basic strings escape like JSON
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _table(lines: list[str], data: dict[str, Any]) -> None:
    for k, v in data.items():
        if not isinstance(v, dict) and not _is_tables(v):
            if k == "sources" and isinstance(v, list):
                lines.append(f"{k} = [")
                lines += [f"  {_value(s)}," for s in v]
                lines.append("]")
            else:
                lines.append(f"{k} = {_value(v)}")


def _is_tables(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def dumps_toml(data: dict[str, Any]) -> str:
    """`data` (a target's sections) as TOML text that `tomllib` reads back equal."""
    lines: list[str] = []
    for section, v in data.items():
        if isinstance(v, dict):
            lines.append(f"[{section}]")
            _table(lines, v)
            lines.append("")
        elif _is_tables(v):
            for t in v:
                lines.append(f"[[{section}]]")
                _table(lines, t)
                lines.append("")
        else:
            raise TypeError(f"top-level '{section}' must be a table or an array of tables")
    return "\n".join(lines)
