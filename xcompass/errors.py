"""One exception type for every user-facing mistake, so entry points can print it as one line."""

from __future__ import annotations

from collections.abc import Iterable


class XcompassError(Exception):
    """Bad user input: the message is a complete one-line diagnostic (what and where)."""


def shown(text: object, limit: int = 120) -> str:
    """User text (a path, a SPEC, a name) as a diagnostic quotes it: control characters
    escaped so the message stays one line, and cut to `limit` characters."""
    text = str(text)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def did_you_mean(name: object, names: Iterable[str]) -> str:
    """`; did you mean 'x'?` naming the closest of `names` (case-insensitive), or ''."""
    import difflib

    folded = {n.lower(): n for n in names}
    close = difflib.get_close_matches(str(name).lower(), list(folded), n=1, cutoff=0.6)
    return f"; did you mean '{folded[close[0]]}'?" if close else ""
