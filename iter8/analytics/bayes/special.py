"""The functions of `scipy.special` the bayesian algorithm uses (scipy's own ufuncs), imported
without the numpy modules that scipy's import would load for nothing.

`scipy.special` imports scipy's array-API layer, which copies numpy's namespace with `dir()`
and `hasattr()`; numpy lists the submodules it loads lazily there, so the copy loads them all:
`numpy.f2py` (with `charset_normalizer`), `numpy.testing` (with `unittest`), `numpy.ma` and
`numpy.polynomial`, ~0.13 s of the ~0.4 s of CPU that importing `scipy.special` took on a 2-core
machine, in every cold start of analyze, for modules no analysis uses. Before scipy is imported,
each of them that is not loaded yet is made a lazy module (`importlib.util.LazyLoader`, as the
standard library documents it): the copy gets the module object, which runs on its first
attribute access, by whoever uses it. (Python 3.11's lazy modules are not thread-safe on that
first access; nothing here makes one.)
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np

NOT_NEEDED = ("f2py", "testing", "ma", "polynomial")


def _defer(name: str) -> None:
    """numpy's submodule `name` as a lazy module, unless it is already loaded."""
    full = f"{np.__name__}.{name}"
    if full in sys.modules:
        return
    spec = importlib.util.find_spec(full)
    if spec is None or spec.loader is None:
        return
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[full] = module
    loader.exec_module(module)
    setattr(np, name, module)


if "scipy.special" not in sys.modules:
    for _name in NOT_NEEDED:
        _defer(_name)

from scipy.special import betaincc, betaln, chdtrc, log_ndtr, ndtri  # noqa: E402

__all__ = ["betaincc", "betaln", "chdtrc", "log_ndtr", "ndtri"]
