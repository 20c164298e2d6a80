"""report.md, report.png and an example drawing from a model's validation reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from poseforge import __version__
from poseforge.artifacts import PROTOCOLS, order
from poseforge.errors import PoseforgeError
from poseforge.fileio import MARKDOWN_MARK, atomic_output
from poseforge.validate.gate import comparable_reports

PNG_METADATA = {"Software": f"poseforge {__version__}"}  # the mark that lets a rerun replace the file


def load_reports(model_dir: str | Path, allow_subset: bool = False) -> list[dict[str, Any]]:
    """Every report in `model_dir/reports` (one model, one image set), in pipeline order."""
    reports = [report for _, _, _, report in comparable_reports(model_dir, allow_subset)]
    return sorted(reports, key=lambda r: (order(r["artifact"]), r["artifact"], PROTOCOLS.index(r["protocol"])))


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def markdown(reports: list[dict[str, Any]], model: str) -> str:
    first = reports[0]
    machine = first["machine"]
    hints = sorted({str(r["precision_hint"]) for r in reports})
    threads = sorted({str(r["threads"]) for r in reports})
    lines = [
        f"# {model}: accuracy and speed of every artifact",
        "",
        f"COCO keypoint AP (pycocotools) on {first['images']} images of `{first['dataset']['annotations']}`; "
        "speed at the deploy shape 256x456.",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, ISA {' '.join(machine['isa'])}. "
        f"Threads {', '.join(threads)}; OpenVINO precision hint {', '.join(hints)}; "
        f"OpenVINO {first['versions'].get('openvino', '?')}, torch {first['versions'].get('torch', '?')}, "
        f"onnxruntime {first['versions'].get('onnxruntime', '?')}.",
        "",
        "| artifact | protocol | AP | AP50 | AR | latency ms (median / p90) | fps | decode ms | e2e fps | size MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in reports:
        latency = r.get("latency_ms") or {}
        lines.append(
            f"| {r['artifact']} | {r['protocol']} | {r['ap']:.3f} | {r['ap50']:.3f} | {r['ar']:.3f} | "
            f"{_fmt(latency.get('median'), '.1f')} / {_fmt(latency.get('p90'), '.1f')} | "
            f"{_fmt(r.get('throughput_fps'), '.1f')} | {r['decode_ms']:.2f} | {_fmt(r.get('e2e_fps'), '.1f')} | "
            f"{r['size_mb']:.1f} |"
        )
    lines += [
        "",
        "- Protocols: `val` = upstream evaluation (height 368, bicubic, centre padding to a multiple of 8 with "
        "grey 128); `deploy` = the artifact's 256x456 input, letterboxed.",
        "- latency: LATENCY hint, one request, after warm-up. fps: network throughput, THROUGHPUT hint with an "
        "async queue (torch and onnxruntime: one request after another). decode ms: median per image under the "
        "row's protocol. e2e fps: read, letterbox, infer frame N+1 while decoding frame N, over the COCO images.",
        "- Speed figures are from one run on one machine: compare them as ratios.",
    ]
    notes = sorted({f"{r['artifact']}: {note}" for r in reports for note in r.get("notes", [])})
    skipped = [f"{r['artifact']} {r['protocol']}: {len(r['skipped_images'])} bad image(s) skipped"
               for r in reports if r["skipped_images"]]  # fmt: skip
    if notes or skipped:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes + skipped]
    lines += [
        "",
        "![AP against fps](report.png)",
        "",
        "![decoded skeletons](report-example.png)",
        "",
        MARKDOWN_MARK,
        "",
    ]
    return "\n".join(lines)


def plot(reports: list[dict[str, Any]], path: Path, model: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for protocol, marker in (("val", "o"), ("deploy", "s")):
        rows = [r for r in reports if r["protocol"] == protocol and r.get("throughput_fps")]
        ax.scatter([r["throughput_fps"] for r in rows], [r["ap"] for r in rows], marker=marker,
                   label=f"{protocol} protocol")  # fmt: skip
        for r in rows:
            ax.annotate(r["artifact"], (r["throughput_fps"], r["ap"]), textcoords="offset points", xytext=(4, 4),
                        fontsize=8)  # fmt: skip
    machine = reports[0]["machine"]
    ax.set_xlabel(f"network throughput at 256x456, fps ({machine['cores']} cores)")
    ax.set_ylabel("COCO keypoint AP")
    ax.set_title(f"{model}: accuracy against speed")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, metadata=PNG_METADATA)
    plt.close(fig)


def example_image(reports: list[dict[str, Any]], coco_dir: str | Path, path: Path) -> None:
    """The COCO image with the most annotated people, decoded by the IR FP32 (or the first artifact)."""
    import cv2

    from poseforge.decode import decode
    from poseforge.draw import draw_poses
    from poseforge.images import read_image
    from poseforge.preprocess import prepare, to_nchw
    from poseforge.runtime import open_runner
    from poseforge.validate.dataset import CocoKeypoints

    dataset = CocoKeypoints(coco_dir)
    counts = {i: sum(a.get("num_keypoints", 0) > 0 for a in dataset.coco.imgToAnns[i]) for i in dataset.coco.imgs}
    image_id = max(sorted(counts), key=counts.get)
    source = next((r for r in reports if r["artifact"] == "ir-fp32"), reports[0])
    runner = open_runner(source["artifact_file"])
    pixels = read_image(dataset.images_dir / dataset.coco.imgs[image_id]["file_name"])
    prepared = prepare(pixels, "val")
    heatmaps, pafs = runner.run(to_nchw(prepared.image))
    drawing = draw_poses(pixels, decode(heatmaps[0], pafs[0], prepared.geometry))
    ok, encoded = cv2.imencode(".png", drawing)
    if not ok:
        raise PoseforgeError(f"cannot encode {path} as PNG")
    with atomic_output(path) as tmp:
        tmp.write_bytes(png_with_text(encoded.tobytes(), PNG_METADATA))


def png_with_text(png: bytes, text: dict[str, str]) -> bytes:
    """A PNG with tEXt chunks added after its header chunk (IHDR), as matplotlib's metadata writes them."""
    import struct
    import zlib

    ihdr_end = 8 + 8 + struct.unpack(">I", png[8:12])[0] + 4  # signature, length + type, data, crc
    chunks = b""
    for key, value in text.items():
        body = b"tEXt" + key.encode("latin-1") + b"\0" + value.encode("latin-1")
        chunks += struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    return png[:ihdr_end] + chunks + png[ihdr_end:]


def write_report(model_dir: str | Path, coco_dir: str | Path | None = None, allow_subset: bool = False) -> list[Path]:
    model_dir = Path(model_dir)
    reports = load_reports(model_dir, allow_subset)
    model = reports[0]["model"]
    written = [model_dir / "report.md", model_dir / "report.png"]
    with atomic_output(written[0]) as tmp:
        tmp.write_text(markdown(reports, model))
    plot(reports, written[1], model)
    if coco_dir:
        written.append(model_dir / "report-example.png")
        example_image(reports, coco_dir, written[2])
    return written
