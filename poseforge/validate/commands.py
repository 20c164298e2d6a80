"""The `speed` and `validate` commands: the functions above, plus files and a summary line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from poseforge.artifacts import artifact_digest
from poseforge.documents import SPEED, read_document, write_document
from poseforge.errors import PoseforgeError
from poseforge.runtime import artifact_metadata
from poseforge.validate.dataset import CocoKeypoints
from poseforge.validate.speed import measure_speed
from poseforge.validate.validate import RESAMPLES, default_report_path, report_paths, validate_artifact


def speed_command(
    artifact: str | Path,
    coco: str | Path,
    output: str | Path,
    precision_hint: str | None = "f32",
    threads: int | None = None,
    iterations: int = 50,
    seconds: float = 10.0,
    limit: int | None = None,
) -> dict[str, Any]:
    meta = artifact_metadata(artifact)
    images = CocoKeypoints(coco).images(limit)
    deploy_shape = tuple(meta["input"]["deploy_shape"])
    speed = measure_speed(artifact, images, deploy_shape, precision_hint, threads, iterations, seconds)
    block = {
        "schema": SPEED.schema,
        "artifact": meta["artifact"],
        "artifact_sha256": artifact_digest(artifact),
        **speed,
    }
    write_document(output, SPEED, block)
    settings = speed["throughput_settings"]
    print(
        f"wrote {output}: {meta['artifact']} latency {speed['latency_ms']['median']:.1f} ms "
        f"(p90 {speed['latency_ms']['p90']:.1f}), "
        f"throughput {speed['throughput_fps']:.1f} fps, end-to-end {speed['e2e_fps']:.1f} fps, "
        f"decode {speed['decode_deploy_ms']['median']:.2f} ms at {deploy_shape[0]}x{deploy_shape[1]}, "
        f"{settings['threads']} threads, precision hint {settings['precision_hint']}"
    )
    return block


def read_speed(path: str | Path, artifact: str | Path, precision_hint: str | None = None) -> dict[str, Any]:
    """A speed block from `poseforge speed`, refused if it was measured on another artifact (any of
    its files) or under another precision hint."""
    block = read_document(path, SPEED)
    if block["artifact_sha256"] != artifact_digest(artifact):
        raise PoseforgeError(f"{path} was measured on another version of {artifact}: measure it again")
    measured = block["throughput_settings"].get("precision_hint")
    if precision_hint is not None and measured != precision_hint:
        raise PoseforgeError(f"{path} was measured with precision hint {measured}, not {precision_hint}")
    return block


def validate_command(
    artifact: str | Path,
    coco: str | Path,
    protocol: str,
    output: str | Path | None = None,
    limit: int | None = None,
    skip_bad_images: bool = False,
    precision_hint: str | None = "f32",
    threads: int | None = None,
    speed_file: str | Path | None = None,
    measure: bool = True,
    seconds: float = 10.0,
    resamples: int = RESAMPLES,
) -> dict[str, Any]:
    if speed_file and output and Path(speed_file).resolve() in {p.resolve() for p in report_paths(output)}:
        raise PoseforgeError(f"-o {output} would replace the speed file {speed_file} it reads: choose another output")
    speed = read_speed(speed_file, artifact, precision_hint) if speed_file else None
    # `output` stays None when not given: validate_artifact then refuses a subset (--limit) that
    # would take the place of the full report at the default path.
    report = validate_artifact(
        artifact, coco, protocol, output, limit, skip_bad_images, precision_hint, threads, speed, measure, seconds,
        resamples=resamples,
    )  # fmt: skip
    skipped = f", {len(report['skipped_images'])} bad image(s) skipped" if report["skipped_images"] else ""
    speed_text = (
        f", latency {report['latency_ms']['median']:.1f} ms, {report['throughput_fps']:.1f} fps, "
        f"end-to-end {report['e2e_fps']:.1f} fps"
        if report["latency_ms"]
        else ""
    )
    interval = report["interval"]
    bounds = f" [{interval['low']:.3f}, {interval['high']:.3f}]" if interval else ""
    dataset = report["dataset"]
    written = output or default_report_path(report, protocol)
    print(
        f"wrote {written}: {report['artifact']} {protocol}: AP {report['ap']:.3f}{bounds} "
        f"(AP50 {report['ap50']:.3f}, AR {report['ar']:.3f}) on {report['images']} images of {dataset['name']}, "
        f"{dataset['people']} people{skipped}, decode {report['decode_ms']:.2f} ms{speed_text}"
    )
    return report
