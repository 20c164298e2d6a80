"""Fixtures for predict: the fp32 bundle `make bundle` writes (shared with tests/bundle)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bundle.made import Made, made_bundle


@pytest.fixture(scope="session")
def made(tmp_path_factory: pytest.TempPathFactory, omz_build: Path, assets: Path) -> Made:
    return made_bundle(tmp_path_factory, omz_build, assets)
