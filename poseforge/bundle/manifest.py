"""bundle.json: what a bundle holds, what its network wants and means, and what it was measured at.

Every claim in it is bound to something else in the bundle, and the loader derives it again from
there, with the same function that wrote it, refusing any disagreement:

- the network's description (model, precision, source IR, input and deploy shape, normalisation,
  outputs, keypoint schema, decoder defaults, source and licence notice, notes, versions) from the
  metadata inside the bundle's own IR (`ir_claims`); bundle.json repeats it for readers without
  OpenVINO;
- the measured figures from the validation reports the bundle carries, `report-<protocol>.json`
  (the native protocol at other input heights `report-native@<height>.json`, under
  `measured.native_heights`), which must be reports of exactly its source IR (`measured_claims`,
  `check_reports`);
- every other file by its sha256 and size (`files`), and bundle.json itself by its own sha256: the
  bundle's digest, which a signature (bundle.sig) covers.

The schema is documented in the README (Bundles). `SCHEMA` names its version: a reader refuses a
bundle whose schema it does not know rather than guess at its fields.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from poseforge.artifacts import BUNDLE_PROTOCOLS, DEFAULT_HEIGHT, VARIANT_HINTS, protocol_key, report_key
from poseforge.decode import DecoderParams
from poseforge.documents import BUNDLE, BUNDLE_IR_METADATA, REPORT, check_document, loads
from poseforge.errors import PoseforgeError
from poseforge.fileio import sha256_file
from poseforge.text import plural

SCHEMA = BUNDLE.schema
OLDER_SCHEMAS = ("poseforge.bundle/1",)  # bundles whose claims were bound to nothing: refused by name
NETWORK_FILES = ("model.xml", "model.bin")
PROTOCOLS = (*BUNDLE_PROTOCOLS, "native")  # native's report is carried when it was measured
# A report is carried per run (carried_runs): a protocol under the precision hint f32 (`val`), the native
# protocol at another input height (`native@320`), or a protocol of BUNDLE_PROTOCOLS under another hint the
# IR was also validated at (`val.bf16`).
MAX_BYTES = 1 << 30  # all files together: 5 times the largest network poseforge makes (openpose-vgg19 FP32)
MAX_REPORT_BYTES = 1 << 20  # a report is a few kB (an INT8 one lists its calibration images' sha256)


def report_file(run: str) -> str:
    """The member holding the report a bundle's `measured.<protocol>` (or its `hints.<hint>.<protocol>`,
    or its `native_heights.<height>`) comes from: `report-val.json`, `report-val.bf16.json`,
    `report-native@320.json`."""
    return f"report-{run}.json"


def carried_runs(measured: dict[str, Any]) -> list[str]:
    """The runs whose reports a bundle carries, by what its bundle.json's `measured` holds."""
    runs = [p for p in PROTOCOLS if p in measured]
    runs += [protocol_key("native", int(height)) for height in measured.get("native_heights", {})]
    runs += [run_key(p, hint) for hint in measured.get("hints", {}) for p in BUNDLE_PROTOCOLS]
    return runs


