"""Commands of deployment: bundles, and predicting with one."""

from __future__ import annotations

import argparse
import json
from typing import Any

from poseforge.artifacts import DEFAULT_HEIGHT, HEIGHT_RANGE
from poseforge.cli.common import (
    HEIGHT,
    POSITIVE_INT,
    ROUNDS,
    SECONDS,
    THREADS,
    Command,
    add_allow_subset,
    add_coco,
    add_output,
    add_runtime,
    add_skip_bad,
    add_trust,
    coco_dir,
    number,
    wrote,
)
from poseforge.deploy import SAVE
from poseforge.errors import PoseforgeError
from poseforge.text import printable


def _bundle_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("ir", help="IR .xml: ir/fp32, ir/fp16 or ir/int8 (build/<model>/ir/<precision>/model.xml)")
    p.add_argument("--reports", required=True, help="folder with the IR's validate reports (build/<model>/reports)")
    add_output(p, "bundle to write (dist/<model>-<precision>.tar.gz)")
    add_allow_subset(p)
    p.add_argument("--allow-untrained", action="store_true",
                   help="bundle a random-init or untrained network (val AP below 0.01) anyway")  # fmt: skip
    p.add_argument("--sign", metavar="KEY", help="sign bundle.json with this private key (from `poseforge keygen`): "
                   "adds bundle.sig, which `--trust KEY.pub` checks")  # fmt: skip


def _bundle(args: argparse.Namespace) -> None:
    from pathlib import Path

    from poseforge.bundle.build import build_bundle

    manifest = build_bundle(args.ir, args.reports, args.output, args.allow_subset, args.allow_untrained, args.sign)
    wrote(args.output, f"{_described(manifest)}, {Path(args.output).stat().st_size / 1e6:.1f} MB"
          + (f", signed with {args.sign}" if args.sign else ", unsigned"))  # fmt: skip


def _described(manifest: dict[str, Any]) -> str:
    """A bundle in one line, led by the AP of what predict runs by default (native at the deploy height)."""
    from poseforge.bundle.manifest import measured_line

    measured, (height, width) = manifest["measured"], manifest["input"]["deploy_shape"]
    return (f"{manifest['model']} {manifest['precision']}, input u8 BGR NHWC [1,H,W,3] (deploy {height}x{width}): "
            f"{measured_line(measured, 'native', height, [height, width])}; "
            f"{measured['speed']['throughput_fps']:.1f} fps at {height}x{width} as measured on "
            f"{measured['artifact']}")  # fmt: skip


def _predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="bundle (.tar.gz from `poseforge bundle`)")
    p.add_argument("input", help="an image, a folder of images, a video file, a camera index (0) or a stream URL "
                   "(rtsp://, http://)")  # fmt: skip
    add_output(p, "folder to write (replaced only if it is an earlier predict output; default: the next free "
               "number under runs/predict/, printed)", required=False)  # fmt: skip
    p.add_argument("--save", choices=SAVE, default="drawn",
                   help="drawn: the input drawn (images as images, a video as an H.264 .mp4); poses: poses.json and "
                   "predict.json only, nothing drawn or encoded; video: the drawn frames as one .mp4 whatever the "
                   "input (default: drawn)")  # fmt: skip
    add_skip_bad(p)
    p.add_argument("--input-size", choices=("native", "letterbox"), default="native",
                   help="native: the frame's own aspect at the input height (--height); letterbox: the deploy "
                   "shape")  # fmt: skip
    p.add_argument("--height", type=HEIGHT, help=f"the native input's height: a multiple of 8 from {HEIGHT_RANGE[0]} "
                   f"to {HEIGHT_RANGE[1]} (default {DEFAULT_HEIGHT}, the bundle's deploy height); taller is more "
                   "accurate and slower: report.md's height table measures both")  # fmt: skip
    p.add_argument("--track", action="store_true", help="give each person an id that stays across video frames")
    p.add_argument("--smooth", action="store_true", help="One-Euro filter each tracked keypoint (implies --track)")
    p.add_argument("--tracker", action="append", default=[], metavar="KEY=VALUE",
                   help="set a tracker parameter (TrackerParams, see the README), e.g. min_hits=5 or "
                   "emit_unconfirmed=true (repeatable; implies --track)")  # fmt: skip
    p.add_argument("--min-score", type=number(float, 0, 1000), default=0.0,
                   help="drop people whose score (see predict.json) is below this")  # fmt: skip
    p.add_argument("--decoder", action="append", default=[], metavar="KEY=VALUE",
                   help="override a bundle decoder parameter, e.g. heatmap_threshold=0.2 (repeatable)")  # fmt: skip
    p.add_argument("--max-frames", type=POSITIVE_INT, help="stop after this many frames (a camera or stream)")
    add_trust(p)
    threads = ("a video's first frames measure all cores against one fewer, left to the Python stages, and the "
               "faster is kept; recorded in predict.json as runtime.thread_probe")  # fmt: skip
    add_runtime(p, seconds=None, threads=threads, auto=True)


