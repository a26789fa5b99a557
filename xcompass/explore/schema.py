"""Declared schemas for the files xcompass reads back (saved reports, checkpoint headers): a
file from elsewhere, edited or truncated, is checked field by field before anything uses it,
and a bad field is named in one line (`per_task[3].start_s: expected a number >= 0, got
'abc'`), never met later as a `KeyError` in a table or a picture.

A schema is plain data: `Num`, `Int`, `Str`, `Bool`, `Choice`, `List`, `Obj`, `Map`,
`Nullable`. `check(value, schema)` returns the value as the schema declares it (numbers as
float or int, objects holding only declared keys unless `keep_extra`), or raises
`SchemaError` naming the path of the first bad field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from xcompass.errors import shown

MAX_NUMBER = 1e15  # any time, energy or rate a report holds


class SchemaError(ValueError):
    """A field that does not match its schema: `path` (e.g. `per_task[3].start_s`) and what
    was expected."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path or 'the file'}: {message}")
        self.path, self.message = path, message


def _got(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return shown(repr(value), 40)


@dataclass(frozen=True)
class Num:
    """A finite number in [lo, hi] (ints accepted, returned as float)."""

    lo: float = 0.0
    hi: float = MAX_NUMBER
    allow_inf: bool = False  # a score of an infeasible mapping is +inf

    def check(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SchemaError(path, f"expected a number, got {_got(value)}")
        try:
            x = float(value)
        except OverflowError:
            x = math.inf
        if self.allow_inf and math.isinf(x):
            return x
        if not math.isfinite(x) or not self.lo <= x <= self.hi:
            raise SchemaError(
                path, f"expected a number from {self.lo:g} to {self.hi:g}, got {_got(value)}"
            )
        return x


@dataclass(frozen=True)
class Int:
    """An integer in [lo, hi] (a float with an integral value is not accepted)."""

    lo: int = 0
    hi: int = 2**31 - 1

    def check(self, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(path, f"expected an integer, got {_got(value)}")
        if not self.lo <= value <= self.hi:
            raise SchemaError(
                path, f"expected an integer from {self.lo:,} to {self.hi:,}, got {_got(value)}"
            )
        return int(value)


@dataclass(frozen=True)
class Str:
    """Text of at most `max_len` characters."""

    max_len: int = 200

    def check(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise SchemaError(path, f"expected text, got {_got(value)}")
        if len(value) > self.max_len:
            raise SchemaError(path, f"text longer than {self.max_len:,} characters")
        return value


@dataclass(frozen=True)
class Bool:
    def check(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise SchemaError(path, f"expected true or false, got {_got(value)}")
        return value


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]

    def check(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or value not in self.options:
            raise SchemaError(path, f"expected one of {', '.join(self.options)}, got {_got(value)}")
        return value


@dataclass(frozen=True)
class Nullable:
    inner: Any

    def check(self, value: Any, path: str) -> Any:
        return None if value is None else self.inner.check(value, path)


@dataclass(frozen=True)
class OneOf:
    """The first of `options` that accepts the value (for scalar settings: text, int, bool)."""

    options: tuple[Any, ...]
    what: str = "text, an integer or true/false"

    def check(self, value: Any, path: str) -> Any:
        for option in self.options:
            try:
                return option.check(value, path)
            except SchemaError:
                continue
        raise SchemaError(path, f"expected {self.what}, got {_got(value)}")


@dataclass(frozen=True)
class List:
    """A list of `item`, `lo` to `hi` long."""

    item: Any
    lo: int = 0
    hi: int = 2**20

    def check(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise SchemaError(path, f"expected a list, got {_got(value)}")
        if not self.lo <= len(value) <= self.hi:
            raise SchemaError(
                path, f"expected {self.lo:,} to {self.hi:,} entries, got {len(value):,}"
            )
        return [self.item.check(v, f"{path}[{i}]") for i, v in enumerate(value)]


@dataclass(frozen=True)
class Tuple:
    """A fixed-length list whose entries have their own schemas (`[lo, hi]`, an activity row)."""

    items: tuple[Any, ...]

    def check(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list) or len(value) != len(self.items):
            raise SchemaError(path, f"expected a list of {len(self.items)}, got {_got(value)}")
        pairs = enumerate(zip(self.items, value, strict=True))
        return [s.check(v, f"{path}[{i}]") for i, (s, v) in pairs]


@dataclass(frozen=True)
class Obj:
    """An object with `required` and `optional` keys; other keys are dropped (nothing reads
    an undeclared field) unless `keep_extra`."""

    required: dict[str, Any]
    optional: dict[str, Any] = field(default_factory=dict)
    keep_extra: bool = False

    def check(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise SchemaError(path, f"expected an object, got {_got(value)}")
        out: dict[str, Any] = dict(value) if self.keep_extra else {}
        for key, schema in self.required.items():
            if key not in value:
                raise SchemaError(_join(path, key), "missing")
            out[key] = schema.check(value[key], _join(path, key))
        for key, schema in self.optional.items():
            if key in value:
                out[key] = schema.check(value[key], _join(path, key))
        return out


@dataclass(frozen=True)
class Map:
    """An object whose keys are names (at most `hi` of them) and values one schema."""

    value: Any
    hi: int = 64

    def check(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise SchemaError(path, f"expected an object, got {_got(value)}")
        if len(value) > self.hi:
            raise SchemaError(path, f"more than {self.hi} entries")
        out = {}
        for key, v in value.items():
            Str(100).check(key, path)
            out[key] = self.value.check(v, _join(path, key))
        return out


def _join(path: str, key: str) -> str:
    key = shown(key, 40)
    return f"{path}.{key}" if path else key


def check(value: Any, schema: Any, path: str = "") -> Any:
    """`value` as `schema` declares it; SchemaError naming the first bad field."""
    return schema.check(value, path)
