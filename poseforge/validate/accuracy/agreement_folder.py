"""Agreement with the FP32 IR on any folder of images: no labels, so any footage will do.

    table = folder_table("build/<model>", "footage/", "val", extra=[("v2", Path("v2/model.xml"))])

The model folder's FP32 IR runs the images first: its poses are the reference (the rule of
validate.accuracy.agreement). Then every other IR of the folder runs them (and the FP32 IR under
bf16 where this CPU runs bf16 natively), and any artifact given: an INT8 network made with other
settings, a bundle. The images any of them was calibrated on are left out (by name, or by content
where the calibration files are at hand), so that a calibration folder's unused images rank INT8
settings honestly, on images disjoint from both calibration and the validation set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from poseforge.artifacts import BY_NAME, INTEL_INT8, REFERENCE, VARIANT_HINTS, runs
from poseforge.errors import PoseforgeError
from poseforge.images import files_sha256
from poseforge.machine import supports_precision
from poseforge.metadata import calibration_files
from poseforge.runtime import Runner, open_runner
from poseforge.runtime.options import ACCURACY, RuntimeOptions
from poseforge.text import plural
from poseforge.ui import progress
from poseforge.validate.accuracy.agreement import MIN_REFERENCE_SCORE, Reference, disjoint_images, folder_images
from poseforge.validate.accuracy.agreement_reports import agreement_table
from poseforge.validate.accuracy.dataset import CocoImage
from poseforge.validate.accuracy.loop import run_loop

OPTIONS = ACCURACY.replace(performance_hint="THROUGHPUT")  # as validate runs networks


def folder_runs(model_dir: Path, model: str, extra: list[tuple[str, Path]]) -> list[tuple[str, Path, RuntimeOptions]]:
    """(label, artifact, options) of what is scored: the model folder's other IRs, each precision hint
    this CPU runs natively for the FP32 IR, then `extra`."""
    hints = tuple(hint for hint in VARIANT_HINTS if supports_precision(hint))
    chosen = []
    for name, known, hint in runs(model, hints):
        path = model_dir / known.file
        if known.runtime == "openvino" and name != REFERENCE and path.is_file():
            chosen.append((name, path, OPTIONS.replace(precision_hint=hint)))
    return check_labels(chosen + extra_runs(extra))


def extra_runs(extra: list[tuple[str, Path]] | None) -> list[tuple[str, Path, RuntimeOptions]]:
    if any(label == REFERENCE for label, _ in extra or []):  # its row would say the reference disagrees with itself
        raise PoseforgeError(f"--artifact {REFERENCE}=...: {REFERENCE} is the reference every run is scored "
                             "against; give the artifact another NAME")  # fmt: skip
    return check_labels([(label, path, OPTIONS) for label, path in extra or []])


def check_labels(chosen: list[tuple[str, Path, RuntimeOptions]]) -> list[tuple[str, Path, RuntimeOptions]]:
    labels = [label for label, _, _ in chosen]
    if len(set(labels)) != len(labels):
        raise PoseforgeError(f"two runs named alike ({', '.join(labels)}): name each --artifact NAME=PATH")
    return chosen


def run_poses(runner: Runner, images: list[CocoImage], protocol: str, label: str) -> list[dict]:
    deploy_shape = tuple(runner.metadata["input"]["deploy_shape"])
    if protocol == "deploy":
        runner = runner.with_options(shape=(1, 3, *deploy_shape))
    with progress() as bar:
        task = bar.add_task(f"{label} {protocol}", total=len(images))
        return run_loop(runner, images, protocol, deploy_shape, progress=(bar, task)).results


def folder_table(
    model_dir: str | Path, folder: str | Path, protocol: str, extra: list[tuple[str, Path]] | None = None,
    limit: int | None = None, resamples: int = 1000, seed: int = 0, versus: str = INTEL_INT8,
) -> dict[str, Any]:  # fmt: skip
    """Every run's agreement with the model folder's FP32 IR on `folder`'s images (the first `limit`
    of those no run was calibrated on), with intervals and paired differences to `versus`. `model_dir`
    may be an FP32 IR itself: then only `extra` is scored against it."""
    model_dir, folder = Path(model_dir), Path(folder)
    reference_path = model_dir if model_dir.suffix == ".xml" else model_dir / BY_NAME[REFERENCE].file
    fp32 = open_runner(reference_path, OPTIONS)
    if fp32.metadata.get("precision") != "fp32":
        raise PoseforgeError(f"{reference_path} is a {fp32.metadata.get('precision')} IR: agreement is scored "
                             "against the FP32 IR")  # fmt: skip
    model = str(fp32.metadata["model"])
    chosen = folder_runs(model_dir, model, extra or []) if model_dir.is_dir() else extra_runs(extra)
    if not chosen:
        raise PoseforgeError(f"nothing to score against {reference_path}: no other IR beside it and no --artifact")
    runners = [(label, open_runner(path, options)) for label, path, options in chosen]
    calibrated = {label: files for label, runner in runners if (files := calibration_files(runner.metadata))}
    kept, left_out = disjoint_images(folder, [path for files in calibrated.values() for path in files])
    kept = kept[:limit] if limit else kept
    if not kept:
        raise PoseforgeError(f"{folder} holds no image to score on ({plural(len(left_out), 'image')} left out: "
                             f"{', '.join(calibrated)} calibrated on them)")  # fmt: skip
    images = folder_images(kept)
    reference = Reference(run_poses(fp32, images, protocol, REFERENCE), [image.id for image in images])
    if reference.people == 0:
        raise PoseforgeError(f"{REFERENCE} finds nobody it scores at least {MIN_REFERENCE_SCORE:g} on the "
                             f"{plural(len(images), 'image')} of {folder} left to score: agreement is undefined there "
                             "(use images of people)")  # fmt: skip
    matched = {label: reference.matches(run_poses(runner, images, protocol, label)) for label, runner in runners}
    return agreement_table(protocol, matched, resamples, seed, versus, model=model, image_set=folder.resolve().name,
                           folder=str(folder.resolve()), images_sha256=files_sha256(kept), left_out=len(left_out),
                           left_out_because=sorted(calibrated))  # fmt: skip
