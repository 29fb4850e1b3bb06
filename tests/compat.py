"""Where Iter8 v2's own sample manifests are: `shared/compat/` beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
SAMPLES = SHARED / "compat" / "iter8-v2-samples"
KNATIVE_CRDS = SHARED / "crds" / "knative-k8s-1.20"  # the real CRDs, edited to load on 1.20


def _shared(path: Path, what: str) -> Path:
    if not path.exists():
        reason = f"{what} not found at {path} (shared/ sits beside the repository)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def samples_dir() -> Path:
    return _shared(SAMPLES, "Iter8 v2 samples")


def knative_crd(name: str) -> Path:
    """One of the real Knative CRDs, e.g. `serving-service.yaml`."""
    return _shared(KNATIVE_CRDS / name, "Knative CRDs")


def experiment_files() -> list[str]:
    """Names, not paths, so test ids stay short; empty when the samples are absent."""
    return sorted(p.name for p in SAMPLES.glob("*-experiment.yaml")) if SAMPLES.is_dir() else []


def metrics_file_for(experiment_file: str) -> str:
    """Each sample experiment comes with a metrics file; the built-in ones go with the rest."""
    name = experiment_file.replace("-experiment.yaml", "-metrics.yaml")
    return name if (SAMPLES / name).exists() else "builtin-metrics.yaml"