def native_measured(measured: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The accuracy a bundle measured under the native protocol, by input height."""
    found = {int(height): accuracy for height, accuracy in measured.get("native_heights", {}).items()}
    if "native" in measured:
        found[DEFAULT_HEIGHT] = measured["native"]
    return dict(sorted(found.items()))


def ap_text(accuracy: dict[str, Any]) -> str:
    """An AP with its interval, and the agreement with the FP32 IR where the report measured one."""
    interval, agreed = accuracy["interval"], accuracy.get("agreement")
    text = f"AP {accuracy['ap']:.3f}" + (f" [{interval['low']:.3f}, {interval['high']:.3f}]" if interval else "")
    return text + (f" (agreement with {agreed['reference']['artifact']} {agreed['ap']:.3f})" if agreed else "")


def measured_line(measured: dict[str, Any], input_size: str, height: int, deploy_shape: list[int]) -> str:
    """What a bundle measured, in one line, led by the figure of what runs: the native protocol at input
    `height` (`input_size` "native"), or the deploy shape letterboxed ("letterbox"); when that was not
    measured, the nearest figure that was, said to be another; then the others, and on what images."""
    native = native_measured(measured)
    shape = f"{deploy_shape[0]}x{deploy_shape[1]}"
    if input_size == "letterbox":
        lead, shown = f"deploy {ap_text(measured['deploy'])} letterboxed into {shape} (what runs)", ("deploy", None)
    elif height in native:
        lead, shown = f"native {ap_text(native[height])} at input height {height} (what runs)", ("native", height)
    elif native:
        near = min(native, key=lambda h: (abs(h - height), h))
        lead = (f"native at input height {height} (what runs) was not measured; the nearest measured: native "
                f"{ap_text(native[near])} at height {near}, not what runs")  # fmt: skip
        shown = ("native", near)
    else:
        lead = (f"native at input height {height} (what runs) was not measured; the nearest measured: deploy "
                f"{ap_text(measured['deploy'])} at {shape} letterboxed, not what runs")  # fmt: skip
        shown = ("deploy", None)
    others = [f"val {ap_text(measured['val'])} (upstream's evaluation, height 368)"]
    if shown[0] != "deploy":
        others.append(f"deploy {ap_text(measured['deploy'])} ({shape} letterboxed)")
    others += [f"native {ap_text(accuracy)} at height {h}" for h, accuracy in native.items() if shown != ("native", h)]
    val = measured["val"]
    people = plural(val["people"], "person", "people")
    return f"{lead}; also measured: {', '.join(others)}; on {val['image_set']} ({people})"


def run_key(protocol: str, hint: str | None) -> str:
    return protocol if hint in (None, "f32") else f"{protocol}.{hint}"


def split_run(run: str) -> tuple[str, str]:
    """(protocol, precision hint) of a run key."""
    protocol, _, hint = run.partition(".")
    return protocol, hint or "f32"


def file_entry(data: Path | bytes) -> dict[str, Any]:
    """A file's entry in bundle.json: its sha256 and size (of a file, or of bytes held in memory)."""
    if isinstance(data, bytes):
        return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    return {"sha256": sha256_file(data), "bytes": data.stat().st_size}


def licence_notice(source: dict[str, Any]) -> str:
    """What the weights' source and licence say, in one line (shown by predict and PoseEstimator)."""
    licence = source.get("license")
    notice = f"Weights from {source.get('file', 'an unnamed source')} ({source.get('kind', 'unknown kind')}), " + (
        f"licence: {licence}." if licence else "licence not recorded: the terms of that source apply."
    )
    if source.get("trained") is False:
        notice += " NOT trained (random weights): for speed and complexity only."
    return notice


def ir_claims(meta: dict[str, Any]) -> dict[str, Any]:
    """What bundle.json says about the network, from the bundle IR's metadata (documents.
    BUNDLE_IR_METADATA): the builder writes these fields, the loader compares them."""
    keypoints, source = meta["keypoints"], meta["source"]
    names = keypoints["keypoint_names"]
    try:
        limbs = [
            {"name": f"{names[a]}-{names[b]}", "keypoints": [a, b], "paf_channels": list(channels)}
            for (a, b), channels in zip(keypoints["limbs"], keypoints["limb_paf_channels"], strict=True)
        ]
    except ValueError:
        raise PoseforgeError("the bundle IR's metadata has limbs and PAF channels of different counts") from None
    return {
        "model": meta["model"],
        "precision": meta["precision"],
        "artifact": meta["artifact"],
        "source_ir": meta["source_ir"],
        "input": meta["input"],
        "normalization": meta["normalization"],
        "outputs": meta["outputs"],
        "keypoints": {
            "names": names,
            "skeleton": keypoints["skeleton"],
            "limbs": limbs,
            "coco_keypoint_names": keypoints["coco_keypoint_names"],
            "openpose_to_coco": keypoints["openpose_to_coco"],
            "stride": keypoints["stride"],
        },
        "decoder": meta["decoder"],
        "source": {
            "checkpoint_sha256": source.get("sha256"),
            "kind": source.get("kind"),
            "file": source.get("file"),
            "license": source.get("license"),
            "notice": source["notice"],
        },
        "notes": meta.get("notes", []),
        "versions": meta["versions"],
    }


def measured_claims(artifact: str, reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """bundle.json's `measured`: each f32 report's accuracy and the deploy report's speed; under
    `hints`, the same for each other precision hint the IR was validated at."""
    measured: dict[str, Any] = {
        "artifact": artifact,
        **{protocol: _accuracy(reports[protocol]) for protocol in PROTOCOLS if protocol in reports},
        "speed": _speed(reports["deploy"]),
    }
    # The native protocol at the other input heights it was validated at (PoseEstimator's input_height).
    heights = sorted(report["input_height"] for run, report in reports.items() if run.startswith("native@"))
    if heights:
        measured["native_heights"] = {str(h): _accuracy(reports[protocol_key("native", h)]) for h in heights}
    hints = {}
    for hint in VARIANT_HINTS:
        runs = {p: reports[run_key(p, hint)] for p in BUNDLE_PROTOCOLS if run_key(p, hint) in reports}
        if runs:
            hints[hint] = {**{p: _accuracy(r) for p, r in runs.items()}, "speed": _speed(runs["deploy"])}
    if hints:
        measured["hints"] = hints
    return measured


def validated(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What the bundle's IR was validated at, per machine class and precision hint:
    {class: {hint: {"ap": val AP, "throughput_fps": deploy-shape throughput}}} (PoseEstimator's
    `precision_hint="auto"` chooses from it)."""
    measured = manifest["measured"]
    runs = [(measured["val"], measured["speed"])]
    runs += [(figures["val"], figures["speed"]) for figures in measured.get("hints", {}).values()]
    out: dict[str, dict[str, Any]] = {}
    for accuracy, speed in runs:
        if speed["machine"] is None or speed["machine"]["class"] != accuracy["machine"]["class"]:
            continue  # speed and accuracy from different machines say nothing about one of them
        out.setdefault(accuracy["machine"]["class"], {})[accuracy["precision_hint"] or "f32"] = {
            "ap": accuracy["ap"], "throughput_fps": speed["throughput_fps"]}  # fmt: skip
    return out


def bundle_manifest(
    meta: dict[str, Any], reports: dict[str, dict[str, Any]], files: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """bundle.json from the bundle IR's metadata, the source IR's reports and the file entries.

    No creation time: the same inputs make the same bytes.
    """
    return {
        "schema": SCHEMA,
        **ir_claims(meta),
        "measured": measured_claims(meta["source_ir"]["artifact"], reports),
        "files": files,
    }


def _accuracy(report: dict[str, Any]) -> dict[str, Any]:
    """A report's accuracy with what it stands on: the image set, its people, the interval; and its
    agreement with the FP32 IR, where the report has one."""
    dataset = report["dataset"]
    agreement = {"agreement": report["agreement"]} if report.get("agreement") else {}
    return {
        **{k: report[k] for k in ("ap", "ap50", "ap75", "ar")},
        "interval": report["interval"],
        "image_set": dataset["name"],
        "images": report["images"],
        "people": dataset["people"],
        "subset": report["subset"],
        "annotations_sha256": dataset["annotations_sha256"],
        "precision_hint": report.get("precision_hint"),
        "threads": report.get("threads"),
        "machine": report.get("machine"),
        "report_created": report.get("created"),
        **agreement,
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


# --- checks -----------------------------------------------------------------------------------------------------
def check_manifest(manifest: dict[str, Any], path: str | Path) -> None:
    """Refuse a bundle.json this poseforge cannot read or should not trust: the schema (documents.
    BUNDLE), the files it lists (the network and one report per measured protocol, within their
    sizes) and a deploy shape other than the one its speed was measured at."""
    name = Path(path).name
    where = f"bundle {name}"
    if isinstance(manifest, dict) and manifest.get("schema") in OLDER_SCHEMAS:
        got = manifest["schema"]
        raise PoseforgeError(f"{where}: bundle.json is {got}, made by an older poseforge whose claims were not "
                             f"bound ({SCHEMA}): make it again with `poseforge bundle`")  # fmt: skip
    check_document(manifest, BUNDLE, where)
    files, measured = manifest["files"], manifest["measured"]
    carried = carried_runs(measured)
    expected = sorted([*NETWORK_FILES, *(report_file(run) for run in carried)])
    if sorted(files) != expected:
        raise PoseforgeError(f"{where}: bundle.json lists {', '.join(sorted(files))}, not {', '.join(expected)}")
    for run in carried:
        entry = files[report_file(run)]
        if entry["bytes"] > MAX_REPORT_BYTES:
            raise PoseforgeError(f"{where}: bundle.json lists {report_file(run)} of {entry['bytes']} bytes, "
                                 f"larger than any report ({MAX_REPORT_BYTES})")  # fmt: skip
    total = sum(entry["bytes"] for entry in files.values())
    if total > MAX_BYTES:
        raise PoseforgeError(f"{where}: bundle.json lists {total} bytes of files, more than any bundle ({MAX_BYTES})")
    deploy, shape = manifest["input"]["deploy_shape"], measured["speed"]["shape"]
    if shape != [1, 3, *deploy]:
        raise PoseforgeError(f"{where}: bundle.json input.deploy_shape {deploy} is not the shape its speed was "
                             f"measured at ({shape[2:]})")  # fmt: skip


def check_reports(manifest: dict[str, Any], reports: dict[str, bytes], path: str | Path) -> dict[str, Any]:
    """Read the reports a bundle carries (protocol -> the bytes of its report member), check that
    they are reports of the bundle's source IR, and that bundle.json's `measured` is what they say.
    Returns the reports."""
    name = Path(path).name
    source = manifest["source_ir"]
    read: dict[str, dict[str, Any]] = {}
    # f32 runs first, then other hints', each in member order: a refusal names the same report wherever it is made.
    for run, raw in sorted(reports.items(), key=lambda item: (split_run(item[0])[1] != "f32", item[0])):
        where = f"bundle {name}: {report_file(run)}"
        report = check_document(loads(raw, "JSON document", where), REPORT, where)
        protocol, hint = split_run(run)
        if report["artifact"] != source["artifact"] or report_key(report) != protocol:
            raise PoseforgeError(f"{where} is the {report_key(report)} report of {report['artifact']}, not the "
                                 f"{protocol} report of {source['artifact']}")  # fmt: skip
        if (report["precision_hint"] or "f32") != hint:
            raise PoseforgeError(f"{where} was measured under precision hint {report['precision_hint']}, not {hint}")
        if report["artifact_sha256"] != source["sha256"]:
            raise PoseforgeError(f"{where} was measured on another IR (sha256 {report['artifact_sha256'][:12]}...) "
                                 f"than the bundle's source IR ({source['sha256'][:12]}...)")  # fmt: skip
        if report["model"] != manifest["model"]:
            raise PoseforgeError(f"{where} is a report of {report['model']}, not of {manifest['model']}")
        read[run] = report
    if len({r["dataset"]["image_ids_sha256"] for r in read.values()}) > 1:
        raise PoseforgeError(f"bundle {name}: its reports were measured on different images")
    if not read["deploy"].get("speed"):
        raise PoseforgeError(f"bundle {name}: {report_file('deploy')} has no speed")
    _refuse_difference(manifest["measured"], measured_claims(source["artifact"], read), "measured",
                       f"bundle {name}: bundle.json", "its reports say")  # fmt: skip
    return read


def check_ir_claims(manifest: dict[str, Any], meta: dict[str, Any], path: str | Path) -> None:
    """Refuse a bundle.json that says about its network anything other than the network's own
    metadata (`meta`, from rt_info inside model.xml)."""
    where = f"bundle {Path(path).name}"
    check_document(meta, BUNDLE_IR_METADATA, f"{where}: model.xml")
    for key, value in ir_claims(meta).items():
        _refuse_difference(manifest[key], value, key, f"{where}: bundle.json", "the network's own metadata says")


def _refuse_difference(claimed: Any, derived: Any, field: str, where: str, says: str) -> None:
    found = _difference(claimed, derived, field)
    if found is not None:
        path, got, expected = found
        raise PoseforgeError(f"{where} {path} is {_shown(got)} where {says} {_shown(expected)}: "
                             "not the bundle that was made (edited, or assembled from other parts)")  # fmt: skip


_ABSENT = object()


def _difference(claimed: Any, derived: Any, field: str) -> tuple[str, Any, Any] | None:
    """The first (field, claimed, derived) where two JSON values differ, else None."""
    if isinstance(claimed, dict) and isinstance(derived, dict):
        for key in sorted(claimed.keys() | derived.keys()):
            left, right = claimed.get(key, _ABSENT), derived.get(key, _ABSENT)
            found = _difference(left, right, f"{field}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(claimed, list) and isinstance(derived, list) and len(claimed) == len(derived):
        for i, (left, right) in enumerate(zip(claimed, derived, strict=True)):
            found = _difference(left, right, f"{field}[{i}]")
            if found is not None:
                return found
        return None
    same = claimed is not _ABSENT and type(claimed) is type(derived) and claimed == derived
    return None if same else (field, claimed, derived)


def _shown(value: Any) -> str:
    if value is _ABSENT:
        return "absent"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def decoder_params(manifest: dict[str, Any]) -> DecoderParams:
    """The bundle's decoder defaults (checked by check_manifest) as DecoderParams."""
    try:
        return DecoderParams(**manifest["decoder"])
    except (TypeError, ValueError) as exc:
        raise PoseforgeError(f"bundle decoder parameters are invalid: {exc}") from None
