"""Where Iter8 v2's own sample manifests are: `shared/compat/` beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT.parent / "shared" / "compat" / "iter8-v2-samples"


def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        reason = f"Iter8 v2 samples not found at {SAMPLES} (they sit beside the repository)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return SAMPLES


def experiment_files() -> list[str]:
    """Names, not paths, so test ids stay short; empty when the samples are absent."""
    return sorted(p.name for p in SAMPLES.glob("*-experiment.yaml")) if SAMPLES.is_dir() else []


def metrics_file_for(experiment_file: str) -> str:
    """Each sample experiment comes with a metrics file; the built-in ones go with the rest."""
    name = experiment_file.replace("-experiment.yaml", "-metrics.yaml")
    return name if (SAMPLES / name).exists() else "builtin-metrics.yaml"
