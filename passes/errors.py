"""The error a pass raises for bad input; drivers print it as a one-line diagnostic."""

from xdsl.utils.exceptions import PassFailedException


class PassFailure(PassFailedException):
    """A pass could not run on this input (unknown target, infeasible mapping, ...)."""
