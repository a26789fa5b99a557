"""The `xhw` dialect (xDSL already has CIRCT's `hw`): a hardware target carried inside the IR.

`#xhw.target<"name", {meta = ..., chiplet = [...], dram = [...], network = {...}}>` holds the
same data as a target TOML file, so a module can travel with its machine description
(`set-target{target=NAME|FILE embed=true}`). The core validates it exactly as it validates a file.
"""

from __future__ import annotations

from typing import Any

from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    f64,
    i64,
)
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute
from xdsl.irdl import irdl_attr_definition, param_def
from xdsl.parser import AttrParser
from xdsl.printer import Printer

from xcompass.hardware.targetfile import parse_target
from xcompass.hardware.targets import Target


def to_attr(value: Any) -> Attribute:
    """A TOML value as a builtin attribute (bool before int: bool is an int in Python)."""
    if isinstance(value, bool):
        return IntegerAttr(int(value), IntegerType(1))
    if isinstance(value, int):
        return IntegerAttr(value, i64)
    if isinstance(value, float):
        return FloatAttr(value, f64)
    if isinstance(value, str):
        return StringAttr(value)
    if isinstance(value, list):
        return ArrayAttr([to_attr(v) for v in value])
    if isinstance(value, dict):
        return DictionaryAttr({k: to_attr(v) for k, v in value.items()})
    raise TypeError(f"cannot carry {type(value).__name__} in #xhw.target")


def from_attr(attr: Attribute) -> Any:
    if isinstance(attr, IntegerAttr):
        value = attr.value.data
        return bool(value) if attr.type == IntegerType(1) else value
    if isinstance(attr, FloatAttr):
        return attr.value.data
    if isinstance(attr, StringAttr):
        return attr.data
    if isinstance(attr, ArrayAttr):
        return [from_attr(a) for a in attr.data]
    if isinstance(attr, DictionaryAttr):
        return {k: from_attr(v) for k, v in attr.data.items()}
    return str(attr)


@irdl_attr_definition
class TargetAttr(ParametrizedAttribute):
    name = "xhw.target"
    target_name: StringAttr = param_def()
    spec: DictionaryAttr = param_def()

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            name = StringAttr(parser.parse_str_literal())
            parser.parse_punctuation(",")
            spec = parser.parse_attribute()
        if not isinstance(spec, DictionaryAttr):
            parser.raise_error("#xhw.target expects a dictionary after its name")
        return [name, spec]

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string_literal(self.target_name.data)
            printer.print_string(", ")
            printer.print_attribute(self.spec)

    @staticmethod
    def from_data(name: str, data: dict[str, Any]) -> TargetAttr:
        return TargetAttr(StringAttr(name), to_attr(data))

    def to_target(self) -> Target:
        """The core's target, validated like a file (a bad field is named)."""
        return parse_target(from_attr(self.spec), f"#xhw.target<\"{self.target_name.data}\">",
                            self.target_name.data)  # fmt: skip


HW = Dialect("xhw", [], [TargetAttr])


TARGET_ATTR = "xcompass.target"


def module_target(module: Attribute | Any) -> Target | None:
    """The target a module names (`"preset"`, `"/path/file.toml"`) or embeds (`#xhw.target`);
    None when it has none. Raises XcompassError for a bad one."""
    from xcompass.hardware.targetfile import load_target

    attr = module.attributes.get(TARGET_ATTR)
    if attr is None:
        return None
    if isinstance(attr, TargetAttr):
        return attr.to_target()
    if isinstance(attr, StringAttr):
        return load_target(attr.data)
    from xcompass.errors import XcompassError

    raise XcompassError(f"xcompass.target must be a string or #xhw.target, got {attr}")
