"""Calibration images: any folder of images, pre-processed exactly as the deploy protocol.

Which images calibrate matters more than how many: most photos hold no person, and a network
calibrated on empty scenes sees its later layers' ranges (and bias corrections) set by
backgrounds. The `people` rule needs no labels: the FP32 network itself, with the project's
decoder, counts the people on each candidate image under the deploy protocol, and the images it
finds most people on calibrate, best first. `name` takes the folder's images in name order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from poseforge.errors import PoseforgeError
from poseforge.images import IMAGE_SUFFIXES, files_sha256, image_files, read_image
from poseforge.preprocess import prepare, to_nchw
from poseforge.quantize.settings import SELECTIONS
from poseforge.text import plural


@dataclass(frozen=True)
class CalibrationSet:
    """What calibrates a model: the images used, out of which candidates, chosen how."""

    folder: Path
    candidates: int  # images considered (the folder's first N in name order)
    paths: list[Path]  # images used, in calibration order
    rule: str
    people: list[int] = field(default_factory=list)  # with `people`: FP32-detected people per used image

    def record(self) -> dict[str, Any]:
        """The calibration block of the IR's rt_info."""
        rule = {
            "people": "images on which the FP32 network (deploy protocol, project decoder) finds the most "
            "people, at least one; ties by keypoints found, then name",
            "name": "the folder's images in name order",
        }[self.rule]
        out = {
            "folder": str(self.folder.resolve()),
            "images_considered": self.candidates,
            "images": len(self.paths),
            "selection": self.rule,
            "selection_rule": rule,
            "files": [path.name for path in self.paths],
            "sha256": files_sha256(self.paths),
            "sha256_of": "'name:sha256(file)' lines of the files used, in calibration order",
            "preprocessing": "deploy protocol (letterbox to the deploy shape)",
        }
        if self.rule == "people":
            out["people_detected"] = int(sum(self.people))
        return out


def calibration_images(folder: str | Path, subset_size: int | None = None) -> list[Path]:
    """The folder's images in name order (the first `subset_size`), each checked to decode."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PoseforgeError(f"calibration folder not found: {folder}")
    paths = image_files(folder)
    if not paths:
        raise PoseforgeError(f"calibration folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    paths = paths[:subset_size] if subset_size else paths
    unreadable = []
    for path in paths:
        try:
            read_image(path)
        except PoseforgeError:
            unreadable.append(path.name)
    if unreadable:
        raise PoseforgeError(
            f"{plural(len(unreadable), 'calibration image')} in {folder} "
            f"{'does' if len(unreadable) == 1 else 'do'} not decode, e.g. {', '.join(unreadable[:3])}"
        )
    return paths


def select_calibration(
    folder: str | Path,
    subset_size: int,
    rule: str,
    fp32: Any = None,
    candidates: int | None = None,
) -> CalibrationSet:
    """The calibration set under `rule` (`fp32`: a runner of the FP32 network, for `people`)."""
    if rule not in SELECTIONS:
        raise PoseforgeError(f"unknown calibration selection {rule!r}; choose from {', '.join(SELECTIONS)}")
    folder = Path(folder)
    if rule == "name":
        paths = calibration_images(folder, min(subset_size, candidates or subset_size))
        return CalibrationSet(folder, len(paths), paths, rule)
    considered = calibration_images(folder, candidates)
    people, keypoints = count_people(fp32, considered)
    order = sorted(range(len(considered)), key=lambda i: (-people[i], -keypoints[i], considered[i].name))
    chosen = [i for i in order if people[i] > 0][:subset_size]
    if not chosen:
        raise PoseforgeError(
            f"the FP32 network finds no person on any of the {len(considered)} images of {folder}: "
            "calibrate on photos of people, or pass --select name"
        )
    return CalibrationSet(folder, len(considered), [considered[i] for i in chosen], rule, [people[i] for i in chosen])


def count_people(fp32: Any, paths: list[Path]) -> tuple[list[int], list[int]]:
    """People and keypoints the FP32 network and the project's decoder find on each image, under
    the deploy protocol (the calibration pre-processing)."""
    from poseforge.validate.accuracy.agreement import folder_images, poses

    images = folder_images(paths)
    people, keypoints = [0] * len(images), [0] * len(images)
    for result in poses(fp32, images, "deploy"):
        index = result["image_id"] - 1
        people[index] += 1
        keypoints[index] += int(np.count_nonzero(np.asarray(result["keypoints"])[2::3]))
    return people, keypoints


def deploy_input(path: Path, deploy_shape: tuple[int, int]) -> np.ndarray:
    return to_nchw(prepare(read_image(path), "deploy", deploy_shape).image)


def calibration_dataset(paths: list[Path], input_name: str, deploy_shape: tuple[int, int]) -> Any:
    """An nncf.Dataset yielding the network's input dict for each image, read lazily."""
    import nncf

    return nncf.Dataset(paths, lambda path: {input_name: deploy_input(path, deploy_shape)})