def overrides(pairs: list[str], option: str) -> dict[str, Any]:
    """KEY=VALUE strings of `option` as parameters: numbers and true/false by their JSON spelling."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise PoseforgeError(f"{option} {_cut(pair)!r} is not KEY=VALUE")
        try:
            out[key] = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: brackets nested thousands deep
            raise PoseforgeError(f"{option} {_cut(pair)!r}: {_cut(text)!r} is not a number or true/false") from None
    return out


def _cut(text: str, keep: int = 40) -> str:
    """`text` as an error line shows it: its first `keep` characters."""
    return text if len(text) <= keep else f"{text[:keep]}..."


def _predict(args: argparse.Namespace) -> None:
    from poseforge.deploy.predict import predict, summary_line

    summary = predict(args.bundle, args.input, args.output, save=args.save, skip_bad=args.skip_bad,
                      max_frames=args.max_frames, device=args.device,
                      precision_hint=None if args.precision_hint == "default" else args.precision_hint,
                      threads=args.threads, input_size=args.input_size, input_height=args.height,
                      decoder=overrides(args.decoder, "--decoder"),
                      min_score=args.min_score, track=args.track or args.smooth or bool(args.tracker),
                      smooth=args.smooth, tracker=overrides(args.tracker, "--tracker"),
                      trusted_keys=args.trust)  # fmt: skip
    # The notice is the bundle's own text: escaped, it cannot print a line of ours (a forged "trust:").
    print(printable(f"bundle: {summary['measured']}"))
    print(printable(f"trust: {summary['trust']['summary']}"))
    if choice := summary["runtime"].get("precision_choice"):
        print(f"precision hint: {choice['hint'] or 'the device default'} ({choice['why']})")
    print(printable(f"licence: {summary['notice']}"))
    for note in summary["notes"]:
        print(printable(f"note: {note}"))
    print(printable(summary_line(summary)))


def _verify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="bundle (.tar.gz from `poseforge bundle`)")
    add_trust(p)


def _verify(args: argparse.Namespace) -> None:
    from poseforge.runtime.bundle_runner import read_bundle

    read = read_bundle(args.bundle, args.trust)
    manifest = read.manifest
    # The bundle's name and notice are text from outside: escaped, they cannot forge or hide a line.
    print(printable(f"verified {args.bundle}: {_described(manifest)}"))
    print(f"trust: {read.trust.describe()}")
    print(printable(f"licence: {manifest['source']['notice']}"))
    for name, entry in sorted(manifest["files"].items()):
        print(f"  {name}  {entry['bytes']} bytes  sha256:{entry['sha256']}")


def _keygen_arguments(p: argparse.ArgumentParser) -> None:
    add_output(p, "private key to write (mode 0600; its public key goes to OUTPUT.pub); never replaces a file")


def _keygen(args: argparse.Namespace) -> None:
    from poseforge.bundle.signature import generate_key

    public = generate_key(args.output)
    wrote(args.output, "Ed25519 private key: keep it secret, sign with `poseforge bundle --sign`")
    wrote(public.source, f"its public key {public.fingerprint}: give it to whoever runs your bundles (--trust)")


def _bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="bundle (.tar.gz), e.g. dist/<model>-int8.tar.gz")
    p.add_argument("--video", help="a 640x480 video (default: a clip panned over a 640x480 image of --coco)")
    add_coco(p, "COCO directory whose 640x480 image the default clip is made of")
    p.add_argument("--rounds", type=ROUNDS, help="interleaved rounds (default: 5, a median steady on a shared machine)")
    p.add_argument("--seconds", type=SECONDS, default=5.0, help="network-only throughput time per run")
    p.add_argument("--threads", type=THREADS, help="runtime threads of both the network alone and predict (default: "
                   "all cores for the network, predict's own measured choice)")  # fmt: skip
    add_output(p, "also write the figures as JSON", required=False)


def _bench(args: argparse.Namespace) -> None:
    import tempfile
    from pathlib import Path

    from poseforge.deploy.bench import DEFAULT_ROUNDS, measure_deploy, render_deploy, synthetic_clip
    from poseforge.fileio import write_json

    with tempfile.TemporaryDirectory(prefix="poseforge-clip-") as scratch:
        video = args.video or synthetic_clip(coco_dir(args) / "val2017", Path(scratch) / "clip-640x480.mp4")
        bench = measure_deploy(args.bundle, video, args.rounds or DEFAULT_ROUNDS, args.seconds, args.threads)
    render_deploy(bench)
    if args.output:
        write_json(args.output, bench)
        wrote(args.output)


def _bench_tracking_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="bundle (.tar.gz), e.g. dist/<model>-int8.tar.gz")
    add_coco(p, "COCO directory holding coco-val's photos, which the clips are made of")
    add_runtime(p, seconds=None, threads="a stream's own measured choice")
    add_output(p, "also write the figures as JSON", required=False)


def _bench_tracking(args: argparse.Namespace) -> None:
    from poseforge.deploy.bench_tracking import measure_tracking, render_tracking
    from poseforge.fileio import write_json

    hint = None if args.precision_hint == "default" else args.precision_hint
    bench = measure_tracking(args.bundle, coco_dir(args), hint, args.threads)
    render_tracking(bench)
    if args.output:
        write_json(args.output, bench)
        wrote(args.output)


COMMANDS = (
    Command("bundle", "deploy", "package an IR with its reports as a deployment bundle (.tar.gz)", _bundle_arguments,
            _bundle, "Write OUT.tar.gz holding model.xml/.bin (the IR taking u8 BGR NHWC [1,H,W,3] frames: type, "
            "layout and normalisation embedded with OpenVINO's PrePostProcessor) and bundle.json (schema in the "
            "README): specs, keypoint schema, decoder defaults, the AP (image set, people, interval) and speed of "
            "REPORTS/<artifact>-{val,deploy}.json (carried in the bundle as report-<protocol>.json), versions, source "
            "and licence, sha256 of every file; with --sign KEY, bundle.sig: an Ed25519 signature over bundle.json."),
    Command("keygen", "deploy", "make an Ed25519 key pair to sign bundles with", _keygen_arguments, _keygen,
            "Write a new Ed25519 private key to OUTPUT (PEM PKCS#8, unencrypted, mode 0600) and its public key to "
            "OUTPUT.pub (PEM). Neither replaces an existing file. `poseforge bundle --sign OUTPUT` signs with it; "
            "`predict`, `verify` and PoseEstimator(trusted_keys=...) check with OUTPUT.pub."),
    Command("verify", "deploy", "check a bundle without running it: framing, hashes, claims, signature",
            _verify_arguments, _verify, "Load BUNDLE as predict does, without compiling its network: the archive's "
            "framing, every file against its sha256, bundle.json against its network's metadata and graph and "
            "its measured figures against the reports it carries, and its signature (required with --trust). "
            "Prints its digest (the sha256 of bundle.json, which lists every file's), who signed it, its claims "
            "and files; exit 1 with one line on any refusal."),
    Command("predict", "deploy", "draw and write the poses a bundle finds in an image, a folder or a video",
            _predict_arguments, _predict, "Verify and load BUNDLE, feed every image or frame at its own aspect "
            "(or letterboxed), infer asynchronously (later frames in flight while earlier ones are decoded with the "
            "shared decoder), optionally track and smooth people, and write to OUT: the images or video (.mp4) "
            "with skeletons (and track ids) drawn (--save poses: none; --save video: one .mp4), poses.json (COCO "
            "keypoint results with track_id; image_id is the number a numeric file name holds, else the image's "
            "index in name order; for a video, the frame index) and predict.json (files, ids, per-stage timings, "
            "fps, settings, each track's first and last frame). Without -o, OUT is the next free number under "
            "runs/predict/. Needs only the base install (openvino, numpy, opencv; imageio-ffmpeg for H.264)."),
    Command("bench-deploy", "deploy", "a bundle end to end on a 640x480 video: native against letterboxed input",
            _bench_arguments, _bench, "In interleaved rounds: the network alone at the letterboxed deploy shape and "
            "at the clip's native shape, and predict end to end (read, prepare, infer, decode, draw, write) both "
            "ways; prints the ratios against their targets and where the time goes."),
    Command("bench-tracking", "deploy", "do tracks hold? a bundle tracking people in clips made from COCO photos",
            _bench_tracking_arguments, _bench_tracking, "Make four 640x480 clips from coco-val photos (a pan and a "
            "zoom over a crowded photo, two people walking past each other, a slideshow of three shots), run each "
            "through the bundle with tracking (the tracker's defaults, and the greedy tracker they replaced), score "
            "the tracks against the annotated people moved with the photo (distinct ids against people in view, "
            "share of poses in tracks of 30+ frames, id switches, ids across cuts) and judge the targets."),
)  # fmt: skip
