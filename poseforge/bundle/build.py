"""build_bundle(): an IR and its two validation reports -> dist/<model>-<precision>.tar.gz."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from poseforge.artifacts import (
    BUNDLE_PRECISIONS,
    BUNDLE_PROTOCOLS,
    REFERENCE,
    VARIANT_HINTS,
    artifact_digest,
    report_key,
    run_name,
    split_protocol_key,
)
from poseforge.bundle.archive import MANIFEST, SIGNATURE, write_archive
from poseforge.bundle.camera import camera_input_model
from poseforge.bundle.manifest import (
    MAX_REPORT_BYTES,
    NETWORK_FILES,
    bundle_manifest,
    file_entry,
    licence_notice,
    report_file,
    run_key,
    split_run,
)
from poseforge.bundle.signature import read_private_key, sign
from poseforge.decode import DecoderParams
from poseforge.documents import BUNDLE, MAX_NATIVE_HEIGHTS, REPORT, check_document, loads, read_bytes, write_document
from poseforge.errors import PoseforgeError
from poseforge.fileio import claim, reading, scratch_directory
from poseforge.validate.accuracy.agreement_reports import ReportScorer, reference_report, rescored
from poseforge.validate.accuracy.compare import rederived

SUFFIX = ".tar.gz"


# Below this val AP a network has not learnt to find people: a random-init one scores 0.
UNTRAINED_AP = 0.01


def build_bundle(
    ir_xml: str | Path,
    reports_dir: str | Path,
    output: str | Path,
    allow_subset: bool = False,
    allow_untrained: bool = False,
    sign_with: str | Path | None = None,
) -> dict[str, Any]:
    """Write the bundle of `ir_xml` to `output` (atomically); return its bundle.json.

    The reports are `<reports_dir>/<artifact>-{val,deploy}.json` as `poseforge validate`
    writes them, with speed, measured on exactly this IR (its .xml and .bin, checked by
    sha256) and on the full image set (a subset only with `allow_subset`), every figure bundle.json
    copies from them re-derived from their results (`_check_figures`); the bundle carries them, byte
    for byte. An untrained network (random-init metadata, or a val AP below
    UNTRAINED_AP) needs `allow_untrained`. `sign_with`, a private key file from `poseforge
    keygen`, adds bundle.sig: its signature over bundle.json.
    """

    from poseforge.ir_files import ir_metadata, read_ir, save_ir

    ir_xml, output = Path(ir_xml), Path(output)
    if not output.name.endswith(SUFFIX):
        raise PoseforgeError(f"a bundle is a {SUFFIX} file: {output}")
    claim(output)  # refused before any work if it is not ours to replace
    private_key = read_private_key(sign_with) if sign_with is not None else None
    model = read_ir(ir_xml)
    meta = ir_metadata(model, ir_xml)
    precision, artifact = meta.get("precision"), meta.get("artifact")
    if precision not in BUNDLE_PRECISIONS or artifact != f"ir-{precision}":
        raise PoseforgeError(
            f"{ir_xml} is {artifact} (precision {precision}): bundles are made of ir-fp32, ir-fp16 or ir-int8"
        )
    ir_sha256 = artifact_digest(ir_xml)
    runs = [*BUNDLE_PROTOCOLS, *(["native"] if (Path(reports_dir) / f"{artifact}-native.json").is_file() else [])]
    runs += native_heights(Path(reports_dir), artifact)
    # The IR validated under another precision hint too (bf16, where the CPU runs it natively): carried, so that
    # PoseEstimator can choose the hint by what was measured on its machine class.
    for hint in VARIANT_HINTS:
        variant = [run_key(p, hint) for p in BUNDLE_PROTOCOLS]
        if all((Path(reports_dir) / f"{run_name(artifact, hint)}-{p}.json").is_file() for p in BUNDLE_PROTOCOLS):
            runs += variant
    # Each report is read once: the bytes the bundle carries are the bytes that were checked.
    loaded = {run: _load_report(Path(reports_dir), artifact, run, ir_xml, ir_sha256, allow_subset) for run in runs}
    reports = {run: report for run, (report, _) in loaded.items()}
    if len({r["dataset"]["image_ids_sha256"] for r in reports.values()}) > 1:
        raise PoseforgeError(f"the reports of {artifact} ({', '.join(reports)}) were measured on different images")
    _check_figures(Path(reports_dir), artifact, reports)
    if not allow_untrained:
        _refuse_untrained(meta, reports["val"], ir_xml)
    # The bundle IR's own metadata carries everything bundle.json repeats about the network.
    camera_model, camera_meta = camera_input_model(
        model,
        meta,
        source_ir={"artifact": artifact, "file": ir_xml.name, "sha256": ir_sha256},
        decoder=dataclasses.asdict(DecoderParams()),
        source={**meta.get("source", {}), "notice": licence_notice(meta.get("source", {}))},
    )

    with scratch_directory(output) as work_dir:
        save_ir(camera_model, work_dir / "model.xml")  # weights as they are
        members: dict[str, Path | bytes] = {name: work_dir / name for name in NETWORK_FILES}
        members.update({report_file(run): raw for run, (_, raw) in loaded.items()})
        files = {name: file_entry(data) for name, data in members.items()}
        manifest = bundle_manifest(camera_meta, reports, files)
        members[MANIFEST] = write_document(work_dir / MANIFEST, BUNDLE, manifest).read_bytes()
        if private_key is not None:
            members[SIGNATURE] = sign(private_key, members[MANIFEST])
        write_archive(output, members)
    return manifest


def native_heights(reports_dir: Path, artifact: str) -> list[str]:
    """The runs of the native protocol at other input heights that `reports_dir` holds for `artifact`
    (`<artifact>-native@<height>.json`), by height: carried, so that PoseEstimator can say what was
    measured at the height it runs."""
    found = []
    for path in reports_dir.glob(f"{artifact}-native@*.json"):
        key = path.stem.removeprefix(f"{artifact}-")
        found.append((split_protocol_key(key)[1], key))  # a name that is no height is refused, not skipped
    if len(found) > MAX_NATIVE_HEIGHTS:
        raise PoseforgeError(f"{reports_dir} holds native reports of {artifact} at {len(found)} heights: a bundle "
                             f"carries at most {MAX_NATIVE_HEIGHTS}")  # fmt: skip
    return [key for _, key in sorted(found)]


def _refuse_untrained(meta: dict[str, Any], val: dict[str, Any], ir_xml: Path) -> None:
    source = meta.get("source") or {}
    if source.get("trained") is False or source.get("kind") == "random-init":
        raise PoseforgeError(f"{ir_xml} holds random-init weights (NOT trained): not bundled (--allow-untrained)")
    if val["ap"] < UNTRAINED_AP:
        raise PoseforgeError(
            f"{ir_xml} scores val AP {val['ap']:.3f} on {val['dataset']['name']}: an untrained or broken network, "
            "not bundled (--allow-untrained)"
        )


def _check_figures(reports_dir: Path, artifact: str, reports: dict[str, dict[str, Any]]) -> None:
    """Refuse a report whose figures bundle.json copies are not what its results give: its AP, AR,
    interval and counts (compare.rederived), and its agreement with the FP32 IR, scored again against
    the FP32 IR's report of its protocol beside it (agreement_reports.rescored)."""
    scorer = ReportScorer()
    for run, report in reports.items():
        path = _report_path(reports_dir, artifact, run)
        rederived(path, report, scorer.datasets)
        if report.get("agreement"):
            reference = reports_dir / reference_report(report_key(report))
            if not reference.is_file():
                raise PoseforgeError(f"{path} carries an agreement with {REFERENCE}, but {reference} it was scored "
                                     "against is missing: the agreement cannot be checked")  # fmt: skip
            rescored(scorer, path, report, reference)


