"""Multi-fidelity search: the screening model (`xcompass.search.screen`) ranks candidates, the
exact engine re-costs the best of them, and only exact figures enter a population.

With `fidelity` f < 1, each GA generation breeds n / f children instead of n, screens them all,
and the engine re-costs the n best by the screen; those n, all exact, are the generation. So the
elite, every selection and the result are decided by the engine, and `fidelity` is the fraction
of bred candidates the engine re-costs (f = 1: Compass's GA, bit for bit). The screen's rank
agreement with the engine on each generation (Kendall tau over the re-costed children) is kept
so a run says how far its screen can be trusted.

Nothing here loads the engine (option checks import it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xcompass.errors import XcompassError

FIDELITY_RANGE = "(0, 1]"


def _named(name: str, value: object) -> str:
    """`--flag VALUE` for a command-line flag, `name=VALUE` for a Python argument."""
    return f"{name} {value}" if name.startswith("--") else f"{name}={value}"


def check_fidelity(value: float | str, name: str = "fidelity") -> float:
    """One line naming the option and its range for a fraction outside (0, 1]."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        f = float("nan")
    if not 0.0 < f <= 1.0:  # also refuses nan and what is no number
        raise XcompassError(
            f"{_named(name, value)}: the fraction of candidates the engine re-costs must be "
            f"a number in {FIDELITY_RANGE}"
        )
    return f


def check_share(value: float | str, name: str = "local") -> float:
    """The local search's share of the budget: a number in [0, 1)."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        f = float("nan")
    if not 0.0 <= f < 1.0:
        raise XcompassError(
            f"{_named(name, value)}: the share of the budget for the local search must be a "
            "number in [0, 1)"
        )
    return f


def bred(children: int, fidelity: float) -> int:
    """Candidates bred so that `children` of them are a `fidelity` fraction."""
    return children if fidelity >= 1.0 else int(np.ceil(children / fidelity))


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b between two score vectors (nan for fewer than two finite pairs)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 2:
        return float("nan")
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    iu = np.triu_indices(len(a), 1)
    da, db = da[iu], db[iu]
    denom = np.sqrt(float(np.count_nonzero(da)) * float(np.count_nonzero(db)))
    return float((da * db).sum() / denom) if denom > 0 else float("nan")


@dataclass
class ScreenStats:
    """What the screen did in a run: candidates screened, and per generation the Kendall tau
    between screen and engine over the children the engine re-costed."""

    fidelity: float = 1.0
    screened: int = 0
    taus: list[float] = field(default_factory=list)

    @property
    def tau(self) -> float:
        """The mean over generations (nan before the first)."""
        finite = [t for t in self.taus if np.isfinite(t)]
        return float(np.mean(finite)) if finite else float("nan")

    def as_dict(self) -> dict[str, float | int | None]:
        """Plain data for reports (None where no tau was measured)."""
        last = self.taus[-1] if self.taus else float("nan")
        return {
            "fidelity": self.fidelity,
            "screened": self.screened,
            "kendall_tau": self.tau if np.isfinite(self.tau) else None,
            "kendall_tau_last": last if np.isfinite(last) else None,
            "generations": len(self.taus),
        }
