"""Hardware targets: shipped presets (one data file each) or a user's own file."""

from __future__ import annotations

import tomllib
from pathlib import Path

from xcompass.errors import XcompassError

PRESET_NAMES = (
    "h100", "h200", "hgx-h200x2", "dgx-h100x8", "ascend-910b", "mt3000", "simba-36",
    "compass-het-36",
)  # fmt: skip


def resolve_target_spec(spec: str) -> str:
    """Check a target name or file; return the preset name or the file's absolute path."""
    if spec in PRESET_NAMES:
        return spec
    path = Path(spec)
    if path.suffix in (".toml", ".json") or path.exists():
        if not path.is_file():
            raise XcompassError(f"target file '{spec}': no such file")
        try:
            tomllib.loads(path.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            raise XcompassError(f"target file '{spec}': unreadable ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise XcompassError(f"target file '{spec}': malformed TOML ({exc})") from None
        return str(path.resolve())
    raise XcompassError(
        f"unknown target '{spec}' (valid: {', '.join(PRESET_NAMES)}, or a .toml file)"
    )
