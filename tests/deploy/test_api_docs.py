"""docs/api.md: every example runs on a real bundle and real images, and its reference tables list
every parameter of the API with the default the code has."""

from __future__ import annotations

import dataclasses
import inspect
import re
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

import poseforge
from tests.bundle.made import Made

API = Path(__file__).resolve().parents[2] / "docs" / "api.md"
NAMES = ("PoseEstimator", "Poses", "DecoderParams", "TrackerParams", "OneEuroParams", "draw_poses", "PoseforgeError")


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", API.read_text(), re.DOTALL)


def rows(heading: str) -> dict[str, str]:
    """`name` -> `default` of the table under a reference heading."""
    section = API.read_text().split(f"### `{heading}")[1].split("\n### ")[0]
    return dict(re.findall(r"^\| `(\w+)` \| (`[^`]*`|\(required\)) \|", section, re.MULTILINE))


def test_everything_the_docs_use_is_importable_from_poseforge() -> None:
    assert set(NAMES) <= set(poseforge.__all__) and set(NAMES) <= set(dir(poseforge))
    for name in NAMES:
        assert getattr(poseforge, name).__name__ == name
    imported = set(re.findall(r"from poseforge import ([\w, ]+)", API.read_text()))
    assert {n.strip() for line in imported for n in line.split(",")} <= set(NAMES)


@pytest.mark.parametrize(
    ("heading", "api"),
    [("PoseEstimator(", "PoseEstimator"), ("draw_poses(", "draw_poses"), ("DecoderParams", "DecoderParams"),
     ("TrackerParams", "TrackerParams"), ("OneEuroParams", "OneEuroParams")],
)  # fmt: skip
def test_the_reference_lists_every_parameter_with_its_default(heading: str, api: str) -> None:
    target = getattr(poseforge, api)
    if dataclasses.is_dataclass(target):
        code = {f.name: f"`{f.default!r}`" for f in dataclasses.fields(target)}
    else:
        parameters = inspect.signature(target).parameters.values()
        code = {p.name: "(required)" if p.default is p.empty else f"`{p.default!r}`" for p in parameters}
    assert rows(heading) == code


@pytest.mark.parametrize("number", range(len(examples())))
def test_each_example_runs(number: int, made: Made, coco_images: list[Path], tmp_path: Path, monkeypatch,
                           capsys) -> None:  # fmt: skip
    photos = tmp_path / "photos"
    photos.mkdir()
    for image in coco_images[:8]:
        (photos / image.name).write_bytes(image.read_bytes())
    writer = cv2.VideoWriter(str(tmp_path / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (640, 480))
    for image in coco_images[:12]:
        writer.write(cv2.resize(cv2.imread(str(image)), (640, 480)))
    writer.release()
    (tmp_path / "photo.jpg").write_bytes(coco_images[1].read_bytes())
    code = examples()[number].replace("dist/human-pose-estimation-0001-int8.tar.gz", str(made.bundle))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"docs/api.md example {number + 1}", "exec"), {"__name__": "example"})
    assert capsys.readouterr().out.strip()  # each example prints what it found


def test_import_poseforge_stays_light() -> None:
    """The names load their modules when used, and none loads openvino before an estimator is made."""
    code = ("import sys\nimport poseforge\nfrom poseforge import DecoderParams, OneEuroParams, Poses, TrackerParams, "
            "draw_poses\nprint('openvino' in sys.modules)\nfrom poseforge import PoseEstimator\n"
            "print('openvino' in sys.modules)")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["False", "False"], result.stderr
