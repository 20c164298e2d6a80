"""The fp32 bundle made once per test session by `make bundle` (the `made` fixture in tests/conftest.py).

The IR chain is copied from the session's `omz_build` (mtimes kept, so make sees it up to
date) into a build of its own: make then validates the IR (every protocol, 1 s of speed, and the
native protocol at HEIGHT too) and bundles it, without touching the reports other tests write into
`omz_build`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import FP32_CHAIN, copy_with_times, run_make

MODEL = "human-pose-estimation-0001"
HEIGHT = 320  # the other native height the bundle is validated at


@dataclass(frozen=True)
class Made:
    build: Path  # BUILD=
    dist: Path  # DIST=
    model_dir: Path  # BUILD/<model>
    bundle: Path  # DIST/<model>-fp32.tar.gz

    def make(self, *targets: str, assets: Path, **variables: str):
        variables.setdefault("COCO", str(assets / "coco-mini"))  # the quick set: tests compare with it
        variables.setdefault("HEIGHTS", str(HEIGHT))  # one other native height (make's default has two)
        return run_make(*targets, BUILD=str(self.build), DIST=str(self.dist), DATA=str(assets), SPEED_SECONDS="1",
                        **variables)  # fmt: skip


def made_bundle(tmp_path_factory: pytest.TempPathFactory, omz_build: Path, assets: Path) -> Made:
    root = tmp_path_factory.getbasetemp() / "made-bundle"
    made = Made(root / "build", root / "dist", root / "build" / MODEL, root / "dist" / f"{MODEL}-fp32.tar.gz")
    if not made.bundle.is_file():
        copy_with_times(omz_build, made.model_dir, FP32_CHAIN)
        result = made.make("bundle", assets=assets)
        assert result.returncode == 0, result.stderr
    return made
