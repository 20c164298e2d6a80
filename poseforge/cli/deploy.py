"""Commands of deployment: bundles, and predicting with one."""

from __future__ import annotations

import argparse

from poseforge.cli.common import Command, add_allow_subset, add_output, add_runtime, add_skip_bad, runtime_options


def _bundle_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("ir", help="IR .xml: ir/fp32, ir/fp16 or ir/int8 (build/<model>/ir/<precision>/model.xml)")
    p.add_argument("--reports", required=True, help="folder with the IR's validate reports (build/<model>/reports)")
    add_output(p, "bundle to write (dist/<model>-<precision>.tar.gz)")
    add_allow_subset(p)
    p.add_argument("--allow-untrained", action="store_true",
                   help="bundle a random-init or untrained network (val AP below 0.01) anyway")  # fmt: skip


def _bundle(args: argparse.Namespace) -> None:
    from poseforge.bundle.build import bundle_command

    bundle_command(args.ir, args.reports, args.output, args.allow_subset, args.allow_untrained)


def _predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="bundle (.tar.gz from `poseforge bundle`)")
    p.add_argument("input", help="an image, a folder of images or a video file")
    add_output(p, "folder to write (replaced only if it is an earlier predict output)")
    add_skip_bad(p)
    add_runtime(p, seconds=None)


def _predict(args: argparse.Namespace) -> None:
    from poseforge.predict import predict, summary_line

    options = runtime_options(args, performance_hint="THROUGHPUT")
    summary = predict(args.bundle, args.input, args.output, options, args.skip_bad)
    print(summary_line(args.output, summary))


COMMANDS = (
    Command("bundle", "deploy", "package an IR with its reports as a deployment bundle (.tar.gz)", _bundle_arguments,
            _bundle, "Write OUT.tar.gz holding model.xml/.bin (the IR taking u8 BGR NHWC [1,H,W,3] frames: type, "
            "layout and normalisation embedded with OpenVINO's PrePostProcessor) and bundle.json (schema in the "
            "README): specs, keypoint schema, decoder defaults, the AP (image set, people, interval) and speed of "
            "REPORTS/<artifact>-{val,deploy}.json, versions, source and licence, sha256 of every file."),
    Command("predict", "deploy", "draw and write the poses a bundle finds in an image, a folder or a video",
            _predict_arguments, _predict, "Verify and load BUNDLE, letterbox every image or video frame to its "
            "deploy shape, infer asynchronously (later frames in flight while earlier ones are decoded with the "
            "shared decoder) and write to OUT: the images or video (.mp4) with skeletons drawn, poses.json (COCO "
            "keypoint results; image_id is the number a numeric file name holds, else the image's index in name "
            "order; for a video, the frame index) and predict.json (files, ids, fps). Needs only openvino, numpy "
            "and opencv."),
)  # fmt: skip