def _report_path(reports_dir: Path, artifact: str, run: str) -> Path:
    protocol, hint = split_run(run)
    return reports_dir / f"{run_name(artifact, hint)}-{protocol}.json"


def _load_report(
    reports_dir: Path, artifact: str, run: str, ir_xml: Path, ir_sha256: str, allow_subset: bool
) -> tuple[dict[str, Any], bytes]:
    protocol, hint = split_run(run)
    path = _report_path(reports_dir, artifact, run)
    if not path.is_file():
        raise PoseforgeError(
            f"missing {protocol} report of {artifact}: {path} (make it with `poseforge validate {ir_xml} "
            f"--protocol {protocol} --speed ... -o {path}` or `make validate`)"
        )
    raw = read_bytes(reading(path, f"report {path}"), REPORT.what, MAX_REPORT_BYTES)
    report = check_document(loads(raw, REPORT.what, path), REPORT, path)
    if report.get("artifact") != artifact or report_key(report) != protocol:
        raise PoseforgeError(f"{path} is the {report_key(report)} report of {report.get('artifact')}")
    if (report.get("precision_hint") or "f32") != hint:
        raise PoseforgeError(f"{path} was measured under precision hint {report.get('precision_hint')}, not {hint}")
    if report["artifact_sha256"] != ir_sha256:
        raise PoseforgeError(
            f"{path} was measured on another version of {ir_xml} (its .xml or .bin): validate it again"
        )
    if report["subset"] and not allow_subset:
        raise PoseforgeError(
            f"{path} is on a subset ({report['images']} of {report['dataset']['images_total']} images): "
            "a bundle attests full-set figures (--allow-subset to bundle it anyway)"
        )
    # The bundle's speed is its deploy report's; the other heights' are bench's (report.md's height table).
    if not report.get("speed") and "@" not in protocol:
        raise PoseforgeError(f"{path} has no speed: validate with --speed FILE from `poseforge speed`")
    return report, raw
