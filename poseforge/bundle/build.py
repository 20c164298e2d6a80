"""build_bundle(): an IR and its two validation reports -> dist/<model>-<precision>.tar.gz."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from poseforge.bundle.archive import MANIFEST, write_archive
from poseforge.bundle.camera import camera_input_model
from poseforge.bundle.manifest import NETWORK_FILES, PRECISIONS, PROTOCOLS, bundle_manifest, file_entry
from poseforge.errors import PoseforgeError
from poseforge.fileio import sha256_file, write_json

SUFFIX = ".tar.gz"


def build_bundle(ir_xml: str | Path, reports_dir: str | Path, output: str | Path) -> dict[str, Any]:
    """Write the bundle of `ir_xml` to `output` (atomically); return its bundle.json.

    The reports are `<reports_dir>/<artifact>-{val,deploy}.json` as `poseforge validate`
    writes them, with speed, measured on exactly this IR (checked by sha256).
    """
    import openvino as ov

    from poseforge.ir_files import read_ir
    from poseforge.runtime.openvino_runner import ir_metadata

    ir_xml, output = Path(ir_xml), Path(output)
    if not output.name.endswith(SUFFIX):
        raise PoseforgeError(f"a bundle is a {SUFFIX} file: {output}")
    model = read_ir(ir_xml)
    meta = ir_metadata(model, ir_xml)
    precision, artifact = meta.get("precision"), meta.get("artifact")
    if precision not in PRECISIONS or artifact != f"ir-{precision}":
        raise PoseforgeError(
            f"{ir_xml} is {artifact} (precision {precision}): bundles are made of ir-fp32, ir-fp16 or ir-int8"
        )
    ir_sha256 = sha256_file(ir_xml)
    reports = {p: _load_report(Path(reports_dir), artifact, p, ir_xml, ir_sha256) for p in PROTOCOLS}
    camera_model, camera_meta = camera_input_model(model, meta)
    source_ir = {"artifact": artifact, "file": ir_xml.name, "sha256": ir_sha256}

    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".bundle.", dir=output.parent) as work:
        work_dir = Path(work)
        ov.save_model(camera_model, str(work_dir / "model.xml"), compress_to_fp16=False)  # weights as they are
        files = {name: file_entry(work_dir / name) for name in NETWORK_FILES}
        manifest = bundle_manifest(camera_meta, source_ir, reports, files)
        write_json(work_dir / MANIFEST, manifest)
        write_archive(output, {name: work_dir / name for name in (*NETWORK_FILES, MANIFEST)})
    return manifest


def _load_report(reports_dir: Path, artifact: str, protocol: str, ir_xml: Path, ir_sha256: str) -> dict[str, Any]:
    from poseforge.validate.validate import read_report  # build side only: predict never gets here

    path = reports_dir / f"{artifact}-{protocol}.json"
    if not path.is_file():
        raise PoseforgeError(
            f"missing {protocol} report of {artifact}: {path} (make it with `poseforge validate {ir_xml} "
            f"--protocol {protocol} --speed ... -o {path}` or `make validate`)"
        )
    report = read_report(path)
    if report.get("artifact") != artifact or report.get("protocol") != protocol:
        raise PoseforgeError(f"{path} is the {report.get('protocol')} report of {report.get('artifact')}")
    if report.get("artifact_sha256") != ir_sha256:
        raise PoseforgeError(f"{path} was measured on another version of {ir_xml}: validate it again")
    if not report.get("speed"):
        raise PoseforgeError(f"{path} has no speed: validate with --speed FILE from `poseforge speed`")
    return report


def bundle_command(ir_xml: str | Path, reports_dir: str | Path, output: str | Path) -> dict[str, Any]:
    manifest = build_bundle(ir_xml, reports_dir, output)
    measured, (height, width) = manifest["measured"], manifest["input"]["deploy_shape"]
    print(
        f"wrote {output}: {manifest['model']} {manifest['precision']}, input u8 BGR NHWC [1,H,W,3] "
        f"(deploy {height}x{width}), AP val {measured['val']['ap']:.3f} / deploy {measured['deploy']['ap']:.3f} "
        f"and {measured['speed']['throughput_fps']:.1f} fps as measured on {measured['artifact']}, "
        f"{Path(output).stat().st_size / 1e6:.1f} MB"
    )
    return manifest
