"""bundle.json: what a bundle holds, what its network wants and means, and what it was measured at.

The schema is documented in the README (Bundles). `SCHEMA` names its version: a reader
refuses a bundle whose schema it does not know rather than guess at its fields.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from poseforge.decode import DecoderParams
from poseforge.documents import BUNDLE, check_document
from poseforge.errors import PoseforgeError
from poseforge.fileio import sha256_file
from poseforge.metadata import toolchain_versions

SCHEMA = BUNDLE.schema
NETWORK_FILES = ("model.xml", "model.bin")


def file_entry(path: Path) -> dict[str, Any]:
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def bundle_manifest(
    meta: dict[str, Any],
    source_ir: dict[str, Any],
    reports: dict[str, dict[str, Any]],
    files: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """bundle.json from the bundle IR's metadata, the source IR, its reports and the file hashes.

    No creation time: the same inputs make the same bytes.
    """
    keypoints = meta["keypoints"]
    names = keypoints["keypoint_names"]
    return {
        "schema": SCHEMA,
        "model": meta["model"],
        "precision": meta["precision"],
        "artifact": meta["artifact"],
        "source_ir": source_ir,
        "input": meta["input"],
        "normalization": meta["normalization"],
        "outputs": meta["outputs"],
        "keypoints": {
            "names": names,
            "skeleton": keypoints["skeleton"],
            "limbs": [
                {"name": f"{names[a]}-{names[b]}", "keypoints": [a, b], "paf_channels": list(channels)}
                for (a, b), channels in zip(keypoints["limbs"], keypoints["limb_paf_channels"], strict=True)
            ],
            "coco_keypoint_names": keypoints["coco_keypoint_names"],
            "openpose_to_coco": keypoints["openpose_to_coco"],
            "stride": keypoints["stride"],
        },
        "decoder": dataclasses.asdict(DecoderParams()),
        "measured": {
            "artifact": source_ir["artifact"],
            **{protocol: _accuracy(report) for protocol, report in reports.items()},
            "speed": _speed(reports["deploy"]),
        },
        "versions": {"bundle": toolchain_versions(), "ir": meta.get("versions", {})},
        "source": _source(meta.get("source", {})),
        "notes": list(meta.get("notes", [])),
        "files": files,
    }


def _accuracy(report: dict[str, Any]) -> dict[str, Any]:
    """A report's accuracy with what it stands on: the image set, its people, the interval."""
    dataset = report["dataset"]
    return {
        **{k: report[k] for k in ("ap", "ap50", "ap75", "ar")},
        "interval": report["interval"],
        "image_set": dataset["name"],
        "images": report["images"],
        "people": dataset["people"],
        "annotations_sha256": dataset["annotations_sha256"],
        "precision_hint": report.get("precision_hint"),
        "threads": report.get("threads"),
        "machine": report.get("machine"),
        "report_created": report.get("created"),
    }


def _speed(report: dict[str, Any]) -> dict[str, Any]:
    speed = report["speed"]
    throughput = speed.get("throughput_settings", {})
    return {
        "shape": speed.get("shape"),
        "latency_ms": {k: speed["latency_ms"][k] for k in ("median", "p90")},
        "throughput_fps": speed["throughput_fps"],
        "e2e_fps": speed["e2e_fps"],
        "precision_hint": throughput.get("precision_hint"),
        "threads": throughput.get("threads"),
        "streams": throughput.get("streams"),
        "runtime": f"{throughput.get('runtime', '?')} {throughput.get('version', '')}".strip(),
        "machine": speed.get("machine"),
    }


def _source(source: dict[str, Any]) -> dict[str, Any]:
    licence = source.get("license")
    notice = f"Weights from {source.get('file', 'an unnamed source')} ({source.get('kind', 'unknown kind')}), " + (
        f"licence: {licence}." if licence else "licence not recorded: the terms of that source apply."
    )
    if source.get("trained") is False:
        notice += " NOT trained (random weights): for speed and complexity only."
    return {
        "checkpoint_sha256": source.get("sha256"),
        "kind": source.get("kind"),
        "file": source.get("file"),
        "license": licence,
        "notice": notice,
    }


def check_manifest(manifest: dict[str, Any], path: str | Path) -> None:
    """Refuse a bundle.json this poseforge cannot read or should not trust (documents.BUNDLE:
    deploy shape, decoder parameters and file entries within their bounds)."""
    name = Path(path).name
    check_document(manifest, BUNDLE, f"bundle {name}")
    files = manifest["files"]
    if sorted(files) != sorted(NETWORK_FILES):  # schema 1 bundles hold the network and nothing else
        raise PoseforgeError(
            f"bundle {name}: bundle.json lists {', '.join(sorted(files)) or 'no files'}, "
            f"not {' and '.join(NETWORK_FILES)}"
        )


def decoder_params(manifest: dict[str, Any]) -> DecoderParams:
    """The bundle's decoder defaults (checked by check_manifest) as DecoderParams."""
    try:
        return DecoderParams(**manifest["decoder"])
    except (TypeError, ValueError) as exc:
        raise PoseforgeError(f"bundle decoder parameters are invalid: {exc}") from None
