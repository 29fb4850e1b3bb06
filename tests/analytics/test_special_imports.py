"""The bayesian algorithm's scipy.special functions (`iter8.analytics.bayes.special`): scipy's own,
imported without the numpy submodules scipy's import would load for nothing, which still work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DEFERRED = ("numpy.f2py.crackfortran", "charset_normalizer", "unittest", "numpy.ma.core")


def _fresh(code: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_algorithm_loads_none_of_the_numpy_modules_scipy_would_pull_in() -> None:
    found = _fresh(
        "import json, sys\n"
        "import iter8.analytics.bayes.decide\n"
        f"print(json.dumps({{'loaded': [m for m in {DEFERRED!r} if m in sys.modules]}}))"
    )
    assert found["loaded"] == []  # all four were loaded, ~0.13 s of CPU at every cold start


def test_the_functions_are_scipys_own_and_the_deferred_modules_load_on_use() -> None:
    found = _fresh(
        "import json, sys\n"
        "import scipy.special\n"
        "from iter8.analytics.bayes import sequential, special, srm\n"
        "same = [getattr(special, n) is getattr(scipy.special, n) for n in special.__all__]\n"
        "import numpy as np\n"
        "masked = int(np.ma.masked_array([1, 2, 4], mask=[0, 1, 0]).sum())\n"
        "from numpy.testing import assert_allclose\n"
        "assert_allclose(special.betaincc(2.0, 3.0, 0.25), 1 - scipy.special.betainc(2.0, 3.0, 0.25))\n"
        "value = float(np.polynomial.Polynomial([1, 2])(3))\n"
        "print(json.dumps({'same': same, 'users': [sequential.ndtri is scipy.special.ndtri,"
        " srm.chdtrc is scipy.special.chdtrc], 'masked': masked, 'value': value,"
        " 'loaded': 'numpy.ma.core' in sys.modules}))"
    )
    assert found["same"] == [True] * 5
    assert found["users"] == [True, True]
    assert (found["masked"], found["value"], found["loaded"]) == (5, 7.0, True)
