"""xcompass's IR-free core. Importing it points numba's cache at a user cache directory keyed
on the kernel sources (`xcompass._cache`), before any kernel compiles: the installed package
never receives compiled files, and an edited kernel is never loaded stale."""

from xcompass._cache import configure_numba as _configure_numba

_configure_numba()
