"""One exception type for every user-facing mistake, so entry points can print it as one line."""


class XcompassError(Exception):
    """Bad user input: the message is a complete one-line diagnostic (what and where)."""
