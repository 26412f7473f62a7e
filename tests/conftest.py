"""Fixtures shared by every test suite: where the repository is, and the baseline scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from scenarios.loader import BUNDLED_DIR, load_scenario
from scenarios.schema import Scenario

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's top folder (holds pyproject.toml)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def baseline() -> Scenario:
    """The bundled baseline scenario, loaded and validated (immutable, so shared)."""
    return load_scenario(BUNDLED_DIR / "baseline.yaml")


@pytest.fixture
def baseline_data() -> dict[str, Any]:
    """The baseline scenario as plain YAML data, a fresh copy per test to break at will."""
    data: dict[str, Any] = yaml.safe_load((BUNDLED_DIR / "baseline.yaml").read_text("utf-8"))
    return data
